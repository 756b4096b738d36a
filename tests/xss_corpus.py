"""Hostile text for the rendering tests: each payload leaves a trace if it ever runs
or injects markup, so a browser test can tell "shown as text" from "obeyed".

The traces: a call of ``window.__xss(id)`` (the test defines it to record hits), a
dialog (``alert``/``confirm``/``prompt``), an element or attribute carrying the
marker (``<xss-probe>``, ``data-xss``), an event-handler attribute, a
``javascript:``/``data:`` link, or template syntax evaluated (``{{7*7}}`` becoming
``49``: the payload would no longer be on the page verbatim).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    id: int
    kind: str
    text: str


# Within 200 characters each: a customer's name keeps at most that many.
_RAW: list[tuple[str, str]] = [
    # Tags
    ("tag", "<script>__xss({id})</script>"),
    ("tag", "<xss-probe data-xss={id}>probe {id}</xss-probe>"),
    ("tag", '<img src=x onerror="__xss({id})">'),
    ("tag", '<iframe srcdoc="<script>parent.__xss({id})</script>"></iframe>'),
    ("tag", '<body onload="__xss({id})">'),
    ("tag", '<style>*{background:url("javascript:__xss({id})")}</style><b data-xss={id}>b</b>'),
    ("tag", "</textarea><script>__xss({id})</script>"),
    ("tag", '</title><img src=x onerror=__xss({id}) data-xss="{id}">'),
    ("tag", "<scr<script>ipt>__xss({id})</scr</script>ipt>"),
    ("tag", '<object data="javascript:__xss({id})" data-xss={id}></object>'),
    ("tag", '<base href="javascript:__xss({id})//" data-xss={id}>'),
    ("tag", '<meta http-equiv="refresh" content="0;url=javascript:__xss({id})">'),
    # Event handlers
    ("event", '<div onmouseover="__xss({id})" data-xss={id} style="position:fixed;inset:0">hover</div>'),
    ("event", '<input autofocus onfocus="__xss({id})" data-xss={id}>'),
    ("event", '<details open ontoggle="__xss({id})" data-xss={id}>x</details>'),
    ("event", '<video><source onerror="__xss({id})"></video>'),
    ("event", '<marquee onstart="__xss({id})" data-xss={id}>m</marquee>'),
    # javascript: and data: URLs
    ("url", "javascript:__xss({id})"),
    ("url", '<a href="javascript:__xss({id})" data-xss={id}>click me {id}</a>'),
    ("url", '<a href="JaVaScRiPt:__xss({id})">mixed case {id}</a>'),
    ("url", '<a href="java&#x09;script:__xss({id})">entity tab {id}</a>'),
    ("url", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data {id}</a>'),
    ("url", "data:text/html,<script>__xss({id})</script>"),
    ("url", '<form action="javascript:__xss({id})" data-xss={id}><button>go {id}</button></form>'),
    # SVG and MathML
    ("svg", '<svg onload="__xss({id})" data-xss={id}></svg>'),
    ("svg", "<svg><script>__xss({id})</script></svg>"),
    ("svg", '<svg><a xlink:href="javascript:__xss({id})"><text y="20">svg link {id}</text></a></svg>'),
    ("svg", '<svg><animate onbegin="__xss({id})" attributeName="x" dur="1s"/></svg>'),
    ("svg", '<math><mtext><table><mglyph><style><img src=x onerror="__xss({id})">'),
    # Markdown link tricks
    ("markdown", "[click {id}](javascript:__xss({id}))"),
    ("markdown", "[data {id}](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("markdown", '![img {id}](x" onerror="__xss({id}))'),
    ("markdown", "[a {id}](javascript&#58;__xss({id}))"),
    ("markdown", "<javascript:__xss({id})>"),
    # Attribute breakouts
    ("attribute", "\"'><img src=x onerror=__xss({id}) data-xss={id}>"),
    ("attribute", "' onmouseover='__xss({id})' data-xss='{id}"),
    ("attribute", '" autofocus onfocus="__xss({id})" data-xss="{id}'),
    ("attribute", '"></option></select><img src=x onerror=__xss({id})>'),
    ("attribute", "</script><script>__xss({id})</script>"),
    ("attribute", '\\"};__xss({id});//'),
    # Template syntax (Django, Jinja, JS template literals, Angular, Vue)
    ("template", "{{7*7}} {id}"),
    ("template", "{% debug %} {% load static %} {id}"),
    ("template", "${__xss({id})} ${7*7}"),
    ("template", "{{constructor.constructor('__xss({id})')()}}"),
    ("template", "<div v-html=\"'<img src=x onerror=__xss({id})>'\" data-xss={id}></div>"),
    ("template", "#{__xss({id})} <%= 7*7 %> {id}"),
    # Right-to-left overrides and other invisible controls
    ("rtl", "\u202eftp.exe{id}\u202c <img src=x onerror=__xss({id})>"),
    ("rtl", "Invoice\u2066 {id} \u2069\u200f<svg onload=__xss({id})>"),
]

PAYLOADS: list[Payload] = [
    Payload(id=i, kind=kind, text=template.replace("{id}", str(i))) for i, (kind, template) in enumerate(_RAW, start=1)
]
KINDS = frozenset(p.kind for p in PAYLOADS)

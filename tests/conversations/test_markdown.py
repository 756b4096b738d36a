"""conversations.markdown: knowledge-base Markdown as HTML, and nothing hostile gets through."""

from html.parser import HTMLParser

import pytest

from conversations.markdown import markdown_html
from tests.xss_corpus import PAYLOADS

ALLOWED = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "ul", "ol", "li"} | {
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "a",
}
REL = "noopener noreferrer nofollow"


class _Elements(HTMLParser):
    """Every element of a fragment as (tag, attributes), in order."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict]]:
    return _Elements(html).found


def test_headings_paragraphs_and_emphasis():
    html = markdown_html("## Reset your password\n\nOpen **Settings**, then *Security* and `Reset`.")
    assert html == (
        "<h2>Reset your password</h2>\n"
        "<p>Open <strong>Settings</strong>, then <em>Security</em> and <code>Reset</code>.</p>\n"
    )


def test_lists_and_blockquotes_and_code_blocks():
    html = markdown_html("- one\n- two\n\n3. three\n4. four\n\n> quoted\n\n```\nx < y\n```")
    assert [tag for tag, _ in elements(html)] == ["ul", "li", "li", "ol", "li", "li", "blockquote", "p", "pre", "code"]
    assert '<ol start="3">' in html
    assert "x &lt; y" in html


def test_a_line_break_stays_one():
    assert markdown_html("Line one\nline two") == "<p>Line one<br>\nline two</p>\n"


@pytest.mark.parametrize("href", ["https://example.com/help?a=1&b=2", "http://example.com/", "mailto:help@example.com"])
def test_links_open_in_a_new_tab_without_the_referrer(href):
    [(tag, attrs)] = elements(markdown_html(f"[help]({href})"))[1:]
    assert tag == "a"
    assert attrs == {"href": href, "target": "_blank", "rel": REL}


@pytest.mark.parametrize(
    "text",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](javascript&#58;alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](vbscript:msgbox(1))",
        "<javascript:alert(1)>",
        "[click](/relative/path)",
        "[click](//evil.example/)",
    ],
)
def test_links_are_only_to_http_https_and_mailto(text):
    for tag, attrs in elements(markdown_html(text)):
        assert "href" not in attrs, (tag, attrs)


def test_raw_html_in_markdown_is_text():
    html = markdown_html('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">\n\n<b onclick=x>b</b>')
    assert [tag for tag, _ in elements(html)] == ["p", "p", "p"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html


def test_an_image_is_its_alt_text():
    html = markdown_html('![the <b>settings</b> page](https://tracker.example/p.gif "t") and text')
    assert html == "<p>the &lt;b&gt;settings&lt;/b&gt; page and text</p>\n"


def test_an_attribute_breakout_in_a_link_stays_in_its_attribute():
    [(_, attrs)] = elements(markdown_html('[x](https://e.com/"onmouseover="alert(1))'))[1:]
    assert set(attrs) == {"href", "target", "rel"}
    assert attrs["href"].startswith("https://e.com/")


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"{p.kind}-{p.id}" for p in PAYLOADS])
def test_the_xss_corpus_renders_only_safe_elements(payload):
    for tag, attrs in elements(markdown_html(payload.text)):
        assert tag in ALLOWED, payload.text
        assert not any(name.startswith("on") or name in ("style", "src", "srcdoc") for name in attrs), attrs
        href = attrs.get("href")
        assert href is None or href.split(":", 1)[0] in ("http", "https", "mailto"), href


@pytest.mark.parametrize("unit", ["[", "![", "*a", "<", "> ", "- ", "`", "[a]("])
def test_very_long_hostile_input_is_rendered_and_sanitised(unit):
    text = unit * (40_000 // len(unit))
    html = markdown_html(text)
    assert html
    assert {tag for tag, _ in elements(html)} <= ALLOWED

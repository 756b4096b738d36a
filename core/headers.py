"""Per-response exceptions to the site-wide security headers (settings "Security").

By default no page may be framed: CSP ``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``. The chat page is the one that embedding sites frame;
it passes its response through :func:`frame_ancestors` with their origins.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from csp.constants import SELF
from django.http import HttpResponseBase


def origin_checked(origin: str) -> str:
    """``origin`` as CSP wants it (``https://host[:port]``), or ValueError.

    Strict because the value goes into a header: a space, a ``;`` or a path
    would widen or break the policy instead of naming one site.
    """
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"not an origin: {origin!r}") from error
    host = parts.hostname or ""
    if (
        parts.scheme not in {"http", "https"}
        or not host
        or not all(c.isalnum() or c in ".-" for c in host)
        or parts.username is not None
        or parts.password is not None
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or origin.endswith("/")
    ):
        raise ValueError(f"not an origin: {origin!r}")
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def frame_ancestors(response: HttpResponseBase, origins: Iterable[str]) -> HttpResponseBase:
    """Let this one response be framed by this site and by ``origins``.

    The CSP directive is replaced through django-csp's per-response mechanism
    (what its ``csp_replace`` decorator sets), and X-Frame-Options is left off,
    since it cannot name a list of sites (CSP frame-ancestors wins in browsers
    that know both, and XFO DENY would still block the older ones).
    """
    allowed = [SELF, *dict.fromkeys(origin_checked(o) for o in origins)]
    replace = dict(getattr(response, "_csp_replace", None) or {})
    replace["frame-ancestors"] = allowed
    response._csp_replace = replace
    response.xframe_options_exempt = True
    return response

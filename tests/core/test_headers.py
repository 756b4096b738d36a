"""The security headers on every kind of response, and the one way to let a page be framed."""

import json

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path, reverse

from core.headers import frame_ancestors, origin_checked
from tests.helpdesk.test_settings import _manage

STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _directives(response) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    return {name: value for name, value in parts}


def _framed_view(request):
    return frame_ancestors(HttpResponse("framed"), ["https://shop.example", "https://help.example:8443"])


def _plain_view(request):
    return HttpResponse("plain")


urlpatterns = [path("framed/", _framed_view), path("plain/", _plain_view)]


def _assert_site_headers(response, *, document=True):
    assert _directives(response) == STRICT
    if document:  # WhiteNoise answers static files before Django's XFrameOptionsMiddleware
        assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy


@pytest.mark.django_db
def test_html_pages_json_endpoints_static_files_and_admin_all_carry_the_headers(agent_client, admin_user):
    admin = Client()
    admin.force_login(admin_user)
    responses = [
        Client().get(reverse("login")),
        agent_client.get(reverse("home")),
        agent_client.get(reverse("inbox")),
        agent_client.get(reverse("notifications"), HTTP_ACCEPT="application/json"),
        agent_client.get(reverse("routing-board"), HTTP_ACCEPT="application/json"),
        Client().get("/static/baton/app.css"),
        admin.get(reverse("admin:index")),
        admin.get(reverse("admin:knowledge_entry_add")),
        Client().get("/no-such-page/"),
    ]
    assert [r.status_code for r in responses] == [200] * 8 + [404]
    assert responses[3]["Content-Type"].startswith("application/json")
    json.loads(responses[3].content)
    for response in responses:
        _assert_site_headers(response, document=not response["Content-Type"].startswith("text/css"))


@pytest.mark.django_db
def test_the_chat_page_has_the_strict_policy_too(client):
    directives = _directives(client.get(reverse("chat")))
    assert {k: v for k, v in directives.items() if k != "frame-ancestors"} == {
        k: v for k, v in STRICT.items() if k != "frame-ancestors"
    }


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_httponly_and_same_site_lax(agent):
    client = Client()
    login = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests"})
    assert login.status_code == 302
    session = login.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    csrf = client.get(reverse("login")).cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"


@pytest.mark.urls(__name__)
def test_frame_ancestors_lets_only_that_response_be_framed_by_the_given_origins(db):
    framed = Client().get("/framed/")
    plain = Client().get("/plain/")
    assert _directives(framed)["frame-ancestors"] == "'self' https://shop.example https://help.example:8443"
    assert "X-Frame-Options" not in framed
    assert {k: v for k, v in _directives(framed).items() if k != "frame-ancestors"} == {
        k: v for k, v in STRICT.items() if k != "frame-ancestors"
    }
    _assert_site_headers(plain)  # the exception stays with that one response


def test_frame_ancestors_keeps_other_replacements_and_with_no_origins_allows_only_this_site():
    response = HttpResponse()
    response._csp_replace = {"img-src": ["'self'"]}
    frame_ancestors(response, [])
    assert response._csp_replace == {"img-src": ["'self'"], "frame-ancestors": ["'self'"]}
    assert response.xframe_options_exempt is True


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example; script-src *",
        "https://shop.example https://evil.example",
        "https://shop.example/page",
        "https://shop.example/",
        "https://shop.example?x=1",
        "https://user@shop.example",
        "https://shop.example:99999",
        "javascript:alert(1)",
        "*",
        "'none'",
        "shop.example",
        "",
    ],
)
def test_anything_but_a_plain_origin_is_refused(origin):
    with pytest.raises(ValueError, match="not an origin"):
        frame_ancestors(HttpResponse(), [origin])


def test_origins_are_written_as_csp_wants_them():
    assert origin_checked("HTTPS://Shop.Example:443") == "https://shop.example:443"
    assert origin_checked("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_in_production_the_headers_are_there_and_the_cookies_are_secure(tmp_path):
    show = """
import json
from django.test import Client
r = Client().get("/login/", secure=True, HTTP_HOST="support.example.com")
c = r.cookies["csrftoken"]
from django.conf import settings
print(json.dumps((r.status_code, dict(r.headers), c["secure"], c["samesite"], settings.SESSION_COOKIE_SECURE,
            settings.SESSION_COOKIE_HTTPONLY, settings.SESSION_COOKIE_SAMESITE)))
"""
    result = _manage(
        "shell",
        "-v",
        "0",
        "-c",
        show,
        BATON_PRODUCTION="1",
        SECRET_KEY="a-long-random-production-secret-" + "x7Gq2pLm9Zr4Tb8Wn1Kc5Hd3Fj6Vs0Ye",
        ALLOWED_HOSTS="support.example.com",
        BATON_SQLITE_PATH=str(tmp_path / "unused.sqlite3"),
    )
    assert result.returncode == 0, result.stderr
    status, headers, csrf_secure, csrf_samesite, *session = json.loads(result.stdout)
    assert status == 200
    assert csrf_secure is True
    assert csrf_samesite == "Lax"
    assert session == [True, True, "Lax"]
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    _assert_site_headers(HttpResponse(headers=headers))

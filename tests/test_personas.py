"""Who reaches what, over every URL the project has: the walk goes through Django's
resolver (the Django admin, analytics and every app), so a URL added later fails
here until it is classified below.

- anonymous visitors reach only the customer chat (page and endpoints), the login
  pages and the static assets (the embed script among them); everywhere else they
  are sent to a login page or refused (403/404). The home page is for the team:
  it needs a login too.
- signed-in agents (not staff) reach the inbox and the other agent pages, and are
  sent away from every staff-only page: the Django admin, the breach list and the
  all-conversations export of analytics.
- staff reach all of it.
"""

import re
from functools import partial

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone

from conversations.models import Conversation
from conversations.ws_urls import websocket_urlpatterns
from helpdesk.asgi import application
from tests.factories import ConversationFactory

PUBLIC = {
    "chat",
    "chat-session",
    "chat-send",
    "chat-history",
    "chat-upload",
    # The link is the key (signed for one viewer of one file); an agent's link also needs the sign-in.
    "attachment",
    "favicon",
    "login",
    "logout",
    "admin:login",
    "admin:logout",
}
# Signed-in agents; everything under the admin is staff-only unless listed in PUBLIC.
AGENT = {
    "home",
    "inbox",
    "inbox-list",
    "inbox-conversation",
    "inbox-reply",
    "inbox-attach",
    "inbox-resolve",
    "inbox-learn",
    "inbox-note",
    "inbox-mentions",
    "inbox-search",
    "canned-list",
    "canned-create",
    "canned-edit",
    "canned-delete",
    "canned-suggest",
    "sla-timers",
    "sla-priority",
    "notifications",
    "notifications-read",
    "routing-board",
    "routing-presence",
    "routing-heartbeat",
    "routing-take",
    "routing-transfer",
    "routing-decline",
    "analytics",
    "analytics-now",
    "analytics-time-zone",
}
STAFF = {"analytics-breaches", "analytics-export"}  # the export is walked with key=conversations (staff only)
ASSETS = ["/static/baton/chat.js", "/static/baton/embed.js", "/static/baton/app.css", "/static/baton/live.js"]


def _patterns(patterns=None, prefix="", namespace=""):
    """(name, pattern, prefix) of every URL pattern, through every include."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _patterns(p.url_patterns, prefix + str(p.pattern), ns)
        else:
            assert isinstance(p, URLPattern)
            yield (f"{namespace}{p.name}" if p.name else ""), p, prefix


def _persona_of(name: str, route: str) -> str:
    if name in PUBLIC:
        return "public"
    if name in AGENT:
        return "agent"
    if name in STAFF or route.startswith("admin/"):
        return "staff"
    raise AssertionError(f"{route!r} ({name or 'unnamed'}) is not classified in tests/test_personas.py")


def _sample(kwargs: dict, match: re.Match) -> str:
    return str(kwargs[match.group(1) or match.group(2)])


def _urls(samples: dict) -> list[tuple[str, str, str]]:
    """(persona, url, route) for every pattern, with sample values for its parameters."""
    found = []
    for name, pattern, prefix in _patterns():
        route = prefix + str(pattern.pattern)
        if isinstance(pattern.pattern, RegexPattern):
            params = list(pattern.pattern.regex.groupindex)
        else:
            params = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
        missing = [p for p in params if p not in samples]
        assert not missing, f"{route!r}: no sample value for {missing} in tests/test_personas.py"
        kwargs = {p: samples[p] for p in params}
        if name:
            url = reverse(name, kwargs=kwargs)
        else:  # unnamed: the admin's redirect to a change page, its catch-all
            url = "/" + re.sub(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)", partial(_sample, kwargs), route)
            url = url.replace("^", "").replace("$", "")
        found.append((_persona_of(name, route), url, route))
    return found


@pytest.fixture
def urls(agent, other_agent):
    # One id stands for every object (routing-decline's offer is then one nobody made).
    conversation = ConversationFactory(
        status=Conversation.Status.ASSIGNED, assigned_agent=agent, handed_off_at=timezone.now()
    )
    samples = {
        "pk": conversation.pk,
        "key": "conversations",
        "object_id": conversation.pk,
        "content_type_id": 1,
        "id": agent.pk,
        "app_label": "conversations",
        "url": "no-such-page/",
    }
    found = _urls(samples)
    assert {persona for persona, *_ in found} == {"public", "agent", "staff"}
    return found


def _sent_to_login(response) -> bool:
    return response.status_code == 302 and response["Location"].split("?")[0] in ("/login/", "/admin/login/")


def _let_in(response, route: str) -> bool:
    """Past the door: not sent to a login (logging out ends there, by design). The
    chat's endpoints may still say 403 to a visitor without a customer token."""
    return route.endswith("logout/") or not _sent_to_login(response)


def _reached(response, route: str) -> bool:
    """Answered by the page itself: let in, and not refused."""
    return _let_in(response, route) and response.status_code != 403


@pytest.mark.django_db
def test_anonymous_visitors_reach_only_the_chat_the_login_and_the_assets(client, urls):
    for persona, url, route in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if persona == "public":
                assert _let_in(response, route), (method, route, response.status_code)
            else:
                assert _sent_to_login(response) or response.status_code in (403, 404), (
                    method,
                    route,
                    response.status_code,
                )
    assert client.get(reverse("chat")).status_code == 200
    assert client.get(reverse("login")).status_code == 200
    for asset in ASSETS:
        assert client.get(asset).status_code == 200, asset


@pytest.mark.django_db
def test_agents_reach_the_inbox_and_are_kept_out_of_every_staff_page(agent_client, urls):
    for persona, url, route in urls:
        if route.endswith("logout/"):
            continue  # it would end the walk's session; the anonymous walk covers it
        for method in ("get", "post"):
            response = getattr(agent_client, method)(url)
            if persona == "staff":  # 405: a GET-only staff page, refusing the method first
                assert _sent_to_login(response) or response.status_code in (403, 405), (
                    method,
                    route,
                    response.status_code,
                )
            elif persona == "public":
                assert _let_in(response, route), (method, route, response.status_code)
            else:
                assert _reached(response, route), (method, route, response.status_code)
    assert agent_client.get(reverse("inbox")).status_code == 200
    assert agent_client.get(reverse("analytics")).status_code == 200


@pytest.mark.django_db
def test_staff_reach_the_admin_and_the_staff_pages(client, admin_user, urls):
    client.force_login(admin_user)
    for persona, url, route in urls:
        # The admin's autocomplete refuses (403) any request but one for a model's
        # autocomplete field, which Baton's admin has none of.
        if persona != "staff" or route == "admin/autocomplete/":
            continue
        response = client.get(url)
        assert _let_in(response, route), (route, response.status_code)
        # The admin index and lists and the staff reports themselves (an add page may be
        # 403 by design: timers, messages, bot turns are written by the services only).
        if "<" not in route and "(" not in route and not route.endswith("add/"):
            assert response.status_code in (200, 302), (route, response.status_code)  # 302: to /analytics/


@pytest.mark.django_db(transaction=True)
async def test_anonymous_sockets_are_refused_on_every_websocket_route():
    routes = [str(p.pattern) for p in websocket_urlpatterns]
    assert routes == ["ws/chat/", "ws/inbox/"], "classify the new socket here"
    conversation = await sync_to_async(ConversationFactory)()
    for route in routes:
        path = "/" + route.replace("<int:pk>", str(conversation.pk))
        communicator = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
        )
        connected, code = await communicator.connect()
        assert not connected and code == 4403, route

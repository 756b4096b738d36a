import json
import time
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations import services
from conversations.identity import customer_token_make, embed_user_hash
from conversations.models import Conversation, Customer, EmbedSite, Message
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory, UserFactory
from tests.sessions import session_open

pytestmark = pytest.mark.django_db


def _send(client, token, payload, *, raw=None):
    return client.post(
        reverse("chat-send"),
        data=raw if raw is not None else json.dumps(payload),
        content_type="application/json",
        headers={"X-Baton-Token": token} if token else {},
    )


def test_chat_page_writes_nothing_and_sets_no_cookie(client):
    for _ in range(3):  # a crawler, a prefetch, an embed that is never opened
        response = client.get(reverse("chat"))
        assert response.status_code == 200
    assert not response.cookies
    assert not Customer.objects.exists()


def test_a_session_without_a_token_is_a_new_visitor_with_no_row_until_they_write():
    response = session_open()
    assert response.status_code == 200
    data = response.json()
    assert data["history"] == [] and data["state"] is None and data["customer"] is None
    assert not Customer.objects.exists()
    again = session_open(token=data["token"]).json()
    assert again["session"] == data["session"]  # the same visitor, re-issued
    assert _send(Client(), again["token"], {"body": "first words"}).status_code == 201
    assert Customer.objects.count() == 1
    resumed = session_open(token=data["token"]).json()
    assert [m["body"] for m in resumed["history"]] == ["first words"]
    assert Customer.objects.count() == 1


def test_a_session_token_expires_after_the_idle_days_and_renews_while_used(settings):
    settings.BATON_SESSION_DAYS = 30
    with time_machine.travel("2026-01-01 12:00Z", tick=False) as traveller:
        token = session_open().json()["token"]
        _send(Client(), token, {"body": "hello"})
        traveller.shift(timedelta(days=29))
        renewed = session_open(token=token).json()  # used: renewed for 30 more days
        assert renewed["history"]
        traveller.shift(timedelta(days=29))
        assert session_open(token=renewed["token"]).json()["history"]
        assert _send(Client(), token, {"body": "stale"}).status_code == 403  # 58 days old
        traveller.shift(timedelta(days=31))
        expired = session_open(token=renewed["token"]).json()
        assert expired["history"] == [] and expired["session"] != renewed["session"]


@pytest.mark.parametrize("tamper", [lambda t: t[:-3] + "abc", lambda t: t + "x", lambda t: "x" + t])
def test_a_tampered_token_is_a_new_visitor_and_shows_nothing_of_the_old(customer, tamper):
    services.message_post_from_customer(customer=customer, body="private details")
    data = session_open(token=tamper(customer_token_make(customer_id=customer.pk))).json()
    assert data["history"] == [] and "private details" not in json.dumps(data)


def test_a_session_from_an_origin_that_may_not_embed_is_refused(customer):
    EmbedSite.objects.create(name="Acme", origin="https://acme.example")
    assert session_open(origin="https://acme.example").status_code == 200
    for origin in ("https://evil.example", "https://acme.example.evil.example", None, 7):
        response = session_open(origin=origin, token=customer_token_make(customer_id=customer.pk))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "origin_not_allowed"


def _jwt(secret, **claims):
    claims.setdefault("exp", int(time.time()) + 600)
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def site(db):
    return EmbedSite.objects.create(name="Acme", origin="https://acme.example")


def test_a_jwt_of_the_sites_secret_makes_a_verified_customer(site):
    token = _jwt(site.identity_secret, sub="u-1", name="Sam Site", email="sam@acme.example", traits={"segment": "vip"})
    response = session_open(origin=site.origin, identity={"jwt": token}, name="Mallory")
    assert response.status_code == 200
    assert response.json()["customer"] == {"name": "Sam Site", "verified": True}
    customer = Customer.objects.get(external_id="u-1")
    assert (customer.verified, customer.email, customer.segment) == (True, "sam@acme.example", "vip")
    # The visitor's own page cannot rename a verified customer.
    session_open(origin=site.origin, token=response.json()["token"], identity={"jwt": token}, name="Mallory")
    customer.refresh_from_db()
    assert customer.name == "Sam Site"


@pytest.mark.parametrize(
    "make",
    [
        lambda s: _jwt("another-sites-secret-of-32-bytes-or-more", sub="u-1"),
        lambda s: _jwt(s.identity_secret, sub="u-1", exp=int(time.time()) - 3600),  # expired
        lambda s: jwt.encode({"sub": "u-1"}, s.identity_secret, algorithm="HS256"),  # no exp
        lambda s: _jwt(s.identity_secret),  # no sub
        lambda s: _jwt(s.identity_secret, sub=""),
        lambda s: jwt.encode({"sub": "u-1", "exp": int(time.time()) + 60}, None, algorithm="none"),
        lambda s: _jwt(s.identity_secret, sub="u-1")[:-2] + "AA",  # tampered signature
        lambda s: "not.a.jwt",
        lambda s: 12,
    ],
)
def test_an_identity_that_does_not_verify_is_refused_with_a_reason(site, make):
    response = session_open(origin=site.origin, identity={"jwt": make(site)})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_refused"
    assert not Customer.objects.exists()


def test_a_site_that_requires_verification_refuses_anonymous_visitors(site):
    site.require_verification = True
    site.save()
    response = session_open(origin=site.origin)
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_required"
    assert session_open(origin=site.origin, identity={"jwt": _jwt(site.identity_secret, sub="u-2")}).status_code == 200


def test_a_verified_customers_token_without_the_verification_is_a_new_visitor(site):
    """The next person at the same browser, signed out of the site, must not see it."""
    first = session_open(origin=site.origin, identity={"jwt": _jwt(site.identity_secret, sub="u-1")}).json()
    _send(Client(), first["token"], {"body": "my account number is 42"})
    later = session_open(origin=site.origin, token=first["token"]).json()
    assert later["history"] == [] and later["customer"] is None and later["session"] != first["session"]


def test_a_jwt_is_refused_on_baton_own_origin():
    response = session_open(identity={"jwt": _jwt("whatever-secret-of-32-bytes-or-more", sub="u-1")})
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_refused"


def test_legacy_user_hash_verifies_only_with_a_valid_hash(settings):
    settings.BATON_EMBED_SECRET = "s3cret"
    good = {"user_id": "site-42", "name": "Sam", "user_hash": embed_user_hash("site-42")}
    assert session_open(identity=good).status_code == 200
    assert Customer.objects.filter(external_id="site-42", name="Sam", verified=True).exists()
    forged = {"user_id": "site-43", "user_hash": embed_user_hash("site-42")}
    assert session_open(identity=forged).status_code == 403
    assert not Customer.objects.filter(external_id="site-43").exists()


def test_an_unverified_name_is_stored_as_unverified_on_the_first_message():
    token = session_open(name="Eve\u202e the CEO").json()["token"]
    _send(Client(), token, {"body": "hi"})
    customer = Customer.objects.get()
    assert (customer.name, customer.verified) == ("Eve the CEO", False)


@pytest.mark.parametrize("raw", ["{not json", "[]", "x" * 20_000])
def test_a_malformed_session_request_is_a_clear_400(raw):
    response = Client().post(reverse("chat-session"), data=raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_a_visitors_refused_first_message_makes_no_customer():
    token = session_open().json()["token"]
    assert _send(Client(), token, {"body": " "}).status_code == 400
    assert not Customer.objects.exists()


def test_send_fallback_stores_the_message(customer, customer_token):
    response = _send(Client(), customer_token, {"body": "hello over http"})
    assert response.status_code == 201
    assert response.json()["message"]["body"] == "hello over http"
    assert Message.objects.filter(body="hello over http", conversation__customer=customer).exists()


@pytest.mark.parametrize(
    ("payload", "raw", "status", "code"),
    [
        ({"body": ""}, None, 400, "empty"),
        ({"body": "a" * 4001}, None, 400, "too_long"),
        (None, "{not json", 400, "bad_request"),
        (None, "[]", 400, "bad_request"),
    ],
)
def test_send_fallback_refuses_bad_input(customer_token, payload, raw, status, code):
    response = _send(Client(), customer_token, payload, raw=raw)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Message.objects.exists()


@pytest.mark.parametrize("token", [None, "", "garbage", "eyJjIjoxfQ:bad:signature"])
def test_send_fallback_needs_a_valid_token(token):
    response = _send(Client(), token, {"body": "hi"})
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_history_fallback_never_returns_another_customers_messages(customer_token, other_customer):
    theirs = services.message_post_from_customer(customer=other_customer, body="theirs")
    response = Client().get(
        reverse("chat-history"),
        {"conversation": theirs.conversation_id, "after_seq": 0},
        headers={"X-Baton-Token": customer_token},
    )
    assert response.status_code == 200
    assert response.json()["messages"] == []


def test_talk_to_a_person_over_http(customer, customer_token):
    response = _send(Client(), customer_token, {"handoff": True})
    assert response.status_code == 200
    assert response.json()["conversation"]["status"] == Conversation.Status.PENDING_HANDOFF


@pytest.mark.parametrize("name", ["inbox", "inbox-list"])
def test_inbox_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("query", ["view=nope", "open=abc", "open=-1", "open=1e3"])
def test_the_list_refuses_an_unknown_view_or_a_malformed_open_id(agent_client, query):
    assert agent_client.get(f"{reverse('inbox-list')}?{query}").status_code == 404


def test_the_list_marks_the_open_conversation_and_its_links_keep_the_tab(agent_client):
    shown, other = ConversationFactory(pending=True), ConversationFactory(pending=True)
    html = agent_client.get(f"{reverse('inbox-list')}?view=pending&open={shown.pk}").content.decode()
    assert f'<tr data-conversation="{shown.pk}" data-status="pending_handoff" class="open">' in html
    assert f'<tr data-conversation="{other.pk}" data-status="pending_handoff">' in html
    assert f'href="/inbox/c/{other.pk}/?view=pending"' in html
    # The tabs keep the open conversation open.
    assert f'href="/inbox/c/{shown.pk}/?view=mine"' in html


@pytest.mark.parametrize(
    ("status", "mine", "tab"),
    [
        (Conversation.Status.PENDING_HANDOFF, False, "pending"),
        (Conversation.Status.ASSIGNED, True, "mine"),
        (Conversation.Status.ASSIGNED, False, "open"),
        (Conversation.Status.RESOLVED, False, "resolved"),
    ],
)
def test_a_conversation_page_lists_the_tab_it_is_in(agent, agent_client, status, mine, tab):
    other = UserFactory(username="other-agent")
    conversation = ConversationFactory(
        status=status,
        assigned_agent=(agent if mine else other) if status == Conversation.Status.ASSIGNED else None,
        handed_off_at=timezone.now(),
    )
    response = agent_client.get(reverse("inbox-conversation", args=[conversation.pk]))
    assert response.context["view"] == tab
    assert response.context["open_id"] == conversation.pk
    assert agent_client.get(f"{reverse('inbox-conversation', args=[conversation.pk])}?view=x").status_code == 404


def test_conversation_page_requires_login_and_404s_unknown_ids(client, agent_client):
    conversation = ConversationFactory(pending=True)
    assert client.get(reverse("inbox-conversation", args=[conversation.pk])).status_code == 302
    assert agent_client.get(reverse("inbox-conversation", args=[conversation.pk + 999])).status_code == 404
    assert agent_client.post(reverse("routing-take", args=[conversation.pk + 999])).status_code == 404


def test_pending_view_lists_p1_first_then_oldest(agent_client):
    old_p3 = ConversationFactory(pending=True)
    new_p1 = ConversationFactory(pending=True, priority=1)
    newer_p3 = ConversationFactory(pending=True)
    ConversationFactory()  # with the bot: not in the queue
    response = agent_client.get(reverse("inbox"), {"view": "pending"})
    assert [c.pk for c in response.context["conversations"]] == [new_p1.pk, old_p3.pk, newer_p3.pk]
    tabs = {t["key"]: t["count"] for t in response.context["tabs"]}
    assert tabs == {"pending": 3, "mine": 0, "open": 3, "resolved": None}  # no count: see inbox_tabs


def test_unknown_inbox_view_is_a_404(agent_client):
    assert agent_client.get(reverse("inbox"), {"view": "everything"}).status_code == 404


def test_accept_reply_resolve_through_the_pages(agent, agent_client, customer):
    conversation = ConversationFactory(customer=customer, pending=True)
    response = agent_client.post(reverse("routing-take", args=[conversation.pk]))
    assert response.url == reverse("inbox-conversation", args=[conversation.pk])
    response = agent_client.post(
        reverse("inbox-reply", args=[conversation.pk]), {"body": "On it"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 201
    assert response.json()["message"]["author"] == "Alice"
    agent_client.post(reverse("inbox-resolve", args=[conversation.pk]))
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED


def test_losing_an_accept_race_is_explained(agent, other_agent, customer):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    bob = Client()
    bob.force_login(other_agent)
    response = bob.post(reverse("routing-take", args=[conversation.pk]), follow=True)
    assert "Alice already accepted this conversation." in response.content.decode()


def test_reply_from_an_agent_who_did_not_accept_is_forbidden(agent, other_agent, customer):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    bob = Client()
    bob.force_login(other_agent)
    response = bob.post(
        reverse("inbox-reply", args=[conversation.pk]), {"body": "hi"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 403
    assert not Message.objects.filter(body="hi").exists()


def test_the_list_shows_what_the_customer_last_said(agent_client, customer):
    services.message_post_from_customer(customer=customer, body="my invoice is wrong")
    services.customer_request_handoff(customer=customer)  # adds a system message after it
    response = agent_client.get(reverse("inbox"), {"view": "pending"})
    assert [c.last_body for c in response.context["conversations"]] == ["my invoice is wrong"]


def test_a_name_with_a_nul_byte_opens_the_chat_without_it():
    response = session_open(name="a\x00b")
    assert response.status_code == 200
    assert _send(Client(), response.json()["token"], {"body": "hi"}).status_code == 201
    assert Customer.objects.get().name == "ab"


def test_ids_too_large_for_the_database_are_a_404_or_a_400_not_a_500(agent_client, customer_token):
    huge = 10**22  # 23 digits: past SQLite's and PostgreSQL's integers
    assert agent_client.get(reverse("inbox-conversation", args=[huge])).status_code == 404
    for name in ("inbox-reply", "inbox-resolve", "inbox-learn", "routing-take", "sla-priority"):
        assert agent_client.post(reverse(name, args=[huge])).status_code == 404, name
    response = Client().get(
        reverse("chat-history"), {"conversation": huge, "after_seq": 0}, headers={"X-Baton-Token": customer_token}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_a_verified_page_load_that_changes_nothing_writes_nothing(site):
    token = _jwt(site.identity_secret, sub="u-9", name="Nia")
    session_open(origin=site.origin, identity={"jwt": token})
    customer = Customer.objects.get(external_id="u-9")
    session_open(origin=site.origin, identity={"jwt": token})
    customer.refresh_from_db()
    assert customer.name == "Nia"
    with CaptureQueriesContext(connection) as queries:
        session_open(origin=site.origin, identity={"jwt": token})
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]


def _transcript(conversation, agent, lines, *, handed_off_after=1):
    """Messages of ``conversation`` in order (the agent's by ``agent``), the handoff
    after the first ``handed_off_after``."""
    start = timezone.now() - timedelta(minutes=10)
    for seq, (sender, body) in enumerate(lines, start=1):
        with time_machine.travel(start + timedelta(seconds=seq), tick=False):
            author = agent if sender == "agent" else None
            MessageFactory(conversation=conversation, seq=seq, sender=sender, body=body, agent=author)
    conversation.handed_off_at = start + timedelta(seconds=handed_off_after, milliseconds=500)
    conversation.save(update_fields=["handed_off_at"])


def _learn_details(response) -> str:
    html = response.content.decode()
    return html[html.index('<details class="learn"') :].split(">", 1)[0]


def test_teach_the_bot_starts_closed_with_the_answer_and_the_question_it_answered(agent, agent_client):
    conversation = ConversationFactory(pending=True)
    _transcript(
        conversation,
        agent,
        [
            ("customer", "Can I change my delivery address?"),
            ("agent", "Hi Anna!"),
            ("agent", "Thanks, one moment"),
            ("customer", "Order 4411, it has not shipped yet"),
            ("agent", "Hi Anna, until it ships you can change the address under Account > Orders > Edit."),
            ("customer", "Great, thanks"),
            ("agent", "You're welcome, have a nice day"),
        ],
    )
    response = agent_client.get(reverse("inbox-conversation", args=[conversation.pk]))
    assert response.context["learn"] == {
        "question": "Order 4411, it has not shipped yet",
        "title": "Order 4411, it has not shipped yet",
        "body": "until it ships you can change the address under Account > Orders > Edit.",
    }
    assert "open" not in _learn_details(response).split()
    assert "until it ships you can change the address" in response.content.decode()


def test_teach_the_bot_without_a_real_answer_offers_the_handoff_question_and_no_reply(agent, agent_client):
    conversation = ConversationFactory(pending=True)
    _transcript(
        conversation,
        agent,
        [
            ("customer", "Why was I charged twice?"),
            ("agent", "Hallo Herr Müller!"),
            ("agent", "Could you send me the last four digits of the card, please?"),
        ],
    )
    response = agent_client.get(reverse("inbox-conversation", args=[conversation.pk]))
    assert response.context["learn"] == {
        "question": "Why was I charged twice?",
        "title": "Why was I charged twice",
        "body": "",
    }
    assert "open" not in _learn_details(response)


def _panel(response) -> str:
    """The customer panel's HTML, as the agent's page renders it."""
    page = response.content.decode()
    return page[page.index('<aside class="customer-panel"') : page.index("</aside>")]


def test_the_customer_panel_shows_who_it_is_their_past_conversations_and_what_the_bot_tried(agent, agent_client):
    customer = CustomerFactory(
        name="Vera Vip",
        verified=True,
        email="vera@example.com",
        segment="vip",
        language="de",
        attributes={"plan": "pro"},
    )
    earlier = ConversationFactory(customer=customer, status=Conversation.Status.RESOLVED)
    MessageFactory(conversation=earlier, seq=1)
    services.message_post_from_customer(customer=customer, body="Where is my parcel?")
    conversation = services.customer_request_handoff(customer=customer)
    ConversationFactory(customer=CustomerFactory(), status=Conversation.Status.RESOLVED)  # someone else's
    panel = _panel(agent_client.get(reverse("inbox-conversation", args=[conversation.pk])))
    assert "Vera Vip" in panel and ">Verified</span>" in panel
    assert "vera@example.com" in panel and 'data-testid="customer-segment">vip<' in panel
    assert "<dt>plan</dt><dd>pro</dd>" in panel
    assert panel.count('data-testid="past-conversation"') == 1
    assert f'href="{reverse("inbox-conversation", args=[earlier.pk])}">#{earlier.pk}</a>' in panel
    assert "Resolved by the bot" in panel and "1 message<" in panel
    assert "Customer asked for a person" in panel and "Where is my parcel?" in panel


def test_an_anonymous_visitor_has_a_panel_without_a_trail_or_history(agent_client):
    conversation = ConversationFactory(customer=CustomerFactory(name=""))
    panel = _panel(agent_client.get(reverse("inbox-conversation", args=[conversation.pk])))
    assert "Anonymous visitor" in panel and ">Unverified</span>" in panel
    assert "handoff-trail" not in panel and "past-conversation" not in panel


def test_hostile_attributes_appear_as_text(agent_client):
    hostile = '<script>alert("k")</script>'
    customer = CustomerFactory(attributes={hostile: hostile, "nested": {"x": "<img src=x onerror=alert(1)>"}})
    conversation = ConversationFactory(customer=customer)
    panel = _panel(agent_client.get(reverse("inbox-conversation", args=[conversation.pk])))
    assert "<script" not in panel and "<img" not in panel
    assert "<dt>&lt;script&gt;alert(&quot;k&quot;)&lt;/script&gt;</dt>" in panel
    assert "<dd>&lt;script&gt;alert(&quot;k&quot;)&lt;/script&gt;</dd>" in panel
    assert "&lt;img src=x onerror=alert(1)&gt;" in panel


def test_the_page_reads_the_panel_in_the_same_queries_however_long_the_history(agent, agent_client, customer):
    def page_queries(conversation) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_client.get(reverse("inbox-conversation", args=[conversation.pk])).status_code == 200
        return len(captured)

    first = ConversationFactory(customer=customer, status=Conversation.Status.RESOLVED)
    current = ConversationFactory(customer=customer, pending=True)
    page_queries(current)  # the session and the cached configuration read once
    few = page_queries(current)
    for _ in range(8):
        past = ConversationFactory(
            customer=customer, status=Conversation.Status.RESOLVED, assigned_agent=agent, handed_off_at=timezone.now()
        )
        MessageFactory.create_batch(3, conversation=past)
    MessageFactory(conversation=first)
    assert page_queries(current) == few

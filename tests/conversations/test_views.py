import json

import pytest
from django.test import Client
from django.urls import reverse

from conversations import services
from conversations.identity import customer_token_make, embed_user_hash
from conversations.models import Conversation, Customer, Message
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def _send(client, token, payload, *, raw=None):
    return client.post(
        reverse("chat-send"),
        data=raw if raw is not None else json.dumps(payload),
        content_type="application/json",
        headers={"X-Baton-Token": token} if token else {},
    )


def test_chat_page_starts_an_anonymous_customer_with_an_http_only_cookie(client, settings):
    response = client.get(reverse("chat"))
    assert response.status_code == 200
    cookie = response.cookies[settings.BATON_CUSTOMER_COOKIE]
    assert cookie["httponly"]
    assert Customer.objects.count() == 1
    # Reloading keeps the same customer.
    client.get(reverse("chat"))
    assert Customer.objects.count() == 1


def test_chat_page_can_be_framed_but_the_inbox_cannot(client, agent_client):
    assert "X-Frame-Options" not in client.get(reverse("chat"))
    assert agent_client.get(reverse("inbox"))["X-Frame-Options"] == "DENY"


def test_chat_page_shows_history_escaped(customer, customer_client):
    services.message_post_from_customer(customer=customer, body="<script>alert(1)</script>")
    html = customer_client.get(reverse("chat")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E" in html


def test_a_forged_cookie_starts_a_new_customer_and_shows_nothing_of_the_old(customer, client, settings):
    services.message_post_from_customer(customer=customer, body="private details")
    client.cookies[settings.BATON_CUSTOMER_COOKIE] = customer_token_make(customer_id=customer.pk) + "x"
    html = client.get(reverse("chat")).content.decode()
    assert "private details" not in html
    assert Customer.objects.count() == 2


def test_embed_user_id_is_used_only_with_a_valid_hash(client, settings):
    settings.BATON_EMBED_SECRET = "s3cret"
    good = embed_user_hash("site-42")
    client.get(reverse("chat"), {"user_id": "site-42", "name": "Sam", "user_hash": good})
    assert Customer.objects.filter(external_id="site-42", name="Sam").exists()
    other = Client()
    other.get(reverse("chat"), {"user_id": "site-43", "user_hash": good})
    assert not Customer.objects.filter(external_id="site-43").exists()


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


def test_a_name_with_a_nul_byte_opens_the_chat_without_it(client):
    response = client.get(reverse("chat"), {"name": "a\x00b"})
    assert response.status_code == 200
    assert Customer.objects.get().name == "ab"

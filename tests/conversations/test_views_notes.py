"""Internal notes over HTTP (conversations/views/notes.py) and on the conversation
page: for signed-in agents only, refused with a reason, escaped, never in the
customer's history."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from conversations import services
from conversations.models import Conversation, Note
from sla.models import Notification
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}
HOSTILE = '</script><script>alert(1)</script><img src=x onerror="alert(2)">'


def _post(client, conversation_id, data, headers=JSON):
    return client.post(reverse("inbox-note", args=[conversation_id]), data, headers=headers)


def test_notes_and_mention_suggestions_require_login(client):
    conversation = ConversationFactory()
    for response in (
        _post(client, conversation.pk, {"body": "hi"}),
        client.get(reverse("inbox-mentions"), {"q": "a"}),
    ):
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not Note.objects.exists()


def test_a_note_over_http_is_stored_and_answered_with_its_wire_form(agent, agent_client, other_agent):
    conversation = ConversationFactory(status=Conversation.Status.RESOLVED)
    response = _post(agent_client, conversation.pk, {"body": "@bob check the refund", "client_id": "h-1"})
    assert response.status_code == 201
    note = response.json()["note"]
    assert (note["body"], note["author"], note["client_id"]) == ("@bob check the refund", "Alice", "h-1")
    assert note["mentions"] == [{"id": other_agent.pk, "username": "bob", "name": "Bob"}]
    assert Notification.objects.get().user == other_agent
    # Sent again (the answer was lost): the same note.
    assert _post(agent_client, conversation.pk, {"body": "@bob check the refund", "client_id": "h-1"}).json() == {
        "note": note
    }
    assert Note.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [("", "empty"), ("  ", "empty"), (None, "empty"), ("x" * 4001, "too_long"), ("a\x00b", "bad_request")],
)
def test_a_note_that_cannot_be_stored_is_a_400_with_the_reason(agent_client, body, code):
    conversation = ConversationFactory()
    response = _post(agent_client, conversation.pk, {} if body is None else {"body": body})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Note.objects.exists()


def test_a_note_on_a_conversation_that_does_not_exist_is_a_404(agent_client):
    assert _post(agent_client, 987654, {"body": "hi"}).status_code == 404
    assert agent_client.get(reverse("inbox-note", args=[987654])).status_code == 405


def test_without_javascript_the_form_posts_and_comes_back_with_the_outcome(agent_client):
    conversation = ConversationFactory()
    page = reverse("inbox-conversation", args=[conversation.pk])
    response = _post(agent_client, conversation.pk, {"body": ""}, headers={})
    assert response.status_code == 302 and response.url == page
    assert "Please type a note first." in agent_client.get(page).content.decode()
    response = _post(agent_client, conversation.pk, {"body": "written without JS"}, headers={})
    assert response.status_code == 302 and Note.objects.get().body == "written without JS"


def test_the_conversation_page_carries_its_notes_escaped_and_a_note_box_even_when_resolved(agent, agent_client):
    conversation = ConversationFactory(status=Conversation.Status.RESOLVED)
    services.note_add(conversation_id=conversation.pk, author=agent, body=HOSTILE)
    html = agent_client.get(reverse("inbox-conversation", args=[conversation.pk])).content.decode()
    assert 'id="note-form"' in html and 'id="note-body"' in html
    assert HOSTILE not in html  # json_script escapes <, > and &
    data = html.split('<script id="notes-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    [note] = json.loads(data)
    assert note["body"] == HOSTILE and note["author"] == "Alice"


def test_the_customers_history_over_http_never_carries_notes(agent, customer, customer_token):
    message = services.message_post_from_customer(customer=customer, body="hello")
    services.note_add(conversation_id=message.conversation_id, author=agent, body="internal-only-words")
    response = Client().get(
        reverse("chat-history"),
        {"conversation": message.conversation_id, "after_seq": 0},
        headers={"X-Baton-Token": customer_token},
    )
    assert response.status_code == 200
    assert "hello" in response.content.decode() and "internal-only-words" not in response.content.decode()


def test_a_customer_token_cannot_write_a_note(customer, customer_token):
    conversation = ConversationFactory(customer=customer)
    response = Client().post(
        reverse("inbox-note", args=[conversation.pk]), {"body": "forged"}, headers={"X-Baton-Token": customer_token}
    )
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not Note.objects.exists()


def test_mention_suggestions_list_active_agents_by_the_letters_typed(agent_client, other_agent):
    bobby = UserFactory(username="bobby", first_name="Roberta")
    UserFactory(username="bobo", first_name="Bobo", is_active=False)
    response = agent_client.get(reverse("inbox-mentions"), {"q": "bo"})
    assert response.json() == {
        "agents": [
            {"id": other_agent.pk, "username": "bob", "name": "Bob"},
            {"id": bobby.pk, "username": "bobby", "name": "Roberta"},
        ]
    }
    assert agent_client.get(reverse("inbox-mentions"), {"q": "<script>"}).json() == {"agents": []}

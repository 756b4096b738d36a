"""conversations.broadcast: the wire form of messages and notes, and where notes go."""

import pytest

from conversations import services
from conversations.broadcast import customer_group, message_payload
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

MARKDOWN = "## Reset\n\n- Open [Settings](https://example.com/settings)\n- <script>alert(1)</script>"


def test_a_bot_answer_carries_its_markdown_rendered_and_sanitised():
    message = MessageFactory(sender=Message.Sender.BOT, body=MARKDOWN, confidence=0.9, sources=[])
    payload = message_payload(message)
    assert payload["body"] == MARKDOWN
    assert payload["body_html"] == (
        "<h2>Reset</h2>\n<ul>\n"
        '<li>Open <a href="https://example.com/settings" target="_blank" rel="noopener noreferrer nofollow">'
        "Settings</a></li>\n"
        "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>\n</ul>\n"
    )


@pytest.mark.parametrize("sender", [Message.Sender.CUSTOMER, Message.Sender.AGENT, Message.Sender.SYSTEM])
def test_everyone_elses_words_stay_plain_text(sender):
    conversation = ConversationFactory()
    agent = UserFactory() if sender == Message.Sender.AGENT else None
    payload = message_payload(MessageFactory(conversation=conversation, sender=sender, agent=agent, body=MARKDOWN))
    assert payload["body"] == MARKDOWN
    assert "body_html" not in payload


def test_a_note_goes_to_the_agents_watching_its_conversation_only(
    agent, other_agent, django_capture_on_commit_callbacks, layer_listener
):
    conversation = ConversationFactory()
    customers, watchers = customer_group(conversation.customer_id), f"conversation.{conversation.pk}"
    channels = layer_listener.listen(customers, watchers, "inbox")
    with django_capture_on_commit_callbacks(execute=True):
        note = services.note_add(conversation_id=conversation.pk, author=agent, body="@bob <b>careful</b>")
    [event] = layer_listener.receive(channels[watchers], 1)
    assert event == {
        "type": "conversation.note",
        "note": {
            "id": note.pk,
            "conversation": conversation.pk,
            "author": "Alice",
            "author_id": agent.pk,
            "body": "@bob <b>careful</b>",
            "after_seq": 0,
            "mentions": [{"id": other_agent.pk, "username": "bob", "name": "Bob"}],
            "client_id": "",
            "created_at": note.created_at.isoformat(),
        },
    }
    assert layer_listener.nothing_for(channels["inbox"], 0.2)  # not the list's either
    # A message sent after it reaches the customer first: the note never went their way.
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post_from_customer(customer=conversation.customer, body="hello?")
    [first] = layer_listener.receive(channels[customers], 1)
    assert first["type"] == "conversation.message" and first["message"]["body"] == "hello?"

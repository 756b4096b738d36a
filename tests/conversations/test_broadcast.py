"""conversations.broadcast: the wire form of messages."""

import pytest

from conversations.broadcast import message_payload
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

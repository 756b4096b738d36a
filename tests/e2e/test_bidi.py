"""Right-to-left text and direction overrides stay inside what they belong to: a
knowledge-base title with U+202E cannot reverse the rest of the agent's sources
line, and a message's direction is its own (``dir="auto"``)."""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.e2e.test_handoff_flow import _login
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.e2e

TITLES = ["Refunds \u202etxet desrever", "Invoices"]
SHOWN = "() => [...document.querySelectorAll('[data-testid=msg-bot] .bot-meta bdi')].map((b) => b.textContent)"


def test_an_override_in_a_source_title_stays_in_that_title(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    conversation = ConversationFactory(status=Conversation.Status.BOT, last_seq=2)
    MessageFactory(conversation=conversation, seq=1, body="\u0645\u0631\u062d\u0628\u0627 refund?")  # Arabic first
    MessageFactory(
        conversation=conversation,
        seq=2,
        sender="bot",
        body="See the refund policy.",
        confidence=0.42,
        sources=[{"id": "a", "title": TITLES[0], "score": 0.42}, {"id": "b", "title": TITLES[1], "score": 0.3}],
    )
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    meta = page.locator("[data-testid=msg-bot] .bot-meta")
    expect(meta).to_contain_text("(0.30)")
    # Each title in its own isolate; the separators and scores outside them.
    assert page.evaluate(SHOWN) == TITLES
    assert meta.evaluate("(m) => [...m.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent)") == [
        "confidence 0.42 · sources: ",
        " (0.42)",
        ", ",
        " (0.30)",
    ]
    directions = page.evaluate("() => [...document.querySelectorAll('#messages .msg .body')].map((b) => b.dir)")
    assert directions == ["auto", "auto"]

"""The customer panel on the agent's conversation page: who the customer is, what
the embedding site said of them, their earlier conversations and the bot turns
that led to the handoff; a right-hand column on desktop, below the header on a phone."""

import pytest
from django.db.models import F
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Message
from tests.e2e.test_a11y import _assert_clean
from tests.e2e.test_handoff_flow import _login
from tests.e2e.threads import in_a_thread
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.e2e


def _handed_off_after_two_weak_answers(customer) -> Conversation:
    conversation = ConversationFactory(customer=customer)
    turns = [
        ("customer", "Can I move my plan to annual billing?", None),
        ("bot", "Plans can be changed in Settings.", 0.38),
        ("customer", "I mean the billing period, not the plan", None),
        ("bot", "Invoices are sent monthly.", 0.27),
    ]
    for seq, (sender, body, confidence) in enumerate(turns, start=1):
        MessageFactory(conversation=conversation, seq=seq, sender=sender, body=body, confidence=confidence)
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=F("last_seq") + len(turns))
    services.conversation_handoff(
        conversation=conversation, reason=Conversation.HandoffReason.LOW_CONFIDENCE, confidence=0.27
    )
    return conversation


@pytest.fixture
def handed_off(transactional_db):
    UserFactory(username="alice", first_name="Alice")
    customer = CustomerFactory(
        name="Vera Vip",
        verified=True,
        email="vera@example.com",
        segment="vip",
        language="de",
        attributes={"plan": "enterprise", "seats": 40, "flags": {"beta": True}},
    )
    earlier = ConversationFactory(customer=customer, status=Conversation.Status.RESOLVED)
    MessageFactory(conversation=earlier, seq=1, body="Hello")
    MessageFactory(conversation=earlier, seq=2, sender=Message.Sender.BOT, body="Hi!", confidence=0.9)
    return earlier, _handed_off_after_two_weak_answers(customer)


def test_the_panel_shows_the_customer_their_history_and_what_the_bot_tried(live_url, browser, handed_off):
    earlier, conversation = handed_off
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    panel = page.get_by_role("complementary", name="Vera Vip")
    expect(panel.get_by_test_id("identity")).to_have_text("Verified")
    expect(panel.get_by_test_id("customer-email")).to_have_text("vera@example.com")
    expect(panel.get_by_test_id("customer-segment")).to_have_text("vip")
    expect(panel.get_by_test_id("customer-language")).to_have_text("de")
    expect(panel.get_by_test_id("customer-attributes").locator("dt")).to_have_text(["flags", "plan", "seats"])
    expect(panel.get_by_test_id("customer-attributes").locator("dd")).to_have_text(
        ['{"beta":true}', "enterprise", "40"]
    )

    past = panel.get_by_test_id("past-conversation")
    expect(past).to_have_count(1)
    expect(past).to_contain_text("Resolved by the bot")
    expect(past).to_contain_text("2 messages")
    expect(past.locator("time")).to_have_attribute("datetime", earlier.created_at.isoformat())

    expect(panel.get_by_test_id("trail-reason")).to_have_text("Bot not confident (confidence 0.27)")
    expect(panel.get_by_test_id("trail-question")).to_have_count(2)
    expect(panel.get_by_test_id("trail-answer")).to_have_text(
        [
            "Bot · confidence 0.38 Plans can be changed in Settings.",
            "Bot · confidence 0.27 Invoices are sent monthly.",
        ]
    )
    # Desktop: a column to the right of the thread.
    thread, aside = page.locator("#messages").bounding_box(), panel.bounding_box()
    assert aside["x"] >= thread["x"] + thread["width"]
    assert aside["y"] < thread["y"] + thread["height"]
    _assert_clean(page)

    past.get_by_role("link", name=f"#{earlier.pk}").click()
    expect(page).to_have_url(f"{live_url}/inbox/c/{earlier.pk}/")
    expect(page.get_by_test_id("past-conversation")).to_contain_text("Handed off (Bot not confident)")


def test_on_a_phone_the_panel_is_below_the_header_above_the_thread(live_url, browser, handed_off):
    _, conversation = handed_off
    page = browser.new_context(viewport={"width": 375, "height": 800}).new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    header = page.locator(".conversation-header").bounding_box()
    aside = page.get_by_test_id("customer-panel").bounding_box()
    thread = page.locator("#messages").bounding_box()
    assert aside["y"] >= header["y"] + header["height"]
    assert thread["y"] >= aside["y"] + aside["height"]
    assert aside["width"] > 300  # the page's width, not a squeezed column
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    _assert_clean(page)


def test_the_panel_follows_a_handoff_while_the_conversation_is_open(live_url, browser):
    """An agent reading a chat the bot still has sees why it was handed off, without a reload."""
    UserFactory(username="alice", first_name="Alice")
    customer = CustomerFactory(name="Hana Live")
    conversation = ConversationFactory(customer=customer, last_seq=1)
    MessageFactory(conversation=conversation, seq=1, body="Can I change the delivery address?")
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    expect(page.locator("#conversation")).to_have_attribute("data-synced", "true")
    page.evaluate("window.samePanelDocument = true")
    panel = page.get_by_test_id("customer-panel")
    expect(panel.get_by_test_id("trail-reason")).to_have_count(0)

    in_a_thread(lambda: services.customer_request_handoff(customer=customer))
    expect(panel.get_by_test_id("trail-reason")).to_have_text("Customer asked for a person")
    assert page.evaluate("window.samePanelDocument") is True  # swapped in place, not reloaded

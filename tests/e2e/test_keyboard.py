"""Keyboard first (static/baton/keys.js): a conversation handled from the inbox to
resolved without the mouse, the shortcuts overlay, and j/k across pages."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Message
from tests.e2e.test_handoff_flow import _login
from tests.e2e.threads import in_a_thread
from tests.factories import ConversationFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e

ROWS = "#inbox-rows tr[data-conversation]"
SELECTED = "#inbox-rows tr[aria-current=true]"


def _keys_ready(page):
    """keys.js has run on this page: it draws the overlay's button."""
    expect(page.get_by_test_id("keys-open")).to_be_visible()


def _two_pending():
    now = timezone.now()
    first = ConversationFactory(
        pending=True, customer=CustomerFactory(name="Fay First"), handed_off_at=now - timedelta(minutes=2)
    )
    second = ConversationFactory(
        pending=True, customer=CustomerFactory(name="Sam Second"), handed_off_at=now - timedelta(minutes=1)
    )
    return first, second


def test_a_conversation_handled_by_keyboard_alone(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    first, second = _two_pending()
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    _keys_ready(page)
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(SELECTED)).to_have_count(0)

    page.keyboard.press("j")
    expect(page.locator(SELECTED)).to_have_attribute("data-conversation", str(first.pk))
    page.keyboard.press("j")
    expect(page.locator(SELECTED)).to_have_attribute("data-conversation", str(second.pk))
    page.keyboard.press("k")
    expect(page.locator(SELECTED)).to_have_attribute("data-conversation", str(first.pk))
    expect(page.locator(SELECTED)).to_have_count(1)

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_url}/inbox/c/{first.pk}/?view=pending")
    expect(page.get_by_test_id("accept")).to_be_visible()
    _keys_ready(page)
    page.keyboard.press("a")  # the accept form posts; the page comes back with the reply box
    reply = page.get_by_label("Reply")
    expect(reply).to_be_visible()
    _keys_ready(page)
    first.refresh_from_db()
    assert first.status == Conversation.Status.ASSIGNED

    # r focuses the reply box; j and k typed there are text, not navigation.
    page.keyboard.press("r")
    expect(reply).to_be_focused()
    page.keyboard.type("just a quick check")
    expect(reply).to_have_value("just a quick check")
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=msg-agent]")).to_contain_text("just a quick check")
    expect(page).to_have_url(f"{live_url}/inbox/c/{first.pk}/")
    assert Message.objects.filter(conversation=first, sender=Message.Sender.AGENT, body="just a quick check").exists()
    page.keyboard.press("Escape")
    expect(reply).not_to_be_focused()

    expect(page.locator("#sla-panel").get_by_test_id("priority-select")).to_be_visible()
    page.keyboard.press("2")
    expect(page.get_by_test_id("conversation-meta").locator(".prio")).to_have_text("P2")

    # ? lists every key, in a dialog Escape closes; the button opens it too.
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_be_visible()
    for key in ("j", "k", "a", "e", "r", "Escape", "1", "4", "/", "?"):
        expect(overlay.locator("kbd", has_text=re.compile(f"^{re.escape(key)}$"))).to_have_count(1)
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    page.get_by_role("button", name="Keyboard shortcuts (?)").click()
    expect(overlay).to_be_visible()
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    # e asks first: Escape keeps the conversation open, Enter resolves it.
    page.keyboard.press("e")
    question = page.get_by_role("dialog", name="Resolve?")
    expect(question).to_be_visible()
    page.keyboard.press("Escape")
    expect(question).to_be_hidden()
    first.refresh_from_db()
    assert first.status == Conversation.Status.ASSIGNED
    page.keyboard.press("e")
    expect(question).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    first.refresh_from_db()
    assert first.status == Conversation.Status.RESOLVED
    assert first.priority == 2


def test_j_and_k_follow_the_inbox_tab_and_the_selection_outlives_a_live_render(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    first, second = _two_pending()
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    _keys_ready(page)
    expect(page.locator(ROWS)).to_have_count(2)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(SELECTED)).to_have_attribute("data-conversation", str(second.pk))

    # A new handoff re-renders the rows: the same conversation stays selected.
    in_a_thread(lambda: services.customer_request_handoff(customer=CustomerFactory(name="Nia New")))
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator(SELECTED)).to_have_attribute("data-conversation", str(second.pk))
    expect(page.locator(SELECTED)).to_have_count(1)

    # On a conversation page, j and k open the neighbours in the Pending list it came from.
    page.keyboard.press("k")
    page.keyboard.press("o")
    expect(page).to_have_url(f"{live_url}/inbox/c/{first.pk}/?view=pending")
    _keys_ready(page)
    page.keyboard.press("j")
    expect(page).to_have_url(f"{live_url}/inbox/c/{second.pk}/?view=pending")
    _keys_ready(page)
    page.keyboard.press("k")
    expect(page).to_have_url(f"{live_url}/inbox/c/{first.pk}/?view=pending")


def test_a_on_the_inbox_accepts_the_selected_conversation(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    first, second = _two_pending()
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    _keys_ready(page)
    expect(page.locator(ROWS)).to_have_count(2)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(SELECTED)).to_have_attribute("data-conversation", str(second.pk))
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(rf"/inbox/c/{second.pk}/"))
    expect(page.get_by_label("Reply")).to_be_visible()
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.status, second.assigned_agent.username) == (Conversation.Status.ASSIGNED, "alice")
    assert first.status == Conversation.Status.PENDING_HANDOFF

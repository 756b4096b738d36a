"""Internal notes in the browser (static/baton/notes.js): Alice writes one that
mentions Bob, picked from the @ list; Bob's open inbox rings (bell count and a toast
to the conversation), his view of the conversation shows the note and hears the
next one live; the customer's chat never shows either, live or after a reload."""

import pytest
from playwright.sync_api import expect

from conversations import services
from tests.e2e.test_handoff_flow import _login
from tests.e2e.test_xss import open_chat_as
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e

SECRET = "VIP, refund approved internally"
# The inbox list shows no connection state: the page marks when its socket opened
# (the server joins the agent's groups before it accepts).
MARK_SOCKET_OPEN = """
window.socketOpen = false;
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("open", () => { window.socketOpen = true; });
  }
};
"""


def _live(page):
    """The conversation page is watching its conversation and has caught up."""
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#conversation")).to_have_attribute("data-synced", "true")


def test_a_note_with_a_mention_rings_bob_shows_to_agents_and_never_to_the_customer(live_url, browser, artifacts):
    alice = UserFactory(username="alice", first_name="Alice")
    UserFactory(username="bob", first_name="Bob")
    UserFactory(username="bobby", first_name="Roberta")
    customer = CustomerFactory(name="Dana")
    conversation = services.customer_request_handoff(customer=customer)
    services.conversation_accept(conversation_id=conversation.pk, agent=alice)
    services.message_post_from_customer(customer=customer, body="My invoice is wrong")
    url = f"{live_url}/inbox/c/{conversation.pk}/"

    chat = browser.new_context().new_page()
    open_chat_as(chat, live_url, customer)
    expect(chat.get_by_text("My invoice is wrong")).to_be_visible()

    bob_context = browser.new_context()
    bob_context.add_init_script(MARK_SOCKET_OPEN)
    bob = bob_context.new_page()
    _login(bob, live_url, "bob")
    bob.wait_for_function("() => window.socketOpen")
    expect(bob.get_by_test_id("bell-count")).to_be_hidden()

    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(url)
    _live(page)
    box = page.get_by_test_id("note-body")
    box.press_sequentially(f"{SECRET}, @bo")
    options = page.get_by_test_id("mention-option")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("@bob")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")  # picks @bob; does not send yet
    expect(box).to_have_value(f"{SECRET}, @bob ")
    expect(page.get_by_test_id("mention-suggestions")).to_be_hidden()
    box.press_sequentially("please check")
    box.press("Enter")

    note = page.get_by_test_id("note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Internal note")
    expect(note).to_contain_text("Alice")
    expect(note).to_contain_text(f"{SECRET}, @bob please check")
    expect(note.locator(".mention")).to_have_text("@bob")
    expect(box).to_have_value("")
    # In the thread after the message it followed.
    expect(page.locator("#messages > li").last).to_have_attribute("data-testid", "note")
    page.screenshot(path=artifacts / "notes-conversation.png")

    # Bob's inbox rings live: the bell counts it and a toast links to the conversation.
    expect(bob.get_by_test_id("bell-count")).to_have_text("1")
    toast = bob.locator("#toasts a.toast-mention")
    expect(toast).to_contain_text(f"Alice mentioned you on conversation #{conversation.pk}")
    expect(toast).to_have_attribute("href", f"/inbox/c/{conversation.pk}/")
    toast.click()
    expect(bob).to_have_url(url)
    _live(bob)
    expect(bob.get_by_test_id("note")).to_contain_text(SECRET)

    # The next note reaches Bob's open conversation live, after the first.
    page.get_by_test_id("note-body").fill("Second thought: call her")
    page.get_by_test_id("note-add").click()
    expect(bob.get_by_test_id("note")).to_have_count(2)
    expect(bob.get_by_test_id("note").last).to_contain_text("Second thought: call her")

    # The customer hears Alice's reply, sent after both notes, and neither note.
    page.get_by_label("Reply").fill("We are on it, Dana.")
    page.get_by_label("Reply").press("Enter")
    expect(chat.get_by_text("We are on it, Dana.")).to_be_visible()
    assert SECRET not in chat.content() and "Second thought" not in chat.content()
    chat.reload()
    expect(chat.get_by_text("We are on it, Dana.")).to_be_visible()
    expect(chat.get_by_text("My invoice is wrong")).to_be_visible()
    assert SECRET not in chat.content() and "Second thought" not in chat.content()

    # Alice's own reload draws both notes in place, from the page's data.
    page.reload()
    expect(page.get_by_test_id("note")).to_have_count(2)
    expect(page.locator("#messages > li").last).to_contain_text("We are on it, Dana.")


def test_an_empty_note_is_refused_on_the_page_and_nothing_is_sent(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    conversation = services.customer_request_handoff(customer=CustomerFactory())
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    _live(page)
    page.get_by_test_id("note-body").fill("   ")
    page.get_by_test_id("note-body").press("Enter")
    expect(page.get_by_test_id("note-error")).to_have_text("Please type a note first.")
    expect(page.get_by_test_id("note")).to_have_count(0)
    # A note on a conversation still waiting for an agent is fine, and changes nothing.
    page.get_by_test_id("note-body").fill("Waiting on billing")
    page.get_by_test_id("note-body").press("Enter")
    expect(page.get_by_test_id("note")).to_contain_text("Waiting on billing")
    expect(page.get_by_test_id("note-error")).to_be_hidden()
    expect(page.get_by_test_id("accept")).to_be_visible()

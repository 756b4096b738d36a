"""The agent's conversation page (static/baton/conversation.js, hub.js): one socket
for every part of the page, no reload when who may act changes, and a half-written
reply that outlives a reload."""

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Message
from tests.e2e.test_handoff_flow import _login
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e


# Every socket a document opens, counted by the document itself.
COUNT_SOCKETS = """
window.socketsOpened = [];
window.WebSocket = class extends window.WebSocket {
  constructor(url, ...rest) {
    super(url, ...rest);
    window.socketsOpened.push(new URL(url, location.href).pathname);
  }
};
"""


def _open(page, live_url, conversation):
    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    # Watched and synced: the socket being open is not enough, events reach the page
    # once the server has put it in the conversation's group.
    expect(page.locator("#conversation")).to_have_attribute("data-synced", "true")
    # Marked on this document: a reload would lose it.
    page.evaluate("window.sameDocument = true")


def test_every_part_of_the_page_shares_one_socket_and_a_change_of_hands_swaps_parts_not_the_page(live_url, browser):
    alice = UserFactory(username="alice", first_name="Alice")
    UserFactory(username="bob", first_name="Bob")  # someone to transfer to
    customer = CustomerFactory(name="Dana")
    conversation = services.customer_request_handoff(customer=customer)
    context = browser.new_context()
    context.add_init_script(COUNT_SOCKETS)
    page = context.new_page()
    _login(page, live_url, "alice")
    _open(page, live_url, conversation)
    expect(page.get_by_test_id("accept")).to_be_visible()
    expect(page.get_by_label("Reply")).to_have_count(0)

    # Accepted elsewhere (an offer in another tab): the page becomes the agent's own.
    services.conversation_accept(conversation_id=conversation.pk, agent=alice)
    expect(page.get_by_label("Reply")).to_be_visible()
    expect(page.get_by_test_id("accept")).to_have_count(0)
    expect(page.get_by_test_id("resolve")).to_be_visible()
    expect(page.get_by_test_id("conversation-meta")).to_contain_text("Alice")
    expect(page.locator(".routing-transfer")).to_have_count(1)

    # Live both ways over the one socket.
    services.message_post_from_customer(customer=customer, body="Are you there?")
    expect(page.get_by_test_id("msg-customer").last).to_contain_text("Are you there?")
    page.get_by_label("Reply").fill("Yes, right here.")
    page.get_by_label("Reply").press("Enter")
    expect(page.get_by_test_id("msg-agent").last).to_contain_text("Yes, right here.")
    expect(page.get_by_test_id("msg-pending")).to_have_count(0)

    page.get_by_label("Reply").fill("Half a thought")
    services.conversation_resolve(conversation_id=conversation.pk, agent=alice)
    expect(page.get_by_test_id("resolve")).to_have_count(0)
    expect(page.get_by_label("Reply")).to_have_count(0)
    expect(page.locator(".routing-transfer")).to_have_count(0)
    expect(page.get_by_test_id("conversation-meta")).to_contain_text("Resolved")

    assert page.evaluate("window.sameDocument") is True
    assert page.evaluate("window.socketsOpened") == ["/ws/inbox/"]


def test_a_half_written_reply_survives_a_reload_and_stays_with_its_conversation(live_url, browser):
    alice = UserFactory(username="alice", first_name="Alice")
    first, second = (services.customer_request_handoff(customer=c) for c in CustomerFactory.create_batch(2))
    for conversation in (first, second):
        services.conversation_accept(conversation_id=conversation.pk, agent=alice)
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    _open(page, live_url, first)
    page.get_by_label("Reply").fill("Let me check your order — ")
    page.reload()
    expect(page.get_by_label("Reply")).to_have_value("Let me check your order — ")

    _open(page, live_url, second)
    expect(page.get_by_label("Reply")).to_have_value("")
    page.go_back()
    expect(page.get_by_label("Reply")).to_have_value("Let me check your order — ")
    page.get_by_label("Reply").press("Enter")  # sent: the draft is gone
    expect(page.get_by_test_id("msg-agent").last).to_contain_text("Let me check your order")
    page.reload()
    expect(page.get_by_label("Reply")).to_have_value("")


def test_each_side_sees_the_other_typing_and_nothing_of_it_is_stored(live_url, browser):
    alice = UserFactory(username="alice", first_name="Alice")
    chat = browser.new_context().new_page()
    chat.goto(f"{live_url}/chat/")
    expect(chat.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    chat.get_by_test_id("talk-to-person").click()
    expect(chat.get_by_test_id("chat-status")).to_contain_text("A person from our team")
    conversation = Conversation.objects.get()
    services.conversation_accept(conversation_id=conversation.pk, agent=alice)
    expect(chat.get_by_test_id("chat-status")).to_contain_text("chatting with Alice")
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    _open(page, live_url, conversation)
    stored = Message.objects.count()

    chat.get_by_label("Message").press_sequentially("Hello, my ord")
    expect(page.get_by_test_id("customer-typing")).to_have_text("The customer is typing…")
    page.get_by_label("Reply").press_sequentially("Hi! Let me")
    expect(chat.get_by_test_id("agent-typing")).to_have_text("Alice is typing…")
    page.get_by_label("Reply").press("Enter")
    expect(chat.get_by_test_id("msg-agent")).to_contain_text("Hi! Let me")
    expect(chat.get_by_test_id("agent-typing")).to_be_hidden()
    chat.get_by_label("Message").press("Enter")
    expect(page.get_by_test_id("msg-customer").last).to_contain_text("Hello, my ord")
    expect(page.get_by_test_id("customer-typing")).to_be_hidden()
    assert Message.objects.count() == stored + 2

"""A customer who types faster than the limit: told to wait, nothing lost, over
the socket and over HTTP alike."""

import pytest
from playwright.sync_api import expect

from conversations.models import Message

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("transport", ["websocket", "http"])
def test_messages_past_the_limit_wait_with_a_note_and_are_all_stored_once(live_url, browser, rate_limits, transport):
    rate_limits.BATON_RATELIMIT_MESSAGES_PER_S = 1
    rate_limits.BATON_RATELIMIT_MESSAGES_BURST = 2
    page = browser.new_context().new_page()
    if transport == "http":
        page.add_init_script("delete window.WebSocket")
    page.goto(f"{live_url}/chat/")
    box = page.get_by_label("Message")
    for i in range(5):
        box.fill(f"quick message {i}")
        box.press("Enter")
    expect(page.locator("[data-testid=msg-pending]").first).to_contain_text("sending messages quickly")
    expect(page.locator("#chat-error")).to_be_hidden()
    expect(page.locator("[data-testid=msg-customer]:not([data-pending])")).to_have_count(5, timeout=30_000)
    expect(page.locator("[data-testid=msg-pending]")).to_have_count(0)
    bodies = list(Message.objects.filter(sender=Message.Sender.CUSTOMER).order_by("seq").values_list("body", flat=True))
    sent = [f"quick message {i}" for i in range(5)]
    # Each stored once. Over HTTP the first sends are parallel requests, which the
    # server may take in any order (as without limits); the socket keeps the order.
    assert (bodies if transport == "websocket" else sorted(bodies)) == sent

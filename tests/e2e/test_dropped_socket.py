"""The browser's side of the live path (static/baton/live.js, chat.js): a socket
that dies after the customer's question reached the server, before its
acknowledgement and the bot's answer came back. The page shows the question as
sending, reconnects, catches up from its cursor, and ends with the question and
the answer once each, on the page and in the database."""

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from demo.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl

pytestmark = pytest.mark.e2e

QUESTION = "How do I reset my password?"


def test_a_socket_dropped_while_the_bot_answers_loses_and_doubles_nothing(live_url, browser):
    kb_import_jsonl(path=DEMO_KB)
    page = browser.new_context().new_page()
    sockets = []

    def route(ws):
        server = ws.connect_to_server()
        first = not sockets
        sockets.append(ws)
        if not first:
            return  # later connections pass through untouched

        def from_page(message):
            server.send(message)
            if isinstance(message, str) and '"type":"message"' in message.replace(" ", ""):
                # The question reached the server; nothing it answers reaches the page.
                ws.close(code=4000, reason="network gone")
                server.close()

        ws.on_message(from_page)
        server.on_message(lambda message: ws.send(message))

    page.route_web_socket("**/ws/chat/**", route)
    page.goto(f"{live_url}/chat/")
    # Sent before the socket is open, the question would go over HTTP and never
    # meet the dying socket this test is about.
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live", timeout=30_000)
    page.get_by_label("Message").fill(QUESTION)
    page.get_by_label("Message").press("Enter")

    expect(page.locator("[data-testid=msg-bot]")).to_contain_text("Forgot password", timeout=30_000)
    expect(page.locator("[data-testid=msg-customer]")).to_have_count(1)
    expect(page.locator("[data-testid=msg-pending]")).to_have_count(0)
    expect(page.locator("[data-testid=msg-bot]")).to_have_count(1)
    expect(page.get_by_test_id("live-status")).to_be_hidden()
    assert len(sockets) >= 2  # it did reconnect
    assert list(Message.objects.filter(sender="customer").values_list("body", flat=True)) == [QUESTION]
    assert Message.objects.filter(sender="bot").count() == 1

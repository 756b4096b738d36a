"""The whole loop in a browser: bot answer, handoff, live inbox, accept, reply, resolve, bot again."""

import json
import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from demo.management.commands.demo_data import DEMO_KB
from knowledge.models import Entry
from knowledge.services import kb_import_jsonl
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

# Records when the agent's browser receives the handoff event, to time the path from
# the customer's keypress to the agent's inbox (both pages share this machine's clock).
RECORD_HANDOFF_EVENT = """
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (e) => {
      if (!window.handoffEventAt && e.data.includes('"handed_off"')) window.handoffEventAt = Date.now();
    });
  }
};
"""
ANSWERABLE = "How do I reset my password?"
UNANSWERABLE = "What's the weather like on Mars tomorrow?"


def _login(page, base, username):
    page.goto(f"{base}/login/?next=/inbox/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("tab-pending")).to_be_visible()


def _send(page, text):
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def test_customer_bot_handoff_agent_and_back_to_bot(live_url, browser, artifacts):
    kb_import_jsonl(path=DEMO_KB)
    assert Entry.objects.count() >= 30
    UserFactory(username="alice", first_name="Alice")

    agent_page = browser.new_context().new_page()
    agent_page.add_init_script(RECORD_HANDOFF_EVENT)
    _login(agent_page, live_url, "alice")
    pending_rows = agent_page.locator("#inbox-rows tr[data-conversation]")
    expect(pending_rows).to_have_count(0)

    customer_page = browser.new_context().new_page()
    customer_page.goto(f"{live_url}/chat/")

    # 1. The knowledge base answers.
    _send(customer_page, ANSWERABLE)
    expect(customer_page.locator("[data-testid=msg-bot]")).to_have_count(1, timeout=20_000)
    expect(customer_page.locator("[data-testid=msg-bot]")).to_contain_text("Source:")

    # 2. It cannot answer: handoff, and the agent's inbox shows it live.
    customer_page.get_by_label("Message").fill(UNANSWERABLE)
    sent_at = customer_page.evaluate("Date.now()")
    customer_page.get_by_label("Message").press("Enter")
    expect(pending_rows).to_have_count(1, timeout=20_000)
    # The row may come first, from a list read another event started after the commit.
    agent_page.wait_for_function("() => window.handoffEventAt", timeout=10_000)
    inbox_latency_ms = agent_page.evaluate("window.handoffEventAt") - sent_at
    expect(customer_page.get_by_test_id("chat-status")).to_contain_text("#1 in the queue")
    expect(agent_page.locator("#toasts")).to_contain_text("New handoff")
    expect(agent_page.locator('[data-count="pending"]')).to_have_text("1")

    # 3. The agent sees the full history with the bot's confidence and the reason, and accepts.
    pending_rows.first.get_by_role("link").click()
    expect(agent_page.get_by_test_id("handoff-reason")).to_contain_text("Bot not confident")
    expect(agent_page.locator("[data-testid=msg-bot] .bot-meta")).to_contain_text(
        re.compile(r"confidence [01]\.\d\d · sources: Reset your password")
    )
    expect(agent_page.locator("[data-testid=msg-customer]")).to_have_count(2)
    agent_page.get_by_test_id("accept").click()
    expect(agent_page.get_by_label("Reply")).to_be_visible()

    # 4. The reply reaches the customer live, as text.
    agent_page.get_by_label("Reply").fill("Hi, Alice here. <b>Mars</b> is out of our hands!")
    agent_page.get_by_label("Reply").press("Enter")
    customer_agent_msg = customer_page.locator("[data-testid=msg-agent]")
    expect(customer_agent_msg).to_contain_text("Hi, Alice here. <b>Mars</b> is out of our hands!")
    expect(customer_page.get_by_test_id("chat-status")).to_contain_text("chatting with Alice")
    customer_page.screenshot(path=artifacts / "customer-chat.png")
    agent_page.screenshot(path=artifacts / "agent-conversation.png")

    # 5. Resolve: the customer sees it; the next message goes to the bot in a new conversation.
    agent_page.get_by_test_id("resolve").click()
    expect(customer_page.get_by_test_id("chat-status")).to_contain_text("resolved")
    _send(customer_page, ANSWERABLE)
    expect(customer_page.locator("[data-testid=msg-bot]")).to_have_count(2, timeout=20_000)
    conversations = list(Conversation.objects.order_by("pk").values_list("status", flat=True))
    assert conversations == [Conversation.Status.RESOLVED, Conversation.Status.BOT]
    agent_page.goto(f"{live_url}/inbox/?view=resolved")
    agent_page.screenshot(path=artifacts / "agent-inbox.png")

    (artifacts / "e2e-figures.json").write_text(json.dumps({"customer_message_to_inbox_event_ms": inbox_latency_ms}))
    print(f"\ncustomer message -> agent inbox event: {inbox_latency_ms:.0f} ms")

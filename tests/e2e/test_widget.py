"""The widget as customers meet it: embedded on another site, and without websockets."""

import pytest
from playwright.sync_api import expect

from conversations.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl

pytestmark = pytest.mark.e2e


def test_the_one_line_loader_opens_the_chat_on_another_site(live_url, browser):
    kb_import_jsonl(path=DEMO_KB)
    page = browser.new_context().new_page()
    # A page of "another site": the loader is its only tie to Baton.
    page.set_content(
        "<html><body><h1>Acme shop</h1>"
        f'<script src="{live_url}/static/baton/embed.js" data-baton="{live_url}"></script></body></html>'
    )
    page.get_by_role("button", name="Chat with us").click()
    chat = page.frame_locator("iframe[title='Support chat']")
    chat.get_by_label("Message").fill("How do I reset my password?")
    chat.get_by_label("Message").press("Enter")
    expect(chat.locator("[data-testid=msg-bot]")).to_contain_text("Forgot password", timeout=20_000)


def test_without_websockets_the_chat_falls_back_to_http(live_url, browser):
    kb_import_jsonl(path=DEMO_KB)
    page = browser.new_context().new_page()
    page.add_init_script("delete window.WebSocket")
    page.goto(f"{live_url}/chat/")
    page.get_by_label("Message").fill("How do I reset my password?")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("[data-testid=msg-customer]")).to_have_count(1)
    expect(page.locator("[data-testid=msg-bot]")).to_contain_text("Forgot password", timeout=20_000)
    page.get_by_test_id("talk-to-person").click()
    expect(page.get_by_test_id("chat-status")).to_contain_text("#1 in the queue", timeout=20_000)

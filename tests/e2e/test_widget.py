"""The widget as customers meet it: embedded on another site, and without websockets.

"Another site" is a real second origin: pages served from another port under
another host name (``localhost`` against Baton's ``127.0.0.1``), so the browser
treats Baton's frame as third-party, as on a customer's own website.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation, Customer, EmbedSite
from demo.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

ANSWERABLE = "How do I reset my password?"


class _HostSite:
    """A customer's website: every path is a page of it with Baton's one-line loader."""

    def __init__(self, baton: str):
        self.baton = baton
        self.loader_attrs = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = (
                    f"<!doctype html><html><body><h1>Acme shop {self.path}</h1>"
                    f'<a href="/other-page">Another page</a>'
                    f'<script src="{site.baton}/static/baton/embed.js" data-baton="{site.baton}"'
                    f"{site.loader_attrs} async></script></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # Another host name than Baton's 127.0.0.1: another site, not only another origin.
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site(live_url):
    site = _HostSite(live_url)
    yield site
    site.close()


def _send(chat, text):
    chat.get_by_label("Message").fill(text)
    chat.get_by_label("Message").press("Enter")


def _chat(page):
    return page.frame_locator("iframe[title='Support chat']")


def test_the_embedded_chat_keeps_its_customer_across_reloads_and_pages_of_another_site(
    live_url, browser, host_site, artifacts
):
    kb_import_jsonl(path=DEMO_KB)
    EmbedSite.objects.create(name="Acme", origin=host_site.origin)
    agent = UserFactory(username="alice", first_name="Alice")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{host_site.origin}/")
    page.get_by_role("button", name="Chat with us").click()
    _send(_chat(page), ANSWERABLE)
    expect(_chat(page).locator("[data-testid=msg-bot]")).to_contain_text("Forgot password", timeout=20_000)

    # A reload: the chat opens again by itself, with its history.
    page.reload()
    expect(_chat(page).locator("[data-testid=msg-customer]")).to_contain_text([ANSWERABLE], timeout=10_000)
    expect(_chat(page).locator("[data-testid=msg-bot]")).to_have_count(1)
    # Another page of the site: the same conversation.
    page.get_by_role("link", name="Another page").click()
    page.wait_for_url("**/other-page")
    expect(_chat(page).locator("[data-testid=msg-bot]")).to_have_count(1, timeout=10_000)
    assert Customer.objects.count() == 1

    # Handed off and accepted: still live after a reload.
    _chat(page).get_by_test_id("talk-to-person").click()
    expect(_chat(page).get_by_test_id("chat-status")).to_contain_text("in the queue", timeout=10_000)
    conversation = Conversation.objects.get()
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    expect(_chat(page).get_by_test_id("chat-status")).to_contain_text("chatting with Alice", timeout=10_000)
    page.reload()
    expect(_chat(page).get_by_test_id("chat-status")).to_contain_text("chatting with Alice", timeout=10_000)
    expect(_chat(page).locator("[data-live-status]")).to_be_hidden()
    services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="Hi, Alice here.")
    expect(_chat(page).locator("[data-testid=msg-agent]")).to_contain_text("Hi, Alice here.", timeout=10_000)
    _send(_chat(page), "Thanks Alice")
    expect(_chat(page).locator("[data-testid=msg-customer]")).to_have_count(2, timeout=10_000)
    assert conversation.messages.filter(sender="customer", body="Thanks Alice").count() == 1

    # One customer throughout, kept in the site's own storage: Baton set no cookie at all.
    assert Customer.objects.count() == 1
    assert [c for c in context.cookies() if c["domain"] == "127.0.0.1"] == []
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('baton.session:')).length") == 1
    page.screenshot(path=str(artifacts / "widget-second-origin.png"))
    context.close()


def test_a_site_that_may_not_embed_cannot_frame_the_chat(live_url, browser, host_site):
    EmbedSite.objects.create(name="Someone else", origin="https://allowed.example")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{host_site.origin}/")  # no EmbedSite for this origin
    with (
        page.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=10_000) as refused,
        page.expect_response(lambda r: "/chat/?embed=1" in r.url) as chat_page,
    ):
        page.get_by_role("button", name="Chat with us").click()
    policy = chat_page.value.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://allowed.example" in policy and host_site.origin not in policy
    assert "violates" in refused.value.text and "frame-ancestors" in refused.value.text
    expect(_chat(page).locator("#chat")).to_have_count(0)
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('baton.session:')).length") == 0
    assert not Customer.objects.exists()
    context.close()


def test_a_signed_in_user_of_the_site_is_verified_and_their_name_cannot_be_changed(live_url, browser, host_site):
    site = EmbedSite.objects.create(name="Acme", origin=host_site.origin, require_verification=True)
    claims = {"sub": "acme-7", "name": "Sam Verified", "exp": int(time.time()) + 3600}
    host_site.loader_attrs = f' data-user-jwt="{jwt.encode(claims, site.identity_secret, algorithm="HS256")}"'
    host_site.loader_attrs += ' data-user-name="Mallory"'
    page = browser.new_context().new_page()
    page.goto(f"{host_site.origin}/")
    page.get_by_role("button", name="Chat with us").click()
    _send(_chat(page), "Is my order shipped?")
    expect(_chat(page).locator("[data-testid=msg-customer]")).to_have_count(1, timeout=10_000)
    expect(_chat(page).locator("[data-testid=msg-pending]")).to_have_count(0, timeout=10_000)
    customer = Customer.objects.get()
    assert (customer.external_id, customer.name, customer.verified) == ("acme-7", "Sam Verified", True)

    # Signed out on the site: the same browser is refused, and sees nothing of Sam's.
    host_site.loader_attrs = ""
    page.reload()
    expect(_chat(page).locator("#chat-error")).to_contain_text("sign in", timeout=10_000)
    expect(_chat(page).locator("[data-testid=msg-customer]")).to_have_count(0)


def test_without_websockets_the_chat_falls_back_to_http(live_url, browser):
    kb_import_jsonl(path=DEMO_KB)
    page = browser.new_context().new_page()
    page.add_init_script("delete window.WebSocket")
    page.goto(f"{live_url}/chat/")
    page.get_by_label("Message").fill(ANSWERABLE)
    page.get_by_label("Message").press("Enter")
    expect(page.locator("[data-testid=msg-customer]")).to_have_count(1)
    expect(page.locator("[data-testid=msg-bot]")).to_contain_text("Forgot password", timeout=20_000)
    page.get_by_test_id("talk-to-person").click()
    expect(page.get_by_test_id("chat-status")).to_contain_text("#1 in the queue", timeout=20_000)


def test_the_chat_waits_out_a_server_that_cannot_open_the_session_yet(live_url, browser):
    """A 503 (the database restarting) or a dropped request is asked again, not the end of the chat."""
    page = browser.new_context().new_page()
    refused = []

    def first_two_fail(route):
        if len(refused) < 2:
            refused.append(route.request.url)
            if len(refused) == 1:
                route.fulfill(status=503, content_type="application/json", body='{"error": {"code": "unavailable"}}')
            else:
                route.abort()  # the network
            return
        route.continue_()

    page.route("**/chat/session/", first_two_fail)
    page.goto(f"{live_url}/chat/")
    expect(page.get_by_label("Message")).to_be_enabled(timeout=15_000)
    assert len(refused) == 2
    expect(page.locator("#chat-error")).to_be_hidden()

"""Every kind of page under the strict Content-Security-Policy, in Chromium.

Each persona walks its pages while the browser records every policy violation
(the `securitypolicyviolation` event, from an init script), every console error
and every response of ours that came without the policy: all must stay empty.
"""

import re
import threading
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.db import connection
from django.http import HttpResponse
from django.urls import include, path
from playwright.sync_api import expect

from conversations import services
from core.headers import frame_ancestors
from demo.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl
from tests.e2e.test_handoff_flow import _login
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${where} ${e.sample}`);
}, true);
"""
# Sites that frame Baton, served by the test (page.route). On loopback and with the
# permission, since Chromium asks before a page frames a local address (Local
# Network Access) and refuses a public page's frame of one.
SHOP = "http://localhost:8999"
OTHER_SITE = "http://localhost:8998"


def _handoff():
    """A conversation waiting for an agent, made outside Playwright's thread (its
    broadcasts bridge to the channel layer from synchronous code)."""
    made = []

    def run():
        try:
            made.append(services.customer_request_handoff(customer=CustomerFactory(name="Casey")))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    return made[0]


class Watch:
    """One browser context whose pages report what the policy blocked and what failed."""

    def __init__(self, browser, live_url):
        self.live_url = live_url
        self.context = browser.new_context()
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.errors: list[str] = []
        self.responses = []
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"{self.page.url}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"{self.page.url}: {e}"))
        self.page.on("response", lambda r: r.url.startswith(live_url) and self.responses.append(r))

    def goto(self, url_path: str):
        response = self.page.goto(self.live_url + url_path)
        assert response.ok, (url_path, response.status)
        return self.page

    def assert_clean(self):
        """Nothing blocked on the current page, no errors so far, the policy on every response."""
        violations = self.page.evaluate("window.cspViolations")
        assert violations == [], (self.page.url, violations)
        assert self.errors == []
        without = [r.url for r in self.responses if _frame_ancestors(r) != _framing_expected(r.url)]
        assert without == []
        assert len(self.responses) > 0


def _csp(response) -> str:
    return response.headers.get("content-security-policy", "")


def _frame_ancestors(response) -> str:
    return next((d.strip() for d in _csp(response).split(";") if d.strip().startswith("frame-ancestors")), "")


def _framing_expected(url: str) -> str:
    """No page may be framed but the chat, by Baton itself (no embed sites here)."""
    return "frame-ancestors 'self'" if urlsplit(url).path == "/chat/" else "frame-ancestors 'none'"


def test_the_recorder_sees_an_inline_style_and_an_inline_script_being_blocked(live_url, browser):
    watch = Watch(browser, live_url)
    page = watch.goto("/login/")
    page.evaluate(
        """() => {
        document.body.insertAdjacentHTML("beforeend", '<p style="color: red">injected</p>');
        const s = document.createElement("script"); s.textContent = "window.ran = 1"; document.body.append(s);
    }"""
    )
    page.wait_for_function("window.cspViolations.length >= 2")
    directives = " ".join(page.evaluate("window.cspViolations"))
    assert "style-src" in directives
    assert "script-src" in directives
    assert page.evaluate("window.ran") is None


def test_anonymous_pages_and_the_customer_chat_with_its_websocket(live_url, browser):
    kb_import_jsonl(path=DEMO_KB)
    watch = Watch(browser, live_url)
    watch.goto("/")  # the home page is the team's: to the login
    expect(watch.page).to_have_url(re.compile(r"/login/\?next=/$"))
    watch.assert_clean()
    watch.goto("/login/")
    expect(watch.page.get_by_label("Username")).to_be_visible()
    watch.assert_clean()

    for chat in ("/chat/", "/chat/?embed=1"):
        with watch.page.expect_websocket() as opened:
            page = watch.goto(chat)
        socket = opened.value
        assert socket.url.startswith(live_url.replace("http", "ws", 1) + "/ws/chat/")
        with socket.expect_event("framereceived"):  # connect-src 'self' let it open and talk
            page.get_by_label("Message").fill("How do I reset my password?")
            page.get_by_label("Message").press("Enter")
        expect(page.locator("[data-testid=msg-bot]").last).to_contain_text("Forgot password", timeout=20_000)
        assert not socket.is_closed()
        watch.assert_clean()


def test_agent_pages_inbox_conversation_routing_board_bell_and_own_numbers(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    conversation = _handoff()
    watch = Watch(browser, live_url)
    page = watch.page
    with page.expect_websocket() as opened:
        _login(page, live_url, "alice")
    expect(page.locator("#inbox-rows tr[data-conversation]")).to_have_count(1)  # read when the socket opened
    assert not opened.value.is_closed()
    expect(page.locator("#routing-agents tr", has_text="Alice")).to_have_count(1)  # the board has loaded
    page.get_by_test_id("presence-select").select_option("online")
    expect(page.locator("#routing-agents tr[data-presence=online]")).to_contain_text("Alice", timeout=15_000)
    page.get_by_test_id("bell").click()
    expect(page.locator("#bell-panel")).to_be_visible()
    watch.assert_clean()

    watch.goto(f"/inbox/c/{conversation.pk}/")
    page.get_by_test_id("accept").click()
    page.get_by_label("Reply").fill("Hello from Alice")
    page.get_by_label("Reply").press("Enter")
    expect(page.locator("[data-testid=msg-agent]")).to_contain_text("Hello from Alice")
    watch.assert_clean()

    watch.goto("/analytics/")
    expect(page.locator("#analytics-live")).to_have_text("live")
    watch.assert_clean()


def test_staff_pages_analytics_charts_and_every_admin_page(live_url, browser):
    kb_import_jsonl(path=DEMO_KB)
    UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)
    _handoff()
    watch = Watch(browser, live_url)
    page = watch.page
    _login(page, live_url, "admin")
    watch.goto("/analytics/")
    expect(page.locator("#analytics-live")).to_have_text("live")
    expect(page.locator(".an-charts figure svg").first).to_be_visible()
    watch.assert_clean()
    watch.goto("/analytics/breaches/")
    watch.assert_clean()

    watch.goto("/admin/")
    watch.assert_clean()
    watch.goto("/admin/knowledge/botconfig/tradeoff/")
    expect(page.get_by_role("heading", name="Where to set the bot's confidence threshold")).to_be_visible()
    watch.assert_clean()
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        watch.goto(changelist)
        watch.assert_clean()
        # The model's add form and its first change form (not the sidebar's add links).
        links = [page.locator(link).first for link in (".object-tools a.addlink", "#result_list tbody th a")]
        for href in [link.get_attribute("href") for link in links if link.count()]:
            watch.goto(href)
            expect(page.locator("#content-main form")).to_be_visible()
            watch.assert_clean()


def _framed(request):
    return frame_ancestors(HttpResponse("<p id=framed>framed</p>"), [SHOP])


def _not_framed(request):
    return HttpResponse("<p id=framed>framed</p>")


urlpatterns = [path("framed/", _framed), path("not-framed/", _not_framed), path("", include("helpdesk.urls"))]


@pytest.mark.urls(__name__)
def test_pages_cannot_be_framed_unless_framed_by_an_origin_frame_ancestors_names(live_url, browser):
    page = browser.new_context(permissions=["local-network-access"]).new_page()

    def shop_framing(site, url_path):
        html = f'<iframe src="{live_url}{url_path}"></iframe>'
        page.route(f"{site}/", lambda route: route.fulfill(content_type="text/html", body=html))

    shop_framing(SHOP, "/framed/")
    page.goto(f"{SHOP}/")
    expect(page.frame_locator("iframe").locator("#framed")).to_have_text("framed")

    for site, url_path, refusal in (
        (OTHER_SITE, "/framed/", f"frame-ancestors 'self' {SHOP}"),
        (SHOP, "/not-framed/", "frame-ancestors 'none'"),
        (SHOP, "/login/", "frame-ancestors 'none'"),
    ):
        page.unroute_all()
        shop_framing(site, url_path)
        with page.expect_console_message(lambda m, refusal=refusal: refusal in m.text):
            page.goto(f"{site}/")

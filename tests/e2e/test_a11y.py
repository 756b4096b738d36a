"""axe-core (vendored, tests/e2e/vendor/axe-core/) on the pages people use: the
customer chat, the inbox, a conversation and analytics have no serious or critical
WCAG 2.1 AA violations."""

import threading
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect

from analytics.services import preference_set
from conversations import services
from routing.services import conversation_take
from tests.analytics.scenario import TZ, build_week
from tests.e2e.test_handoff_flow import ANSWERABLE, _login, _send
from tests.e2e.test_sla import policy_standard  # noqa: F401 (a fixture)
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21aa"]
BLOCKING = {"serious", "critical"}


def _axe(page) -> list[dict]:
    """The serious and critical violations axe finds on the page as it is now."""
    # The pages' CSP (script-src 'self') refuses the inline <script> add_script_tag
    # would insert; page.evaluate runs over the DevTools protocol, which CSP does not
    # govern, so the page and its policy stay exactly as a user gets them.
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def _assert_clean(page):
    violations = _axe(page)
    assert not violations, "\n".join(
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']]}" for v in violations
    )


def test_the_customer_chat_with_a_bot_answer_and_a_handoff(live_url, browser, demo_kb):
    page = browser.new_context().new_page()
    page.goto(f"{live_url}/chat/")
    _send(page, ANSWERABLE)
    expect(page.get_by_test_id("msg-bot")).to_have_count(1, timeout=20_000)
    _assert_clean(page)
    page.get_by_test_id("talk-to-person").click()
    expect(page.get_by_test_id("chat-status")).to_contain_text("queue")
    expect(page.get_by_test_id("msg-system")).not_to_have_count(0)
    _assert_clean(page)


@pytest.mark.usefixtures("policy_standard")
def test_the_inbox_and_an_assigned_conversation(live_url, browser):
    alice = UserFactory(username="alice", first_name="Alice")
    handed_off = {}

    def handoffs():  # outside Playwright's thread: the broadcasts bridge to the channel layer
        try:
            services.customer_request_handoff(customer=CustomerFactory(name="Pat Pending"))
            handed_off["mine"] = services.customer_request_handoff(customer=CustomerFactory(name="Ann Assigned"))
            conversation_take(conversation_id=handed_off["mine"].pk, agent=alice)
            UserFactory(username="bob", first_name="Bob")
            services.note_add(conversation_id=handed_off["mine"].pk, author=alice, body="@bob an internal note")
        finally:
            connection.close()

    thread = threading.Thread(target=handoffs)
    thread.start()
    thread.join(timeout=30)
    mine = handed_off["mine"]

    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/?view=open")
    expect(page.locator("#inbox-rows tr[data-conversation]")).to_have_count(2)
    expect(page.get_by_test_id("sla-countdown")).to_have_count(2)  # sla.js has filled the SLA cells
    _assert_clean(page)
    # The notifications, opened and closed by keyboard.
    page.get_by_test_id("bell").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#bell-panel")).to_be_visible()
    _assert_clean(page)
    page.keyboard.press("Escape")
    expect(page.locator("#bell-panel")).to_be_hidden()

    page.goto(f"{live_url}/inbox/c/{mine.pk}/")
    expect(page.get_by_label("Reply")).to_be_visible()
    expect(page.get_by_test_id("timeline").locator("li")).not_to_have_count(0)
    expect(page.get_by_test_id("sla-first_response")).to_be_visible()
    expect(page.get_by_test_id("note")).to_be_visible()
    _assert_clean(page)
    # The note box's @mention list, open.
    page.get_by_test_id("note-body").press_sequentially("@b")
    expect(page.get_by_test_id("mention-option")).to_have_count(1)
    _assert_clean(page)


def test_the_analytics_dashboard_and_breach_list_as_staff(live_url, browser):
    admin = UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)
    preference_set(user=admin, time_zone=TZ)
    build_week(**{name: UserFactory(username=name, first_name=name.title()) for name in ("alice", "bob", "carol")})

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _login(page, live_url, "admin")
    page.goto(f"{live_url}/analytics/?period=custom&start=2026-03-02&end=2026-03-08")
    expect(page.locator('[data-figure="conversations"]')).not_to_have_text("0")
    expect(page.locator("#analytics-live")).to_have_text("live")
    _assert_clean(page)

    page.get_by_role("link", name="Breach list").click()
    expect(page.locator("#table-breaches tbody tr")).not_to_have_count(0)
    _assert_clean(page)

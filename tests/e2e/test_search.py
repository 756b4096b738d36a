"""Search end to end: from the inbox, "/" focuses the search box; the agent types,
sees the conversation with the match highlighted, and opens it; from a
conversation, "/" goes to the search page."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_a11y import _assert_clean
from tests.e2e.test_handoff_flow import _login
from tests.e2e.test_headers import RECORD_VIOLATIONS
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.e2e


def test_an_agent_searches_from_the_inbox_by_keyboard_and_opens_the_result(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    found = ConversationFactory(pending=True, customer=CustomerFactory(name="Sam <i>Searcher</i>"))
    MessageFactory(conversation=found, seq=1, body="The sync client crashes on my laptop <b>again</b>")
    other = ConversationFactory(pending=True, customer=CustomerFactory(name="Pat Password"))
    MessageFactory(conversation=other, seq=1, body="I forgot my password")

    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, live_url, "alice")
    expect(page.get_by_test_id("keys-open")).to_be_visible()  # keys.js has run

    box = page.get_by_test_id("inbox-search")
    expect(box).not_to_be_focused()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the "/" itself was not typed into it
    page.keyboard.type("crashes laptop")
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_url}/inbox/search/?q=crashes+laptop")
    results = page.get_by_test_id("search-result")
    expect(results).to_have_count(1)
    expect(results).to_have_attribute("data-conversation", str(found.pk))
    expect(results).to_have_text("Sam <i>Searcher</i>")
    row = page.locator(f"tr[data-result='{found.pk}']")
    expect(row.locator("mark")).to_have_text(["crashes", "laptop"])
    expect(row.locator(".search-snippet")).to_contain_text("<b>again</b>")  # shown as text, not markup
    _assert_clean(page)

    results.click()
    expect(page).to_have_url(f"{live_url}/inbox/c/{found.pk}/")
    expect(page.get_by_test_id("keys-open")).to_be_visible()
    page.keyboard.press("?")
    overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(overlay).to_contain_text("Search conversations")
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    # On a conversation page the list pane's box takes it, beside the thread.
    page.keyboard.press("/")
    expect(page.get_by_test_id("inbox-search")).to_be_focused()
    page.keyboard.press("Enter")  # nothing typed: the search page, with its hint
    expect(page).to_have_url(f"{live_url}/inbox/search/?q=")
    expect(page.get_by_test_id("search-hint")).to_be_visible()
    assert page.evaluate("window.cspViolations") == [] and errors == []

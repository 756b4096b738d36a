"""The agents' workspace: the list pane stays beside the thread, the URL says which
conversation and which tab, the offers sit compact in the list pane with what the
customer asked, and a phone shows one pane at a time."""

import pytest
from playwright.sync_api import expect

from conversations import services
from tests.e2e.test_handoff_flow import _login
from tests.e2e.test_routing import _online
from tests.e2e.threads import in_a_thread
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.e2e

ROWS = "#inbox-rows tr[data-conversation]"


def test_opening_a_conversation_keeps_the_list_and_the_url_follows(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    first = ConversationFactory(pending=True, customer=CustomerFactory(name="Olga First"))
    second = ConversationFactory(pending=True, customer=CustomerFactory(name="Pia Second"))
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    expect(page.locator(ROWS)).to_have_count(2)

    page.locator(f'{ROWS}[data-conversation="{second.pk}"] a.customer-name').click()
    expect(page).to_have_url(f"{live_url}/inbox/c/{second.pk}/?view=pending")
    expect(page.locator("#conversation h1")).to_contain_text("Pia Second")
    # The list pane is still there, with this conversation marked as the open one.
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(f"{ROWS}.open")).to_have_attribute("data-conversation", str(second.pk))
    expect(page.locator(f"{ROWS}.open a.customer-name")).to_have_attribute("aria-current", "true")

    # Another row opens in its place; the list stays on its tab.
    page.locator(f'{ROWS}[data-conversation="{first.pk}"] a.customer-name').click()
    expect(page).to_have_url(f"{live_url}/inbox/c/{first.pk}/?view=pending")
    expect(page.locator("#conversation h1")).to_contain_text("Olga First")

    # Another tab keeps the conversation open beside it.
    page.get_by_test_id("tab-open").click()
    expect(page).to_have_url(f"{live_url}/inbox/c/{first.pk}/?view=open")
    expect(page.locator("#conversation h1")).to_contain_text("Olga First")
    expect(page.get_by_test_id("tab-open")).to_have_attribute("aria-current", "page")

    # Opened by a link without a tab (a toast, a notification): the tab it is listed in.
    page.goto(f"{live_url}/inbox/c/{second.pk}/")
    expect(page.get_by_test_id("tab-pending")).to_have_attribute("aria-current", "page")
    expect(page.locator(f"{ROWS}.open")).to_have_attribute("data-conversation", str(second.pk))


def test_a_new_handoff_appears_in_the_list_pane_while_a_conversation_is_open(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    open_one = ConversationFactory(pending=True)
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{open_one.pk}/")
    expect(page.locator("[data-live-status]")).to_have_attribute("data-state", "live")
    expect(page.locator(ROWS)).to_have_count(1)

    in_a_thread(lambda: services.customer_request_handoff(customer=CustomerFactory(name="Nia New")))
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(ROWS, has_text="Nia New")).to_have_count(1)
    expect(page.locator('[data-count="pending"]')).to_have_text("2")
    expect(page.locator(f"{ROWS}.open")).to_have_attribute("data-conversation", str(open_one.pk))


def test_an_offer_card_in_the_list_pane_says_what_the_customer_asked(live_url, browser, ticking):
    UserFactory(username="alice", first_name="Alice")
    beside = ConversationFactory(pending=True)
    page = browser.new_context().new_page()
    _login(page, live_url, "alice")
    page.goto(f"{live_url}/inbox/c/{beside.pk}/")
    _online(page, "Alice")
    customer = CustomerFactory(name="Quinn Asker")
    conversation = ConversationFactory(customer=customer, last_seq=1)
    MessageFactory(conversation=conversation, seq=1, body="My card was charged twice for one order")

    in_a_thread(lambda: services.customer_request_handoff(customer=customer))
    card = page.locator(".pane-list [data-testid=offer]", has_text="Quinn Asker")
    expect(card).to_have_count(1, timeout=15_000)
    expect(card.get_by_test_id("offer-question")).to_have_text("“My card was charged twice for one order”")
    expect(card.get_by_test_id("offer-countdown")).to_contain_text("s to accept")
    # The thread Alice is reading stays where it is.
    expect(page).to_have_url(f"{live_url}/inbox/c/{beside.pk}/")


def test_on_a_phone_a_conversation_is_shown_alone_with_a_way_back(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    conversation = ConversationFactory(pending=True)
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    _login(page, live_url, "alice")
    expect(page.locator(ROWS)).to_have_count(1)
    page.locator(f"{ROWS} a.customer-name").click()
    expect(page.locator("#conversation")).to_be_visible()
    expect(page.locator("#inbox-rows")).to_be_hidden()
    page.get_by_test_id("back-to-list").click()
    expect(page).to_have_url(f"{live_url}/inbox/?view=pending")
    expect(page.locator(ROWS)).to_have_count(1)
    assert conversation.pk == int(page.locator(ROWS).get_attribute("data-conversation"))

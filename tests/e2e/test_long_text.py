"""Text with nowhere to break: a 200-character name and a 4,000-character word keep
the inbox, the conversation page and the chat within the screen, desk and phone."""

import pytest
from django.conf import settings
from playwright.sync_api import expect

from conversations import selectors, services
from conversations.identity import Identity
from tests.e2e.test_handoff_flow import _login
from tests.e2e.test_xss import open_chat_as
from tests.e2e.threads import in_a_thread
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

LONG_NAME = "W" * 200
LONG_BODY = "x" * settings.BATON_MAX_MESSAGE_CHARS
WIDTHS = (1280, 390)
OVERFLOW = "[document.documentElement.scrollWidth, window.innerWidth]"


def _seed(agent):
    customer = services.customer_identify(identity=Identity(external_id="long", name=LONG_NAME))
    services.customer_request_handoff(customer=customer)
    conversation = selectors.conversation_open_for(customer=customer)
    services.message_post_from_customer(customer=customer, body=LONG_BODY)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body=LONG_BODY)
    return customer, conversation


def _fits(page) -> None:
    scroll_width, viewport = page.evaluate(OVERFLOW)
    assert scroll_width <= viewport, f"{page.url} is {scroll_width} px wide in a {viewport} px window"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_long_name_and_an_unbroken_message_stay_within_the_screen(live_url, browser, width):
    agent = UserFactory(username="alice", first_name="Alice", is_staff=True)
    customer, conversation = in_a_thread(lambda: _seed(agent))
    viewport = {"width": width, "height": 800}

    staff = browser.new_context(viewport=viewport).new_page()
    _login(staff, live_url, "alice")
    for view in ("mine", "open"):
        staff.goto(f"{live_url}/inbox/?view={view}")
        expect(staff.locator("#inbox-rows")).to_contain_text(LONG_NAME)
        _fits(staff)
    staff.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    expect(staff.locator("#messages [data-testid=msg-agent]")).to_contain_text(LONG_BODY)
    _fits(staff)

    chat = browser.new_context(viewport=viewport).new_page()
    open_chat_as(chat, live_url, customer)
    expect(chat.locator("[data-testid=msg-customer]")).to_contain_text(LONG_BODY)
    expect(chat.locator("[data-testid=msg-agent]")).to_contain_text(LONG_BODY)
    _fits(chat)

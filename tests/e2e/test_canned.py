"""Canned responses end to end: an agent saves one of their own in the inbox, types
``/gre`` in a reply, picks it with the keyboard, and the customer reads it filled."""

import pytest
from playwright.sync_api import expect

from canned.models import CannedResponse
from conversations import services
from conversations.identity import Identity
from conversations.models import Message
from tests.e2e.test_handoff_flow import _login
from tests.e2e.test_headers import RECORD_VIOLATIONS
from tests.e2e.test_xss import open_chat_as
from tests.e2e.threads import in_a_thread
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

CUSTOMER_NAME = "Casey <b>Bold</b>"
BODY = "Hi {customer_name}, {agent_first_name} here. How can I help?"
FILLED = "Hi Casey <b>Bold</b>, Alice here. How can I help?"


def _seed(agent):
    customer = services.customer_identify(identity=Identity(external_id="canned", name=CUSTOMER_NAME))
    conversation = services.customer_request_handoff(customer=customer)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    return customer, conversation


def test_an_agent_saves_a_response_and_inserts_it_with_the_keyboard(live_url, browser):
    agent = UserFactory(username="alice", first_name="Alice")
    customer, conversation = in_a_thread(lambda: _seed(agent))
    # A shared one the same letters find, listed after the agent's own.
    CannedResponse.objects.create(title="Team greeting", shortcut="greeting-team", body="Hello from the team")

    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)  # the list and its stylesheet keep to the CSP
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, live_url, "alice")
    page.get_by_test_id("canned-link").click()
    page.get_by_test_id("canned-new").click()
    page.get_by_label("Title").fill("Greeting")
    page.get_by_label("Shortcut").fill("greet")
    page.get_by_label("Body").fill(BODY)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("canned-list")).to_contain_text("/greet")
    assert CannedResponse.objects.get(shortcut="greet").owner == agent

    chat = browser.new_context().new_page()
    open_chat_as(chat, live_url, customer)

    page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    reply = page.get_by_label("Reply")
    listbox = page.get_by_role("listbox", name="Canned responses")
    options = listbox.get_by_role("option")

    # Escape closes the list and leaves what was typed.
    reply.press_sequentially("/gr")
    expect(options).to_have_count(2)
    reply.press("Escape")
    expect(listbox).to_be_hidden()
    expect(reply).to_have_value("/gr")
    reply.fill("")

    reply.press_sequentially("/gre")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("/greet")
    expect(options.first).to_have_attribute("aria-selected", "true")
    reply.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(reply).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    reply.press("ArrowUp")
    expect(options.first).to_have_attribute("aria-selected", "true")
    reply.press("Enter")  # inserts; the reply box's Enter-to-send does not see it
    expect(listbox).to_be_hidden()
    expect(reply).to_have_value(FILLED)
    assert not Message.objects.filter(conversation=conversation, sender=Message.Sender.AGENT).exists()

    reply.press("Enter")  # now it sends
    expect(page.locator("#messages [data-testid=msg-agent] .body")).to_have_text(FILLED)
    expect(reply).to_have_value("")
    expect(chat.locator("[data-testid=msg-agent] .body")).to_have_text(FILLED)
    assert page.evaluate("window.cspViolations") == [] and errors == []

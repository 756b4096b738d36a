"""A knowledge-base answer's Markdown, drawn as real elements in the customer's chat
(live, then from history) and on the agent's conversation page."""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from knowledge.services import EntryData, entries_upsert
from tests.e2e.test_handoff_flow import _login, _send
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

QUESTION = "How do I change my delivery address?"
HELP_URL = "https://help.example.com/delivery"
BODY = f"""## Changing your delivery address

- Open **Orders** and pick the order.
- Choose *Edit address* before it ships.

More in [the delivery guide]({HELP_URL}). Not a link: [run me](javascript:alert(1))."""


def _answer_is_markdown(page):
    answer = page.locator("[data-testid=msg-bot] .body")
    expect(answer).to_have_count(1, timeout=20_000)
    expect(answer.locator("h2")).to_have_text("Changing your delivery address")
    expect(answer.locator("ul > li")).to_have_text(
        ["Open Orders and pick the order.", "Choose Edit address before it ships."]
    )
    expect(answer.locator("li strong")).to_have_text("Orders")
    link = answer.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_text("the delivery guide")
    expect(link).to_have_attribute("href", HELP_URL)
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(answer).to_contain_text("Not a link: [run me](javascript:alert(1)).")
    expect(answer).not_to_contain_text("##")
    expect(answer).not_to_contain_text("**")


def test_a_knowledge_base_answer_shows_its_headings_lists_and_links(live_url, browser):
    entries_upsert(
        entries=[EntryData(external_id="delivery", title="Delivery address", body=BODY, questions=(QUESTION,))]
    )
    UserFactory(username="alice", first_name="Alice")

    customer = browser.new_context().new_page()
    customer.goto(f"{live_url}/chat/")
    _send(customer, QUESTION)
    _answer_is_markdown(customer)  # arrived over the socket
    customer.reload()
    _answer_is_markdown(customer)  # the page's history

    agent = browser.new_context().new_page()
    _login(agent, live_url, "alice")
    agent.goto(f"{live_url}/inbox/c/{Conversation.objects.get().pk}/")
    _answer_is_markdown(agent)
    # The customer's own words are still text: the same characters, no elements.
    expect(agent.locator("[data-testid=msg-customer] .body")).to_have_text(QUESTION)

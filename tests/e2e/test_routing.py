"""Routing in the browsers: an offer accepted, an offer that times out and moves on,
an agent who closes the inbox going offline by themselves, and a transfer announced
to the agent who receives it."""

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from routing import services
from routing.models import AgentProfile, Offer
from routing.selectors import routing_settings
from tests.e2e.test_handoff_flow import _login
from tests.factories import ConversationFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e


def _online(page, name):
    expect(page.locator("#routing-agents tr", has_text=name)).to_have_count(1)  # the board has loaded
    page.get_by_test_id("presence-select").select_option("online")
    expect(page.locator("#routing-agents tr[data-presence=online]")).to_contain_text(name, timeout=15_000)


def _customer_asks_for_a_person(browser, live_url):
    page = browser.new_context().new_page()
    page.goto(f"{live_url}/chat/")
    page.get_by_test_id("talk-to-person").click()
    expect(page.get_by_test_id("chat-status")).to_contain_text("queue")
    return page


def test_an_offer_appears_live_and_accepting_it_assigns(live_url, browser, artifacts, ticking):
    UserFactory(username="alice", first_name="Alice")
    alice = browser.new_context().new_page()
    _login(alice, live_url, "alice")
    _online(alice, "Alice")

    _customer_asks_for_a_person(browser, live_url)
    offer = alice.get_by_test_id("offer")
    expect(offer).to_contain_text("is offered to you", timeout=15_000)
    expect(alice.get_by_test_id("offer-countdown")).to_contain_text("s to accept")
    alice.screenshot(path=artifacts / "routing-offer.png")
    offer.get_by_test_id("offer-accept").click()

    expect(alice.get_by_label("Reply")).to_be_visible()
    conversation = Conversation.objects.get()
    assert conversation.assigned_agent.username == "alice"
    assert Offer.objects.get().state == Offer.State.ACCEPTED
    timeline = alice.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Offered to Alice")
    expect(timeline).to_contain_text("Alice accepted the offer")
    # Who routing considered, with why, is one click away in the timeline.
    offered = timeline.locator("li", has_text="Offered to Alice")
    offered.get_by_text("Considered").click()
    expect(offered.locator(".candidates li.eligible")).to_have_text(["Alice (0/5): chosen (load 0/5)"])
    expect(alice.locator("#routing-agents")).to_contain_text("1 active")


def test_an_unanswered_offer_times_out_and_goes_to_the_next_agent(live_url, browser, artifacts, ticking):
    config = routing_settings()
    config.offer_timeout_s = 2
    config.save()
    UserFactory(username="alice", first_name="Alice")  # first in line: same load, lower id
    UserFactory(username="bob", first_name="Bob")
    alice = browser.new_context().new_page()
    _login(alice, live_url, "alice")
    _online(alice, "Alice")
    bob = browser.new_context().new_page()
    _login(bob, live_url, "bob")
    _online(bob, "Bob")

    _customer_asks_for_a_person(browser, live_url)
    expect(alice.get_by_test_id("offer")).to_have_count(1, timeout=15_000)
    expect(bob.get_by_test_id("offer")).to_have_count(0)
    # Alice does not answer: after 2 s the offer leaves her screen and reaches Bob's.
    expect(bob.get_by_test_id("offer")).to_have_count(1, timeout=15_000)
    expect(alice.get_by_test_id("offer")).to_have_count(0)
    expect(alice.locator("#toasts")).to_contain_text("timed out")
    bob.screenshot(path=artifacts / "routing-offer-moved-on.png")
    bob.get_by_test_id("offer-accept").click()
    expect(bob.get_by_label("Reply")).to_be_visible()
    states = dict(Offer.objects.values_list("agent__username", "state"))
    assert states == {"alice": Offer.State.EXPIRED, "bob": Offer.State.ACCEPTED}
    expect(bob.get_by_test_id("timeline")).to_contain_text("Alice did not answer the offer in time")


def test_closing_the_inbox_turns_the_agent_offline_after_the_grace_period(live_url, browser, artifacts, ticking):
    config = routing_settings()
    config.presence_grace_s = 2
    config.save()
    UserFactory(username="alice", first_name="Alice")
    UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)
    admin = browser.new_context().new_page()
    _login(admin, live_url, "admin")
    _online(admin, "Ada")
    alice_context = browser.new_context()
    alice = alice_context.new_page()
    _login(alice, live_url, "alice")
    _online(alice, "Alice")
    alice_row = admin.locator('#routing-agents tr:has-text("Alice")')
    expect(alice_row).to_have_attribute("data-presence", "online")  # the admin sees every agent live

    alice_context.close()  # every tab closed
    expect(alice_row).to_have_attribute("data-presence", "offline", timeout=15_000)
    admin.screenshot(path=artifacts / "routing-auto-offline.png")
    profile = AgentProfile.objects.get(user__username="alice")
    assert profile.presence == AgentProfile.Presence.OFFLINE
    assert profile.presence_manual is False
    assert AgentProfile.objects.get(user__username="admin").presence == AgentProfile.Presence.ONLINE


def test_a_transfer_toasts_on_the_receiving_agents_open_inbox_and_writes_one_timeline_line(live_url, browser):
    alice_user = UserFactory(username="alice", first_name="Alice")
    bob_user = UserFactory(username="bob", first_name="Bob")
    alice = browser.new_context().new_page()
    _login(alice, live_url, "alice")
    _online(alice, "Alice")
    bob = browser.new_context().new_page()
    _login(bob, live_url, "bob")
    _online(bob, "Bob")  # his inbox page is open, its socket live
    conversation = ConversationFactory(pending=True, customer=CustomerFactory(name="Anna"))
    services.conversation_take(conversation_id=conversation.pk, agent=alice_user)

    alice.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    alice.get_by_test_id("transfer").locator("summary").click()
    form = alice.get_by_test_id("transfer-form")
    form.locator("select[name=target]").select_option(f"agent:{bob_user.pk}")
    form.locator("input[name=note]").fill("Wants a refund")
    form.get_by_role("button", name="Transfer").click()

    toast = bob.locator("#toasts a", has_text=f"conversation #{conversation.pk}")
    expect(toast).to_have_text(f"Alice transferred conversation #{conversation.pk} (Anna) to you: Wants a refund")
    toast.click()
    timeline = bob.get_by_test_id("timeline")
    expect(timeline.locator("li", has_text="Transferred by")).to_have_count(1)
    expect(timeline).to_contain_text("Transferred by Alice to Bob: Wants a refund")
    conversation.refresh_from_db()
    assert conversation.assigned_agent == bob_user

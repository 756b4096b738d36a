"""The live inbox under a burst of events: it ends up showing all of it, and each
agent's page reads the list at most once a second however busy the team is."""

import re
from itertools import pairwise

import pytest
from playwright.sync_api import expect

from conversations import services
from tests.e2e.test_handoff_flow import _login
from tests.e2e.threads import in_a_thread
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.e2e

HANDOFFS = 30
# When the page starts each read of the list (the page's own clock).
RECORD_LIST_READS = """
window.listReads = [];
const nativeFetch = window.fetch;
window.fetch = (url, ...rest) => {
  if (String(url).includes("/inbox/list/")) window.listReads.push(performance.now());
  return nativeFetch(url, ...rest);
};
"""


def test_a_burst_of_handoffs_shows_in_full_with_at_most_one_list_read_a_second(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    context = browser.new_context()
    context.add_init_script(RECORD_LIST_READS)
    page = context.new_page()
    _login(page, live_url, "alice")
    page.wait_for_function("() => window.listReads.length >= 1")  # the read on the socket's opening

    customers = CustomerFactory.create_batch(HANDOFFS)

    def burst():
        for customer in customers:  # each commits: a handoff event, a message, routing's
            services.customer_request_handoff(customer=customer)

    in_a_thread(burst)

    expect(page.locator('[data-count="pending"]')).to_have_text(str(HANDOFFS))
    expect(page.locator("#inbox-rows tr[data-conversation]")).to_have_count(HANDOFFS)
    reads = page.evaluate("window.listReads")
    gaps = [later - earlier for earlier, later in pairwise(reads)]
    assert len(reads) >= 2, reads  # the burst was read
    assert min(gaps) >= 990, gaps  # never two reads within a second


def test_waiting_since_ticks_on_without_a_reload(live_url, browser):
    UserFactory(username="alice", first_name="Alice")
    services.customer_request_handoff(customer=CustomerFactory())
    context = browser.new_context()
    context.clock.install()  # the page's clock, moved on by hand below; it runs on meanwhile
    page = context.new_page()
    _login(page, live_url, "alice")
    waiting = page.get_by_test_id("waiting-since")
    expect(waiting).to_have_text(re.compile(r"^(now|\d+ seconds? ago)$"))
    page.clock.fast_forward("59:00")
    expect(waiting).to_have_text("59 minutes ago")
    page.clock.fast_forward("01:00")
    expect(waiting).to_have_text("1 hour ago")


# Counts the inbox's live updates (each ends with a baton:parts event on the list).
COUNT_UPDATES = """
window.listUpdates = 0;
document.addEventListener("baton:parts", (e) => { if (e.detail?.part === "inbox") window.listUpdates += 1; });
"""


def test_a_live_update_swaps_only_the_rows_that_changed(live_url, browser):
    """A click or an open picker on the list survives other conversations' events: the
    header (with its sort button) and unchanged rows stay the very same nodes."""
    UserFactory(username="alice", first_name="Alice")
    quiet, busy = CustomerFactory(), CustomerFactory()
    for customer in (quiet, busy):
        services.customer_request_handoff(customer=customer)
    context = browser.new_context()
    context.add_init_script(COUNT_UPDATES)
    page = context.new_page()
    _login(page, live_url, "alice")
    page.wait_for_function("() => window.listUpdates >= 1")  # the read on the socket's opening
    quiet_id = quiet.conversations.get().pk
    busy_id = busy.conversations.get().pk
    page.evaluate(
        """([quiet, busy]) => { window.kept = {
            sort: document.getElementById("sla-sort"),
            quiet: document.querySelector(`tr[data-conversation="${quiet}"]`),
            busy: document.querySelector(`tr[data-conversation="${busy}"]`),
        }; }""",
        [quiet_id, busy_id],
    )

    in_a_thread(lambda: services.message_post_from_customer(customer=busy, body="Still waiting for my refund"))

    busy_row = page.locator(f'#inbox-rows tr[data-conversation="{busy_id}"]')
    expect(busy_row).to_contain_text("Still waiting for my refund")
    same = page.evaluate(
        """([quiet, busy]) => ({
            sort: window.kept.sort === document.getElementById("sla-sort"),
            quiet: window.kept.quiet === document.querySelector(`tr[data-conversation="${quiet}"]`),
            busy: window.kept.busy === document.querySelector(`tr[data-conversation="${busy}"]`),
        })""",
        [quiet_id, busy_id],
    )
    assert same == {"sort": True, "quiet": True, "busy": False}
    expect(page.locator("#inbox-rows tr[data-conversation]")).to_have_count(2)

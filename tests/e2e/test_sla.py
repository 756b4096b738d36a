"""A P1 conversation with a short target, watched by an admin: the countdown runs,
the badge turns At risk, then Breached, and the bell shows the breach, all live."""

import re
import threading

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from sla.models import DEFAULT_TARGETS, Breach, PriorityRule, SLAPolicy, SLATarget
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

FIRST_RESPONSE_SECONDS = 8  # at risk after 6.4 s


@pytest.fixture
def policy_standard(transactional_db):
    SLAPolicy.objects.update(is_default=False)
    policy = SLAPolicy.objects.create(name="Standard (test)", is_default=True)
    for priority, (first_response, resolution) in DEFAULT_TARGETS.items():
        SLATarget.objects.create(
            policy=policy, priority=priority, first_response_seconds=first_response, resolution_seconds=resolution
        )
    return policy


@pytest.fixture
def sweeper(settings):
    """The real trigger: the timers of the ASGI server (core/timers.py)."""
    settings.BATON_TIMERS_TICK_MS = 250


def test_a_p1_countdown_turns_at_risk_then_breached_and_rings_the_admins_bell(live_url, browser, artifacts, sweeper):
    assert django_settings.BATON_TIMERS_TICK_MS
    SLAPolicy.objects.update(is_default=False)  # the migration's Standard policy, if present
    policy = SLAPolicy.objects.create(name="Fast", is_default=True)
    for priority in range(1, 5):
        SLATarget.objects.create(
            policy=policy, priority=priority, first_response_seconds=FIRST_RESPONSE_SECONDS, resolution_seconds=3600
        )
    PriorityRule.objects.create(name="Asked for a person", priority=1, handoff_reason="customer_request")
    UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)

    admin = browser.new_context().new_page()
    admin.goto(f"{live_url}/login/?next=/inbox/%3Fview%3Dopen")
    admin.get_by_label("Username").fill("admin")
    admin.get_by_label("Password").fill("pw-for-tests")
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.get_by_test_id("tab-open")).to_be_visible()
    expect(admin.get_by_test_id("bell-count")).to_be_hidden()

    customer = browser.new_context().new_page()
    customer.goto(f"{live_url}/chat/")
    customer.get_by_test_id("talk-to-person").click()

    row = admin.locator("#inbox-rows tr[data-conversation]")
    expect(row).to_have_count(1, timeout=15_000)
    expect(row.get_by_test_id("priority-select")).to_have_value("1")
    # The same admin also has the conversation page open.
    page = admin.context.new_page()
    page.goto(f"{live_url}/inbox/c/{row.get_attribute('data-conversation')}/")
    first_response = page.get_by_test_id("sla-first_response")
    expect(first_response.get_by_test_id("sla-countdown")).to_contain_text("left")
    countdown = row.get_by_test_id("sla-countdown")
    expect(countdown).to_contain_text("left", timeout=5_000)
    badge = row.get_by_test_id("sla-badge")
    expect(badge).to_be_hidden()
    expect(badge).to_have_text("At risk", timeout=FIRST_RESPONSE_SECONDS * 1000)
    admin.screenshot(path=artifacts / "sla-at-risk.png")
    expect(badge).to_have_text("Breached", timeout=FIRST_RESPONSE_SECONDS * 1000)
    expect(countdown).to_contain_text("over")

    # The server's breach record reaches the bell without a reload.
    expect(admin.get_by_test_id("bell-count")).to_have_text("1", timeout=10_000)
    admin.get_by_test_id("bell").click()
    expect(admin.get_by_test_id("notification")).to_have_count(1)
    expect(admin.get_by_test_id("notification")).to_contain_text("SLA breached")
    admin.screenshot(path=artifacts / "sla-breached-bell.png")

    # On the conversation page: the badge, and the breach on the timeline, live.
    expect(first_response.get_by_test_id("sla-badge")).to_have_text("Breached")
    expect(page.locator('#timeline [data-kind="sla.breached"]')).to_have_count(1, timeout=10_000)
    # Keys 1-4 set the priority; the change is on the timeline at once.
    page.locator("body").press("2")
    expect(page.locator("#sla-panel").get_by_test_id("priority-select")).to_have_value("2")
    # The list pane beside the thread follows.
    expect(page.locator("#inbox-rows tr.open").get_by_test_id("priority-select")).to_have_value("2")
    expect(page.get_by_test_id("conversation-meta").locator(".prio")).to_have_text("P2")
    expect(page.locator('#timeline [data-kind="priority.changed"]').last).to_contain_text("Priority P1 → P2 (Ada)")
    page.screenshot(path=artifacts / "sla-conversation.png")
    breach = Breach.objects.get()
    assert breach.priority == 1
    assert breach.detected_at >= breach.deadline


def test_the_queue_sorts_by_time_to_breach(live_url, browser, policy_standard):
    from datetime import timedelta

    from django.utils import timezone

    from sla import services
    from tests.factories import ConversationFactory

    now = timezone.now()
    # Server order: P2 before P3. But the P3 conversation has waited 59 of its 60 minutes.
    urgent_soon = ConversationFactory(pending=True, priority=3, handed_off_at=now - timedelta(minutes=59))
    later = ConversationFactory(pending=True, priority=2, handed_off_at=now)

    # In a thread of its own: the service pushes on commit, which it cannot do from
    # the thread where Playwright's event loop runs.
    def start_timers():
        from django.db import connection

        for conversation in (urgent_soon, later):
            services.timers_start(conversation=conversation, now=now)
        connection.close()

    starter = threading.Thread(target=start_timers)
    starter.start()
    starter.join(timeout=30)
    UserFactory(username="alice", first_name="Alice")

    page = browser.new_context().new_page()
    page.goto(f"{live_url}/login/?next=/inbox/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Sign in").click()
    rows = page.locator("#inbox-rows tr[data-conversation]")
    expect(rows.first).to_have_attribute("data-conversation", str(later.pk))
    expect(rows.nth(0).get_by_test_id("sla-countdown")).to_contain_text("left")
    page.get_by_test_id("sla-sort").click()
    expect(page.get_by_test_id("sla-sort")).to_have_attribute("aria-pressed", "true")
    expect(rows.first).to_have_attribute("data-conversation", str(urgent_soon.pk))
    expect(rows.first.get_by_test_id("sla-countdown")).to_contain_text(re.compile(r"^0:\d\d left$"))

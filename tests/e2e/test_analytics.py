"""The analytics dashboard in a browser: reach it from the inbox header, filter,
read a chart, download a CSV, and watch the "now" panel follow a new handoff."""

import csv
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from analytics.services import preference_set
from conversations import services
from tests.analytics.scenario import TZ, build_week
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.e2e


def _login(page, base, username):
    page.goto(f"{base}/login/?next=/inbox/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("tab-pending")).to_be_visible()


def test_filter_read_a_chart_download_a_csv_and_see_the_queue_live(live_url, browser, artifacts, tmp_path):
    admin = UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)
    alice = UserFactory(username="alice", first_name="Alice")
    bob = UserFactory(username="bob", first_name="Bob")
    carol = UserFactory(username="carol", first_name="Carol")
    preference_set(user=admin, time_zone=TZ)
    week = build_week(alice=alice, bob=bob, carol=carol)

    page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
    _login(page, live_url, "admin")
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    expect(page.locator("#analytics-live")).to_have_text("live")

    # The known week, urgent conversations only.
    page.get_by_label("Period", exact=True).select_option("custom")
    page.get_by_label("From", exact=True).fill("2026-03-02")
    page.get_by_label("To", exact=True).fill("2026-03-08")
    page.get_by_label("Priority", exact=True).select_option("1")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator('[data-figure="conversations"]')).to_have_text("3")
    expect(page.locator("#analytics-filters")).to_contain_text("2026-03-02 to 2026-03-08")

    # The chart: one bar per day and series; its tooltips carry the figures.
    chart = page.locator('svg[aria-label="Conversations started per day"]')
    expect(chart.locator("rect.bar")).to_have_count(7 * 3)
    handed_off = chart.locator('rect.bar[data-series="Handed off"] title')
    assert handed_off.all_text_contents() == [
        f"Mar 0{d}: {n} Handed off" for d, n in zip(range(2, 9), [0, 1, 1, 1, 0, 0, 0], strict=True)
    ]
    assert chart.bounding_box()["width"] > 300
    chart.screenshot(path=str(artifacts / "analytics-chart.png"))

    # The CSV of a table, with the same filters.
    with page.expect_download() as download:
        page.locator("#table-response_times a.an-csv").click()
    path = tmp_path / "response.csv"
    download.value.save_as(path)
    assert download.value.suggested_filename == "baton-response_times-2026-03-02-2026-03-08.csv"
    rows = {r["Priority"]: r for r in csv.DictReader(path.open())}
    assert (rows["P1 Urgent"]["Handed off"], rows["P1 Urgent"]["Time pending p90"]) == ("3", "504.0")
    assert rows["P3 Normal"]["Handed off"] == "0"  # filtered out
    assert rows["All"]["Handed off"] == "3"

    # Every conversation, streamed from a server-side cursor through ASGI.
    with page.expect_download() as download:
        page.get_by_role("link", name="All conversations (CSV)").click()
    download.value.save_as(tmp_path / "all.csv")
    started = [r["Started"] for r in csv.DictReader((tmp_path / "all.csv").open())]
    assert len(started) == 3 and started[0] == "2026-03-03T10:00:00+01:00"  # H1, H2, H3

    # A new handoff reaches the "now" panel without a reload.
    waiting = page.locator('[data-now="waiting"]')
    expect(waiting).to_have_text("1")
    conversation = ConversationFactory(last_seq=1)
    MessageFactory(conversation=conversation, seq=1, body="Where is my parcel?")

    # Outside Playwright's thread: the broadcast after commit bridges to the channel layer.
    def hand_off():
        try:
            services.conversation_handoff(conversation=conversation, reason="customer_request")
        finally:
            connection.close()

    handoff = threading.Thread(target=hand_off)
    handoff.start()
    handoff.join(timeout=30)
    expect(waiting).to_have_text("2", timeout=10_000)
    page.screenshot(path=str(artifacts / "analytics-dashboard.png"), full_page=True)
    assert week["H5"].status == "pending_handoff"

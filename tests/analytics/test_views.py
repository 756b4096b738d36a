import asyncio
import re

import pytest
from django.urls import reverse

from analytics.models import HandoffQuestion
from routing.models import Skill
from tests.analytics.pages import read_csv, read_page
from tests.analytics.scenario import WEEK

pytestmark = pytest.mark.django_db


def _get(client, params=None, name="analytics"):
    response = client.get(reverse(name), params or WEEK)
    assert response.status_code == 200
    return read_page(response.content.decode()), response.content.decode()


def test_it_requires_login(client):
    for name in ("analytics", "analytics-now", "analytics-breaches"):
        assert client.get(reverse(name))["Location"].startswith(reverse("login"))
    assert client.get(reverse("analytics-export", args=["agents"])).status_code == 302


def test_an_agent_sees_only_their_own_numbers(week, agent_client):
    page, html = _get(agent_client, {**WEEK, "agent": ""})  # the filter cannot widen it
    assert [r["agent"] for r in page.tables["agents"]] == ["Alice"]
    # Alice accepted H1, H3 (P1) and H4 (P3).
    assert [r["handed_off"] for r in page.tables["response_times"]] == ["2", "0", "1", "0", "3"]
    assert "bot_summary" not in page.tables
    assert [r["conversation"] for r in page.tables["breaches"]] == [f"#{week['H4'].pk}"]
    assert 'name="agent"' not in html
    rows = read_csv(agent_client.get(reverse("analytics-export", args=["agents"]), WEEK))
    assert [r["Agent"] for r in rows] == ["Alice"]
    rows = read_csv(agent_client.get(reverse("analytics-export", args=["breaches"]), WEEK))
    assert [r["Conversation"] for r in rows] == [f"#{week['H4'].pk}"]


def test_an_agent_cannot_export_everything_nor_open_the_breach_list(week, agent_client):
    assert agent_client.get(reverse("analytics-export", args=["conversations"]), WEEK).status_code == 403
    assert agent_client.get(reverse("analytics-breaches"), WEEK).status_code == 403
    assert agent_client.get(reverse("analytics-export", args=["bot_summary"]), WEEK).status_code == 404


def test_filter_by_priority(week, admin_client):
    page, _ = _get(admin_client, {**WEEK, "priority": 1})
    assert page.figures["conversations"] == "3"  # H1, H2, H3
    assert [r["handed_off"] for r in page.tables["response_times"]] == ["3", "0", "0", "0", "3"]
    assert [r["conversation"] for r in page.tables["breaches"]] == [f"#{week['H2'].pk}"]


def test_filter_by_agent(week, admin_client, other_agent):
    page, _ = _get(admin_client, {**WEEK, "agent": other_agent.pk})
    assert [r["agent"] for r in page.tables["agents"]] == ["Bob"]
    assert page.tables["response_times"][-1]["first_response_50"] == "20m 00s"  # H2 only


def test_filter_by_handoff_reason(week, admin_client):
    page, _ = _get(admin_client, {**WEEK, "reason": "customer_request"})
    assert page.figures["conversations"] == "2"  # H3, H6
    assert [r["count"] for r in page.tables["handoff_reasons"]] == ["0", "2", "0", "0", "0"]
    assert page.tables["kb_entries"] == []


def test_filter_by_skill_the_conversation_required(week, admin_client):
    billing = Skill.objects.get(name="billing")
    page, _ = _get(admin_client, {**WEEK, "skill": billing.pk})
    assert page.figures["conversations"] == "1"  # H2
    assert [r["agent"] for r in page.tables["agents"]] == ["Bob"]  # the agents who have the skill
    rows = read_csv(
        admin_client.get(reverse("analytics-export", args=["conversations"]), {**WEEK, "skill": billing.pk})
    )
    assert [int(r["Conversation"]) for r in rows] == [week["H2"].pk]


def test_an_empty_period_and_an_agent_with_nothing_render_cleanly(week, admin_client):
    page, html = _get(admin_client, {"period": "custom", "start": "2027-01-01", "end": "2027-01-31"})
    # As words: the page's random CSRF token may hold the letters "nan".
    assert not re.search(r"\bNone\b", html) and not re.search(r"\bnan\b", html, re.IGNORECASE)
    assert page.figures["conversations"] == "0"
    assert page.figures["contained"] == "—"
    assert all(r["share"] == "—" for r in page.tables["bot_summary"])
    assert page.tables["response_times"][-1]["pending_50"] == "—"
    assert [r["compliance"] for r in page.tables["sla_compliance"]] == ["—"] * 10
    assert page.tables["breaches"] == []
    assert {r["handled"] for r in page.tables["agents"]} == {"0"}
    # The future has no time online, and no "None" in the CSV either.
    rows = read_csv(
        admin_client.get(
            reverse("analytics-export", args=["agents"]),
            {"period": "custom", "start": "2027-01-01", "end": "2027-01-31"},
        )
    )
    assert {r["Time online"] for r in rows} == {"0.0"}


def test_no_database_at_all(admin_client):
    page, html = _get(admin_client, {"period": "today"})
    assert "None" not in html
    assert page.figures["waiting"] == "0" and page.figures["at_risk"] == "0"
    assert page.tables["agents"] == []


def test_a_custom_period_must_make_sense(week, admin_client):
    _, html = _get(admin_client, {"period": "custom", "start": "2026-03-08", "end": "2026-03-02"})
    assert "The last day is before the first day." in html
    _, html = _get(admin_client, {"period": "custom", "start": "2024-01-01", "end": "2026-03-02"})
    assert "at most 366 days" in html


def test_every_conversation_export_streams(week, admin_client):
    response = admin_client.get(reverse("analytics-export", args=["conversations"]), WEEK)
    assert response.streaming
    assert len(read_csv(response)) == 9
    assert admin_client.get(reverse("analytics-export", args=["nope"]), WEEK).status_code == 404


def test_the_time_zone_moves_the_day_boundaries(week, admin_client):
    response = admin_client.post(
        reverse("analytics-time-zone"),
        {"time_zone": "UTC", "next_query": "period=custom&start=2026-03-02&end=2026-03-08"},
    )
    assert response["Location"] == reverse("analytics") + "?period=custom&start=2026-03-02&end=2026-03-08"
    page, _ = _get(admin_client)
    # In UTC, C1 (Sunday 23:30) is out, H6 and H7 (Sunday 22:30 and 23:05) are in.
    assert page.figures["conversations"] == "9"
    rows = read_csv(admin_client.get(reverse("analytics-export", args=["conversations"]), WEEK))
    assert [int(r["Conversation"]) for r in rows][-2:] == [week["H6"].pk, week["H7"].pk]
    assert week["C1"].pk not in [int(r["Conversation"]) for r in rows]


def test_a_bad_time_zone_is_refused_with_a_message(admin_client, admin_user):
    response = admin_client.post(reverse("analytics-time-zone"), {"time_zone": "Nowhere/Land"}, follow=True)
    assert "is not an IANA time zone" in response.content.decode()
    assert not hasattr(admin_user, "analytics_preference")


def test_now_fragment(week, agent_client):
    page = read_page(agent_client.get(reverse("analytics-now")).content.decode())
    assert (page.figures["waiting"], page.figures["agents_online"], page.figures["at_risk"]) == ("1", "1", "1")


def test_reachable_from_the_inbox_header_and_from_admin(admin_client, agent_client):
    assert f'href="{reverse("analytics")}">Analytics<' in admin_client.get(reverse("inbox")).content.decode()
    assert f'href="{reverse("analytics")}">My numbers<' in agent_client.get(reverse("inbox")).content.decode()
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:analytics_dashboard_changelist") in index
    assert reverse("admin:analytics_breachreport_changelist") in index
    assert admin_client.get(reverse("admin:analytics_dashboard_changelist"))["Location"] == reverse("analytics")
    assert admin_client.get(reverse("admin:analytics_breachreport_changelist"))["Location"] == reverse(
        "analytics-breaches"
    )


def test_user_text_is_escaped(week, admin_client):
    HandoffQuestion.objects.filter(conversation=week["H1"]).update(text="<script>alert(1)</script>")
    html = admin_client.get(reverse("analytics"), WEEK).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_admin_lists_handoff_questions_and_preferences(week, admin_client):
    response = admin_client.get(reverse("admin:analytics_handoffquestion_changelist"), {"q": "refund"})
    assert response.status_code == 200
    # H7 (the week after) too: the list is every question, newest first.
    assert [q.text for q in response.context["cl"].result_list] == ["refund???", *["how do i get a refund?"] * 2]
    assert admin_client.get(reverse("admin:analytics_preference_changelist")).status_code == 200


def test_a_period_without_breaches(week, admin_client):
    # P2: only H6, whose first-response breach falls on the Monday after the week.
    page, html = _get(admin_client, {**WEEK, "priority": 2})
    assert page.tables["breaches"] == []
    assert page.tables["sla_compliance"][1]["compliance"] == "0.0%"
    assert "Nothing in this period." in html and "None" not in html
    assert read_csv(admin_client.get(reverse("analytics-export", args=["breaches"]), {**WEEK, "priority": 2})) == []


def test_exports_stream_asynchronously_under_asgi(admin_user):
    """A synchronous iterator would be read whole before the first byte under ASGI."""
    from django.test import AsyncRequestFactory

    from analytics import views

    request = AsyncRequestFactory().get(reverse("analytics-export", args=["conversations"]), WEEK)
    request.user = admin_user
    response = views.export(request, key="conversations")
    assert response.is_async
    lines = iter([f"{i}\n" for i in range(1200)])

    async def read():
        return [chunk async for chunk in views._async_chunks(lines)]

    chunks = asyncio.run(read())
    assert [len(c.splitlines()) for c in chunks] == [500, 500, 200]
    assert "".join(chunks).split() == [str(i) for i in range(1200)]

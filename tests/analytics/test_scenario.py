"""Every figure of the dashboard and its CSV exports over a week worked out by hand
(tests/analytics/scenario.py). Runs on SQLite and PostgreSQL alike: the percentile
code differs per database, the numbers must not."""

import pytest
from django.urls import reverse

from tests.analytics.pages import read_csv, read_page
from tests.analytics.scenario import WEEK

pytestmark = pytest.mark.django_db

# What each table shows for the week (page text); the CSV has the same rows raw.
BOT_SUMMARY = [
    {"metric": "Started", "count": "9", "share": "100.0%"},
    {"metric": "Contained by the bot", "count": "2", "share": "22.2%"},
    {"metric": "Handed off", "count": "6", "share": "66.7%"},
    {"metric": "Still with the bot", "count": "1", "share": "11.1%"},
]
REASONS = [
    {"reason": "Bot not confident", "count": "3", "share": "50.0%"},
    {"reason": "Customer asked for a person", "count": "2", "share": "33.3%"},
    {"reason": "Bot answers did not help", "count": "1", "share": "16.7%"},
    {"reason": "Bot could not answer", "count": "0", "share": "0.0%"},
    {"reason": "Customer sent a file", "count": "0", "share": "0.0%"},
]
# Answered turns: 0.85, 0.92, 0.75, 0.62 (0.90 was the Sunday before). Handed off: 0.30, 0.20, 0.45, 0.55.
ANSWERED_BINS = {6: "1", 7: "1", 8: "1", 9: "1"}
HANDOFF_BINS = {2: "1", 3: "1", 4: "1", 5: "1"}
KB_ENTRIES = [
    {"entry": "reset-password", "title": "Reset Password", "count": "3"},
    {"entry": "export-data", "title": "Export Data", "count": "1"},
]
TOPICS = [
    {"entry": "billing-refund", "title": "Billing Refund", "count": "2", "confidence": "0.25"},
    {"entry": "export-data", "title": "Export Data", "count": "2", "confidence": "0.50"},
    {"entry": "(no match)", "title": "", "count": "2", "confidence": "—"},
]
# The questions of low-confidence handoffs only (H1, H2, H5): the ones the bot could not answer.
QUESTIONS = [
    {"question": "how do i get a refund?", "count": "2"},
    {"question": "export fails", "count": "1"},
]
# Time pending / first response / resolution, from the handoff, in seconds:
# P1 H1 120/240/1800, H2 600/1200/3600, H3 60/120/1800; P2 H6 1800/-/1800;
# P3 H4 1800/2400/-, H5 still waiting. p90 of three sorted values v: v1 + 0.8 (v2 - v1).
RESPONSE = [
    ["P1 Urgent", "3", "3", "3", "2m 00s", "8m 24s", "4m 00s", "16m 48s", "30m 00s", "54m 00s"],
    ["P2 High", "1", "0", "1", "30m 00s", "30m 00s", "—", "—", "30m 00s", "30m 00s"],
    ["P3 Normal", "2", "1", "0", "30m 00s", "30m 00s", "40m 00s", "40m 00s", "—", "—"],
    ["P4 Low", "0", "0", "0", "—", "—", "—", "—", "—", "—"],
    # pending 60,120,600,1800,1800; replies 120,240,1200,2400; resolution 1800,1800,1800,3600
    ["All", "6", "4", "4", "10m 00s", "30m 00s", "12m 00s", "34m 00s", "30m 00s", "51m 00s"],
]
RESPONSE_SECONDS = {
    "P1 Urgent": ["120.0", "504.0", "240.0", "1008.0", "1800.0", "3240.0"],
    "All": ["600.0", "1800.0", "720.0", "2040.0", "1800.0", "3060.0"],
    "P4 Low": ["", "", "", "", "", ""],
}
RESPONSE_KEYS = ["priority", "handed_off", "answered", "resolved"] + [
    f"{m}_{p}" for m in ("pending", "first_response", "resolution") for p in (50, 90)
]
# Accepted in the week; times from acceptance. Alice: replies 120, 60, 600; resolutions 1680, 1740.
# Load and presence are now; time online is clipped to the week.
AGENTS = [
    {
        "agent": "Alice",
        "presence": "Online",
        "handled": "3",
        "resolved": "2",
        "first_response": "2m 00s",
        "resolution": "28m 30s",
        "load": "1",
        "capacity": "4",
        "load_share": "25.0%",
        "online": "9h 30m",
    },
    {
        "agent": "Bob",
        "presence": "Away",
        "handled": "1",
        "resolved": "1",
        "first_response": "10m 00s",
        "resolution": "50m 00s",
        "load": "1",
        "capacity": "2",
        "load_share": "50.0%",
        "online": "3h 00m",
    },
    {
        "agent": "Carol",
        "presence": "Offline",
        "handled": "0",
        "resolved": "0",
        "first_response": "—",
        "resolution": "—",
        "load": "0",
        "capacity": "3",
        "load_share": "0.0%",
        "online": "0s",
    },
]
# Timers of the conversations handed off in the week (H1-H6): met, breached, still running.
SLA = [
    ["First response", "P1 Urgent", "3", "2", "1", "0", "66.7%"],
    ["First response", "P2 High", "1", "0", "1", "0", "0.0%"],
    ["First response", "P3 Normal", "2", "1", "1", "0", "50.0%"],
    ["First response", "P4 Low", "0", "0", "0", "0", "—"],
    ["First response", "All", "6", "3", "3", "0", "50.0%"],
    ["Resolution", "P1 Urgent", "3", "3", "0", "0", "100.0%"],
    ["Resolution", "P2 High", "1", "1", "0", "0", "100.0%"],
    ["Resolution", "P3 Normal", "2", "0", "1", "1", "0.0%"],
    ["Resolution", "P4 Low", "0", "0", "0", "0", "—"],
    ["Resolution", "All", "6", "4", "1", "1", "80.0%"],
]
SLA_KEYS = ["kind", "priority", "timers", "met", "breached", "open", "compliance"]


def _page(client):
    response = client.get(reverse("analytics"), WEEK)
    assert response.status_code == 200
    return read_page(response.content.decode())


def _csv(client, key):
    response = client.get(reverse("analytics-export", args=[key]), WEEK)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="baton-' + key + '-2026-03-02-2026-03-08.csv"' in response["Content-Disposition"]
    return read_csv(response)


def test_bot_figures(week, admin_client):
    page = _page(admin_client)
    assert page.figures["conversations"] == "9"
    assert page.figures["contained"] == "22.2%"
    assert page.figures["handoff_rate"] == "66.7%"
    assert page.tables["bot_summary"] == BOT_SUMMARY
    assert page.tables["handoff_reasons"] == REASONS
    bins = page.tables["confidence"]
    assert [b["answered"] for b in bins] == [ANSWERED_BINS.get(i, "0") for i in range(10)]
    assert [b["handed_off"] for b in bins] == [HANDOFF_BINS.get(i, "0") for i in range(10)]
    assert [b["answered_share"] for b in bins] == ["25.0%" if i in ANSWERED_BINS else "0.0%" for i in range(10)]
    assert page.tables["kb_entries"] == KB_ENTRIES
    assert page.tables["handoff_topics"] == TOPICS
    assert page.tables["handoff_questions"] == QUESTIONS


def test_bot_csv(week, admin_client):
    assert _csv(admin_client, "bot_summary") == [
        {"": "Started", "Conversations": "9", "Share": "100.0"},
        {"": "Contained by the bot", "Conversations": "2", "Share": "22.2"},
        {"": "Handed off", "Conversations": "6", "Share": "66.7"},
        {"": "Still with the bot", "Conversations": "1", "Share": "11.1"},
    ]
    assert [(r["Reason"], r["Handoffs"], r["Share"]) for r in _csv(admin_client, "handoff_reasons")] == [
        (r["reason"], r["count"], r["share"].rstrip("%")) for r in REASONS
    ]
    confidence = _csv(admin_client, "confidence")
    assert [r["Handed-off turns"] for r in confidence] == [HANDOFF_BINS.get(i, "0") for i in range(10)]
    assert [r["% of answered"] for r in confidence] == ["25.0" if i in ANSWERED_BINS else "0.0" for i in range(10)]
    assert [(r["Entry"], r["Answers"]) for r in _csv(admin_client, "kb_entries")] == [
        (e["entry"], e["count"]) for e in KB_ENTRIES
    ]
    assert [
        (r["Bot's best guess"], r["Handoffs"], r["Mean confidence"]) for r in _csv(admin_client, "handoff_topics")
    ] == [
        ("billing-refund", "2", "0.25"),
        ("export-data", "2", "0.50"),
        ("(no match)", "2", ""),
    ]
    assert [(r["Question"], r["Handoffs"]) for r in _csv(admin_client, "handoff_questions")] == [
        (q["question"], q["count"]) for q in QUESTIONS
    ]


def test_queue_and_response_figures(week, admin_client):
    page = _page(admin_client)
    assert [[row[k] for k in RESPONSE_KEYS] for row in page.tables["response_times"]] == RESPONSE
    assert page.tables["queue_now"] == [
        {"priority": "P1 Urgent", "waiting": "0", "oldest": "—"},
        {"priority": "P2 High", "waiting": "0", "oldest": "—"},
        # Handed off at 23:00 UTC on 7 March: midnight in Berlin.
        {"priority": "P3 Normal", "waiting": "1", "oldest": "2026-03-08 00:00"},
        {"priority": "P4 Low", "waiting": "0", "oldest": "—"},
    ]


def test_queue_and_response_csv(week, admin_client):
    rows = {r["Priority"]: r for r in _csv(admin_client, "response_times")}
    assert [[rows[r[0]][h] for h in ("Handed off", "Answered", "Resolved")] for r in RESPONSE] == [
        r[1:4] for r in RESPONSE
    ]
    for priority, seconds in RESPONSE_SECONDS.items():
        assert list(rows[priority].values())[4:] == seconds
    assert _csv(admin_client, "queue_now")[2] == {
        "Priority": "P3 Normal",
        "Waiting": "1",
        "Waiting since": "2026-03-08T00:00:00+01:00",
    }


def test_agent_figures_including_an_agent_without_conversations(week, admin_client):
    page = _page(admin_client)
    assert page.tables["agents"] == AGENTS
    csv_rows = {r["Agent"]: r for r in _csv(admin_client, "agents")}
    assert list(csv_rows) == ["Alice", "Bob", "Carol"]
    assert csv_rows["Alice"]["First response median"] == "120.0"
    assert csv_rows["Alice"]["Resolution median"] == "1710.0"
    assert csv_rows["Alice"]["Time online"] == str(9.5 * 3600)
    assert csv_rows["Alice"]["Load"] == "25.0"
    assert csv_rows["Carol"]["First response median"] == ""
    assert csv_rows["Carol"]["Accepted"] == "0"
    assert csv_rows["Carol"]["Time online"] == "0.0"


def test_sla_figures(week, admin_client):
    page = _page(admin_client)
    assert [[r[k] for k in SLA_KEYS] for r in page.tables["sla_compliance"]] == SLA
    c = week
    # Deadlines in the week, newest first; H6's (Monday 00:00 Berlin) belongs to the next week.
    latest = [(r["conversation"], r["priority"], r["kind"], r["deadline"], r["agent"]) for r in page.tables["breaches"]]
    assert latest == [
        (f"#{c['H5'].pk}", "P3 Normal", "First response", "2026-03-08 01:00", ""),
        (f"#{c['H4'].pk}", "P3 Normal", "Resolution", "2026-03-06 17:00", "alice"),
        (f"#{c['H2'].pk}", "P1 Urgent", "First response", "2026-03-04 11:05", "bob"),
    ]
    assert page.tables["sla_at_risk"] == [
        {
            "conversation": f"#{c['H5'].pk}",
            "priority": "P3 Normal",
            "kind": "Resolution",
            "agent": "",
            "due_at": "2026-03-08 08:00",
            "left": "0s",
        }
    ]
    assert page.figures["waiting"] == "1"
    assert page.figures["agents_online"] == "1"
    assert page.figures["at_risk"] == "1"


def test_breaches_per_day_chart(week, admin_client):
    html = admin_client.get(reverse("analytics"), WEEK).content.decode()
    chart = html[html.index('aria-label="SLA breaches per day"') :]
    chart = chart[: chart.index("</svg>")]
    titles = [t.split("</title>")[0] for t in chart.split("<title>")[1:]]
    assert titles == [
        "Mar 02: 0 Breaches",
        "Mar 03: 0 Breaches",
        "Mar 04: 1 Breaches",
        "Mar 05: 0 Breaches",
        "Mar 06: 1 Breaches",
        "Mar 07: 0 Breaches",
        "Mar 08: 1 Breaches",
    ]


def test_sla_csv_and_breach_list(week, admin_client):
    rows = _csv(admin_client, "sla_compliance")
    assert [list(r.values()) for r in rows] == [[*r[:6], r[6].rstrip("%").replace("—", "")] for r in SLA]
    breaches = _csv(admin_client, "breaches")
    assert [(r["Conversation"], r["Target time"], r["Missed at"], r["Detected"]) for r in breaches] == [
        (f"#{week['H5'].pk}", "3600.0", "2026-03-08T01:00:00+01:00", "2026-03-08T01:00:30+01:00"),
        (f"#{week['H4'].pk}", "28800.0", "2026-03-06T17:00:00+01:00", "2026-03-06T17:00:30+01:00"),
        (f"#{week['H2'].pk}", "300.0", "2026-03-04T11:05:00+01:00", "2026-03-04T11:05:30+01:00"),
    ]
    response = admin_client.get(reverse("analytics-breaches"), WEEK)
    page = read_page(response.content.decode())
    assert [r["conversation"] for r in page.tables["breaches"]] == [r["Conversation"] for r in breaches]
    assert f'href="/inbox/c/{week["H2"].pk}/"' in response.content.decode()


def test_every_conversation_csv_holds_the_week_in_local_time(week, admin_client):
    rows = _csv(admin_client, "conversations")
    assert [int(r["Conversation"]) for r in rows] == [
        week[k].pk for k in ("C1", "H1", "H2", "B2", "B3", "H3", "H4", "H5", "H6")
    ]
    first = rows[0]
    assert first["Started"] == "2026-03-02T00:30:00+01:00"
    h2 = next(r for r in rows if int(r["Conversation"]) == week["H2"].pk)
    assert (h2["Agent"], h2["Time pending (s)"], h2["First response (s)"], h2["Resolution (s)"]) == (
        "bob",
        "600.0",
        "1200.0",
        "3600.0",
    )
    assert "None" not in "".join(v for r in rows for v in r.values())


def test_the_page_never_says_none(week, admin_client):
    html = admin_client.get(reverse("analytics"), WEEK).content.decode()
    assert "None" not in html

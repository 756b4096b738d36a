"""The queue report: response times by priority from the handoff, and who waits now."""

from datetime import datetime

from django.db.models import Count, Min

from analytics.filters import Filters
from analytics.percentiles import COUNTS, PERCENTS, TOTAL, duration_percentiles
from analytics.selectors.common import PRIORITIES, RESPONSE_TIMES, Status
from analytics.tables import Column, Table
from conversations.models import Conversation


def _percentile_columns(prefix_labels: dict[str, str]) -> list[Column]:
    return [
        Column(f"{name}_{p}", f"{label} {'median' if p == 50 else f'p{p}'}", "duration")
        for name, label in prefix_labels.items()
        for p in PERCENTS
    ]


def _percentile_cells(figures: dict) -> dict:
    return {f"{name}_{p}": figures.get(name, {}).get(p) for name in RESPONSE_TIMES for p in PERCENTS}


def queue_report(*, filters: Filters) -> dict:
    handed = Conversation.objects.filter(filters.within("handed_off_at"), filters.conversations())
    by_priority = duration_percentiles(
        handed,
        values=RESPONSE_TIMES,
        group="priority",
        counts={"n": None, "answered": "first_agent_reply_at", "resolved": "resolved_at"},
        total=True,
    )
    overall = by_priority.pop(TOTAL, {})
    rows = []
    for priority in PRIORITIES:
        c = by_priority.get(priority.value, {}).get(COUNTS, {})
        rows.append(
            {
                "priority": priority.label,
                "handed_off": c.get("n", 0),
                "answered": c.get("answered", 0),
                "resolved": c.get("resolved", 0),
                **_percentile_cells(by_priority.get(priority.value, {})),
            }
        )
    rows.append(
        {
            "priority": "All",
            "handed_off": sum(r["handed_off"] for r in rows),
            "answered": sum(r["answered"] for r in rows),
            "resolved": sum(r["resolved"] for r in rows),
            **_percentile_cells(overall),
        }
    )
    response = Table(
        "response_times",
        "Queue and response times by priority",
        [
            Column("priority", "Priority", "text"),
            Column("handed_off", "Handed off"),
            Column("answered", "Answered"),
            Column("resolved", "Resolved"),
            *_percentile_columns(
                {"pending": "Time pending", "first_response": "First response", "resolution": "Resolution"}
            ),
        ],
        rows,
        note="Conversations handed off in the period; every time is counted from the handoff. "
        "Medians and p90 interpolate between the two nearest values (PostgreSQL's percentile_cont).",
    )
    return {"tables": [response, queue_now(filters=filters)], "overall": overall, "rows": rows}


def queue_now(*, filters: Filters | None, now: datetime | None = None) -> Table:
    """Who is waiting right now, by priority (the agent filter does not apply: nobody has them yet)."""
    pending = Conversation.objects.filter(status=Status.PENDING_HANDOFF)
    if filters is not None:
        if filters.priority:
            pending = pending.filter(priority=filters.priority)
        if filters.handoff_reason:
            pending = pending.filter(handoff_reason=filters.handoff_reason)
    found = {r["priority"]: r for r in pending.values("priority").annotate(n=Count("pk"), oldest=Min("handed_off_at"))}
    rows = [
        {
            "priority": p.label,
            "waiting": found.get(p.value, {}).get("n", 0),
            "oldest": found.get(p.value, {}).get("oldest"),
        }
        for p in PRIORITIES
    ]
    return Table(
        "queue_now",
        "Queue now",
        [
            Column("priority", "Priority", "text"),
            Column("waiting", "Waiting"),
            Column("oldest", "Waiting since", "datetime"),
        ],
        rows,
    )

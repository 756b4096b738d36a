"""The SLA report: compliance per target and priority, what is at risk now, the breaches."""

from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.urls import reverse

from analytics.filters import Filters
from analytics.selectors.common import PRIORITIES, TOP, open_at_risk
from analytics.tables import Column, Table, pct
from conversations.models import Conversation, display_name
from sla.models import Breach, SLATimer


def _timers(filters: Filters):
    """Timers started in the period: a timer starts when its conversation is handed off."""
    return SLATimer.objects.filter(filters.within("started_at"), filters.conversations("conversation__"))


def _breaches(filters: Filters):
    return Breach.objects.filter(filters.within("deadline"), filters.conversations("conversation__"))


def sla_report(*, filters: Filters, now: datetime) -> dict:
    State, Kind = SLATimer.State, SLATimer.Kind
    found = {
        (r["priority"], r["kind"]): r
        for r in _timers(filters)
        .values("priority", "kind")
        .annotate(
            n=Count("pk"),
            met=Count("pk", filter=Q(state=State.MET)),
            breached=Count("pk", filter=Q(state=State.BREACHED)),
        )
    }
    rows = []
    for kind in Kind:
        for priority in [*PRIORITIES, None]:
            keys = [(p.value, kind.value) for p in PRIORITIES] if priority is None else [(priority.value, kind.value)]
            met = sum(found.get(k, {}).get("met", 0) for k in keys)
            breached = sum(found.get(k, {}).get("breached", 0) for k in keys)
            n = sum(found.get(k, {}).get("n", 0) for k in keys)
            rows.append(
                {
                    "kind": kind.label,
                    "priority": priority.label if priority is not None else "All",
                    "timers": n,
                    "met": met,
                    "breached": breached,
                    "open": n - met - breached,
                    "compliance": pct(met, met + breached),
                }
            )
    compliance = Table(
        "sla_compliance",
        "SLA compliance",
        [
            Column("kind", "Target", "text"),
            Column("priority", "Priority", "text"),
            Column("timers", "Timers"),
            Column("met", "Met"),
            Column("breached", "Breached"),
            Column("open", "Still running"),
            Column("compliance", "Compliance", "pct"),
        ],
        rows,
        note="Timers of conversations handed off in the period. Compliance: met / (met + breached); "
        "running timers are not counted yet.",
    )
    tz = filters.period.tz
    per_day = dict(
        _breaches(filters)
        .annotate(day=TruncDate("deadline", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    days = [{"day": d, "breaches": per_day.get(d, 0)} for d in filters.period.days]
    return {
        "available": True,
        "tables": [compliance, at_risk_rows(filters=filters, now=now), breach_rows(filters=filters, limit=TOP)],
        "days": days,
        "breaches": sum(per_day.values()),
        "compliance": {r["kind"]: r["compliance"] for r in rows if r["priority"] == "All"},
    }


def _conversation_link(pk: int) -> tuple[str, str]:
    return (f"#{pk}", reverse("inbox-conversation", args=[pk]))


def at_risk_rows(*, filters: Filters, now: datetime) -> Table:
    timers = (
        SLATimer.objects.filter(open_at_risk(now), filters.conversations("conversation__"))
        .select_related("conversation__assigned_agent")
        .order_by("due_at", "pk")[:50]
    )
    return Table(
        "sla_at_risk",
        "At risk now",
        [
            Column("conversation", "Conversation", "link"),
            Column("priority", "Priority", "text"),
            Column("kind", "Target", "text"),
            Column("agent", "Agent", "text"),
            Column("due_at", "Due", "datetime"),
            Column("left", "Time left", "duration"),
        ],
        [
            {
                "conversation": _conversation_link(t.conversation_id),
                "priority": t.get_priority_display(),
                "kind": t.get_kind_display(),
                "agent": display_name(t.conversation.assigned_agent) if t.conversation.assigned_agent else "",
                "due_at": t.due_at,
                "left": max(t.due_at - now, timedelta(0)),
            }
            for t in timers
        ],
        note="Open timers past their warning threshold, soonest due first (at most 50).",
    )


def breach_rows(*, filters: Filters, limit: int | None = None) -> Table:
    """Breaches whose deadline falls in the period, newest first; streamed when not limited."""
    qs = (
        _breaches(filters)
        .order_by("-deadline", "-pk")
        .values(
            "conversation_id",
            "kind",
            "priority",
            "deadline",
            "detected_at",
            "target_seconds",
            policy_name=F("policy__name"),
            agent_name=F("agent__username"),
        )
    )
    kinds, priorities = dict(SLATimer.Kind.choices), dict(Conversation.Priority.choices)

    def rows(source):
        for r in source:
            yield {
                "conversation": _conversation_link(r["conversation_id"]),
                "priority": priorities.get(r["priority"], r["priority"]),
                "kind": kinds.get(r["kind"], r["kind"]),
                "target": timedelta(seconds=r["target_seconds"]),
                "deadline": r["deadline"],
                "detected_at": r["detected_at"],
                "policy": r["policy_name"],
                "agent": r["agent_name"] or "",
            }

    return Table(
        "breaches",
        "Latest breaches",
        [
            Column("conversation", "Conversation", "link"),
            Column("priority", "Priority", "text"),
            Column("kind", "Target", "text"),
            Column("target", "Target time", "duration"),
            Column("deadline", "Missed at", "datetime"),
            Column("detected_at", "Detected", "datetime"),
            Column("policy", "Policy", "text"),
            Column("agent", "Agent", "text"),
        ],
        rows(qs[:limit]) if limit else rows(qs.iterator(chunk_size=2000)),
        streamed=limit is None,
    )

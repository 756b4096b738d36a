"""The reports: every figure is a database aggregate over the conversations, routing
and SLA tables; Python only arranges the (few) result rows.

Which rows a figure counts (periods are days in the admin's time zone; the table is
in docs/analytics.md):
- Bot: conversations *started* in the period; confidence: the bot's answers and
  handoffs that *happened* in the period.
- Queue and response: conversations *handed off* in the period. Time pending runs from
  handoff to acceptance (or to resolution if resolved from the queue); first response
  from handoff to the first agent reply; resolution from handoff to resolution.
- SLA: timers *started* in the period; breaches whose deadline is in it.
- Agents: conversations *accepted* in the period, times from acceptance.
"""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    Sum,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.urls import reverse

from analytics.filters import Filters
from analytics.models import HandoffQuestion
from analytics.percentiles import COUNTS, PERCENTS, TOTAL, duration_percentiles
from analytics.tables import Column, Table, pct
from conversations.models import Conversation, Message, display_name
from knowledge.models import Entry
from routing.models import AgentProfile, PresenceLog
from sla.models import Breach, SLATimer

Status = Conversation.Status
PRIORITIES = Conversation.Priority
CONFIDENCE_BINS = 10
TOP = 10


def duration(end: str, start: str):
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


# --- Bot ------------------------------------------------------------------------------------


def _confidence_bins(field: str) -> dict:
    """One Count per tenth of confidence, the last including 1.0."""
    bins = {}
    for i in range(CONFIDENCE_BINS):
        lo, hi = i / CONFIDENCE_BINS, (i + 1) / CONFIDENCE_BINS
        q = Q(**{f"{field}__gte": lo}) & (Q(**{f"{field}__lt": hi}) if i < CONFIDENCE_BINS - 1 else Q())
        bins[f"bin{i}"] = Count(field, filter=q)  # the field, not the pk: index-only on PostgreSQL
    return bins


def bot_report(*, filters: Filters) -> dict:
    started = Conversation.objects.filter(filters.within("created_at"), filters.conversations())
    reasons = Conversation.HandoffReason
    # One scan: per local day, then summed (every conversation of the period is on one of its days).
    days = _per_day(started, filters)
    counts = {key: sum(d[key] for d in days) for key in days[0] if key != "day"}
    total, handed_off = counts["total"], counts["handed_off"]
    summary = Table(
        "bot_summary",
        "Bot",
        [Column("metric", "", "text"), Column("count", "Conversations"), Column("share", "Share", "pct")],
        [
            {"metric": "Started", "count": total, "share": pct(total, total)},
            {"metric": "Contained by the bot", "count": counts["contained"], "share": pct(counts["contained"], total)},
            {"metric": "Handed off", "count": handed_off, "share": pct(handed_off, total)},
            {"metric": "Still with the bot", "count": counts["with_bot"], "share": pct(counts["with_bot"], total)},
        ],
        note="Contained: resolved without ever being handed off. Shares are of conversations started.",
    )
    reason_table = Table(
        "handoff_reasons",
        "Handoff reasons",
        [Column("reason", "Reason", "text"), Column("count", "Handoffs"), Column("share", "Share", "pct")],
        [
            {
                "reason": r.label,
                "count": counts[f"reason_{r.value}"],
                "share": pct(counts[f"reason_{r.value}"], handed_off),
            }
            for r in reasons
        ],
    )

    answered = Message.objects.filter(
        filters.within("created_at"), filters.conversations("conversation__"), sender=Message.Sender.BOT
    ).filter(confidence__isnull=False)
    answered_bins = answered.aggregate(n=Count("*"), **_confidence_bins("confidence"))
    handoffs = Conversation.objects.filter(filters.within("handed_off_at"), filters.conversations())
    handoff_bins = handoffs.aggregate(
        n=Count("handoff_confidence"),
        unscored=Count("handed_off_at", filter=Q(handoff_confidence__isnull=True)),
        **_confidence_bins("handoff_confidence"),
    )
    confidence = Table(
        "confidence",
        "Bot confidence",
        [
            Column("range", "Confidence", "text"),
            Column("answered", "Answered turns"),
            Column("answered_share", "% of answered", "pct"),
            Column("handed_off", "Handed-off turns"),
            Column("handed_off_share", "% of handed off", "pct"),
        ],
        [
            {
                "range": f"{i / CONFIDENCE_BINS:.1f}-{(i + 1) / CONFIDENCE_BINS:.1f}",
                "answered": answered_bins[f"bin{i}"],
                "answered_share": pct(answered_bins[f"bin{i}"], answered_bins["n"]),
                "handed_off": handoff_bins[f"bin{i}"],
                "handed_off_share": pct(handoff_bins[f"bin{i}"], handoff_bins["n"]),
            }
            for i in range(CONFIDENCE_BINS)
        ],
        note=f"Turns in the period. {handoff_bins['unscored']:,} handoffs had no score "
        "(the customer asked for a person).",
    )

    used = list(
        answered.annotate(entry=KT("sources__0__id"))
        .filter(entry__isnull=False)
        .values("entry")
        .annotate(n=Count("*"))
        .order_by("-n", "entry")[:TOP]
    )
    gaps = list(
        handoffs.annotate(entry=KT("handoff_sources__0__id"))
        .values("entry")
        .annotate(n=Count("pk"), avg=Avg("handoff_confidence"))
        .order_by("-n", F("entry").asc(nulls_last=True))[:TOP]
    )
    titles = dict(
        Entry.objects.filter(external_id__in=[r["entry"] for r in used + gaps if r["entry"]]).values_list(
            "external_id", "title"
        )
    )
    entries = Table(
        "kb_entries",
        "Knowledge-base entries most used",
        [Column("entry", "Entry", "text"), Column("title", "Title", "text"), Column("count", "Answers")],
        [{"entry": r["entry"], "title": titles.get(r["entry"], "(deleted)"), "count": r["n"]} for r in used],
        note="An answer uses the entry it ranked first.",
    )
    topics = Table(
        "handoff_topics",
        "What handed-off customers asked about",
        [
            Column("entry", "Bot's best guess", "text"),
            Column("title", "Title", "text"),
            Column("count", "Handoffs"),
            Column("confidence", "Mean confidence", "text"),
        ],
        [
            {
                "entry": r["entry"] or "(no match)",
                "title": titles.get(r["entry"], "") if r["entry"] else "",
                "count": r["n"],
                "confidence": f"{r['avg']:.2f}" if r["avg"] is not None else None,
            }
            for r in gaps
        ],
        note="Topics to write or improve entries for: the entry the bot ranked first when it handed off.",
    )
    questions = Table(
        "handoff_questions",
        "Questions that most often led to a handoff",
        [Column("question", "Question", "text"), Column("count", "Handoffs")],
        [
            {"question": r["text"], "count": r["n"]}
            for r in HandoffQuestion.objects.filter(
                filters.within("handed_off_at"), filters.conversations("conversation__")
            )
            .values("text")
            .annotate(n=Count("pk"))
            .order_by("-n", "text")[:TOP]
        ],
        note="What customers asked when the bot was not confident enough to answer, "
        "compared ignoring case and spacing.",
    )
    return {
        "total": total,
        "contained_share": pct(counts["contained"], total),
        "handoff_share": pct(handed_off, total),
        "tables": [summary, reason_table, confidence, entries, topics, questions],
        "days": days,
        "confidence_bins": confidence.rows,
    }


def _per_day(started, filters: Filters) -> list[dict]:
    tz = filters.period.tz
    aggregates = {
        # Counting an indexed column, not the pk, keeps the scan to the index (0006).
        "total": Count("*"),
        "contained": Count("created_at", filter=Q(status=Status.RESOLVED, handed_off_at__isnull=True)),
        "handed_off": Count("handed_off_at"),
        "with_bot": Count("created_at", filter=Q(status=Status.BOT)),
        **{
            f"reason_{r.value}": Count("created_at", filter=Q(handoff_reason=r.value))
            for r in Conversation.HandoffReason
        },
    }
    found = {
        r["day"]: r
        for r in started.annotate(day=TruncDate("created_at", tzinfo=tz)).values("day").annotate(**aggregates)
    }
    empty = dict.fromkeys(aggregates, 0)
    return [{**{k: found.get(day, empty)[k] for k in empty}, "day": day} for day in filters.period.days]


# --- Queue and response ---------------------------------------------------------------------

RESPONSE_TIMES = {
    "pending": ExpressionWrapper(
        Coalesce(F("assigned_at"), F("resolved_at")) - F("handed_off_at"), output_field=DurationField()
    ),
    "first_response": duration("first_agent_reply_at", "handed_off_at"),
    "resolution": duration("resolved_at", "handed_off_at"),
}


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


# --- Every conversation (the raw rows behind the figures, for spreadsheets) -----------------


def conversation_rows(*, filters: Filters) -> Table:
    """Every conversation started in the period, streamed from a server-side cursor."""
    qs = (
        Conversation.objects.filter(filters.within("created_at"), filters.conversations())
        .annotate(agent_name=F("assigned_agent__username"), **RESPONSE_TIMES)
        .order_by("created_at", "pk")
        .values(
            "pk",
            "created_at",
            "status",
            "priority",
            "handoff_reason",
            "handoff_confidence",
            "agent_name",
            "handed_off_at",
            "first_agent_reply_at",
            "resolved_at",
            *RESPONSE_TIMES,
        )
    )
    return Table(
        "conversations",
        "Conversations",
        [
            Column("pk", "Conversation"),
            Column("created_at", "Started", "datetime"),
            Column("status", "Status", "text"),
            Column("priority", "Priority"),
            Column("handoff_reason", "Handoff reason", "text"),
            Column("handoff_confidence", "Handoff confidence", "text"),
            Column("agent_name", "Agent", "text"),
            Column("handed_off_at", "Handed off", "datetime"),
            Column("first_agent_reply_at", "First agent reply", "datetime"),
            Column("resolved_at", "Resolved", "datetime"),
            Column("pending", "Time pending (s)", "duration"),
            Column("first_response", "First response (s)", "duration"),
            Column("resolution", "Resolution (s)", "duration"),
        ],
        qs.iterator(chunk_size=2000),
        streamed=True,
    )


# --- Agents ---------------------------------------------------------------------------------

AGENT_TIMES = {
    "first_response": duration("first_agent_reply_at", "assigned_at"),
    "resolution": duration("resolved_at", "assigned_at"),
}


def _time_online(filters: Filters, now: datetime) -> dict[int, timedelta]:
    """Per agent, the online intervals of the presence log clipped to the period (and to now)."""
    start, end = filters.period.start, min(filters.period.end, now)
    if end <= start:
        return {}
    clipped = ExpressionWrapper(
        Least(Coalesce(F("ended_at"), Value(now, DateTimeField())), Value(end, DateTimeField()))
        - Greatest(F("started_at"), Value(start, DateTimeField())),
        output_field=DurationField(),
    )
    return dict(
        PresenceLog.objects.filter(status=AgentProfile.Presence.ONLINE, started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .values("agent")
        .annotate(online=Sum(clipped))
        .values_list("agent", "online")
    )


def agents_report(*, filters: Filters, now: datetime) -> dict:
    """Per agent, conversations *accepted* in the period; times from acceptance."""
    accepted = Conversation.objects.filter(
        filters.within("assigned_at"), filters.conversations(), assigned_agent__isnull=False
    )
    times = duration_percentiles(
        accepted,
        values=AGENT_TIMES,
        group="assigned_agent",
        percents=(50,),
        counts={"n": None, "resolved": "resolved_at"},
    )
    handled = {agent: figures[COUNTS] for agent, figures in times.items()}
    load = dict(
        Conversation.objects.filter(status=Status.ASSIGNED)
        .values("assigned_agent")
        .annotate(n=Count("pk"))
        .values_list("assigned_agent", "n")
    )
    online = _time_online(filters, now)
    agents = get_user_model().objects.filter(Q(agent_profile__isnull=False) | Q(pk__in=list(handled)))
    if filters.agent is not None:
        agents = agents.filter(pk=filters.agent.pk)
    if filters.skill is not None:
        agents = agents.filter(agent_profile__skills=filters.skill)
    rows = []
    for user in agents.select_related("agent_profile").order_by("username"):
        profile = getattr(user, "agent_profile", None)
        figures = times.get(user.pk, {})
        rows.append(
            {
                "agent": display_name(user),
                "presence": profile.get_presence_display() if profile else "No profile",
                "handled": handled.get(user.pk, {}).get("n", 0),
                "resolved": handled.get(user.pk, {}).get("resolved", 0),
                "first_response": figures.get("first_response", {}).get(50),
                "resolution": figures.get("resolution", {}).get(50),
                "load": load.get(user.pk, 0),
                "capacity": profile.capacity if profile else None,
                "load_share": pct(load.get(user.pk, 0), profile.capacity) if profile else None,
                "online": online.get(user.pk, timedelta(0)),
            }
        )
    table = Table(
        "agents",
        "Agents",
        [
            Column("agent", "Agent", "text"),
            Column("presence", "Now", "text"),
            Column("handled", "Accepted"),
            Column("resolved", "Resolved"),
            Column("first_response", "First response median", "duration"),
            Column("resolution", "Resolution median", "duration"),
            Column("load", "Open now"),
            Column("capacity", "Capacity"),
            Column("load_share", "Load", "pct"),
            Column("online", "Time online", "duration"),
        ],
        rows,
        note="Conversations accepted in the period, times from acceptance; load and capacity are now; "
        "time online is within the period.",
    )
    return {"tables": [table], "rows": rows}


# --- SLA ------------------------------------------------------------------------------------


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


def _open_at_risk(now: datetime) -> Q:
    """Open timers past their warning threshold, whether or not a sweep has marked them yet."""
    State = SLATimer.State
    return Q(state=State.AT_RISK) | Q(state=State.RUNNING, at_risk_at__lte=now)


def at_risk_rows(*, filters: Filters, now: datetime) -> Table:
    timers = (
        SLATimer.objects.filter(_open_at_risk(now), filters.conversations("conversation__"))
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


# --- Now --------------------------------------------------------------------------------------


def now_panel(*, now: datetime) -> dict:
    """What the live panel shows; cheap (a few indexed counts), fetched on every live event."""
    queue = queue_now(filters=None)
    return {
        "queue": queue.rows,
        "waiting": sum(r["waiting"] for r in queue.rows),
        "agents_online": AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE).count(),
        "at_risk": SLATimer.objects.filter(_open_at_risk(now)).values("conversation").distinct().count(),
    }

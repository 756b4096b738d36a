"""The reports: every figure is a database aggregate over the conversations (and,
later, routing and SLA) tables; Python only arranges the rows.

Which conversations a figure counts (all in the admin's time zone, see docs/analytics.md):
- Bot: conversations *started* in the period; confidence: the bot's answers and
  handoffs that *happened* in the period.
- Queue and response: conversations *handed off* in the period. Time pending runs from
  handoff to acceptance (or to resolution if resolved from the queue); first response
  from handoff to the first agent reply; resolution from handoff to resolution.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Min, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Lower, Substr, Trim, TruncDate

from analytics.filters import Filters
from analytics.percentiles import PERCENTS, duration_percentiles
from analytics.tables import Column, Table, pct
from conversations.models import Conversation, Message, display_name
from knowledge.models import Entry

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
        bins[f"bin{i}"] = Count("pk", filter=q)
    return bins


def bot_report(*, filters: Filters) -> dict:
    started = Conversation.objects.filter(filters.within("created_at"), filters.conversations())
    reasons = Conversation.HandoffReason
    counts = started.aggregate(
        total=Count("pk"),
        contained=Count("pk", filter=Q(status=Status.RESOLVED, handed_off_at__isnull=True)),
        handed_off=Count("pk", filter=Q(handed_off_at__isnull=False)),
        with_bot=Count("pk", filter=Q(status=Status.BOT)),
        **{f"reason_{r.value}": Count("pk", filter=Q(handoff_reason=r.value)) for r in reasons},
    )
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
    answered_bins = answered.aggregate(n=Count("pk"), **_confidence_bins("confidence"))
    handoffs = Conversation.objects.filter(filters.within("handed_off_at"), filters.conversations())
    handoff_bins = handoffs.aggregate(
        n=Count("pk", filter=Q(handoff_confidence__isnull=False)),
        unscored=Count("pk", filter=Q(handoff_confidence__isnull=True)),
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
        .annotate(n=Count("pk"))
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
    # The customer's last message before the handoff, normalised, grouped.
    question = (
        Message.objects.filter(
            conversation=OuterRef("pk"), sender=Message.Sender.CUSTOMER, created_at__lte=OuterRef("handed_off_at")
        )
        .order_by("-seq")
        .values(text=Lower(Trim(Substr("body", 1, 200))))[:1]
    )
    questions = Table(
        "handoff_questions",
        "Questions that most often led to a handoff",
        [Column("question", "Question", "text"), Column("count", "Handoffs")],
        [
            {"question": r["question"], "count": r["n"]}
            for r in handoffs.annotate(question=Subquery(question))
            .filter(question__isnull=False)
            .values("question")
            .annotate(n=Count("pk"))
            .order_by("-n", "question")[:TOP]
        ],
        note="The customer's last message before the handoff, compared in lower case.",
    )
    days = _per_day(started, filters)
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
    found = {
        r["day"]: r
        for r in started.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(
            total=Count("pk"),
            contained=Count("pk", filter=Q(status=Status.RESOLVED, handed_off_at__isnull=True)),
            handed_off=Count("pk", filter=Q(handed_off_at__isnull=False)),
        )
    }
    empty = {"total": 0, "contained": 0, "handed_off": 0}
    return [{"day": day, **{k: found.get(day, empty)[k] for k in empty}} for day in filters.period.days]


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
    counts = {
        r["priority"]: r
        for r in handed.values("priority").annotate(
            n=Count("pk"),
            answered=Count("pk", filter=Q(first_agent_reply_at__isnull=False)),
            resolved=Count("pk", filter=Q(resolved_at__isnull=False)),
        )
    }
    by_priority = duration_percentiles(handed, values=RESPONSE_TIMES, group="priority")
    overall = duration_percentiles(handed, values=RESPONSE_TIMES).get(None, {})
    rows = []
    for priority in PRIORITIES:
        c = counts.get(priority.value, {})
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


def _agents(filters: Filters):
    User = get_user_model()
    if filters.agent is not None:
        return User.objects.filter(pk=filters.agent.pk)
    return User.objects.filter(is_active=True, is_staff=False)


def agents_report(*, filters: Filters, now: datetime) -> dict:
    """Per agent, conversations *accepted* in the period; times from acceptance."""
    accepted = Conversation.objects.filter(
        filters.within("assigned_at"), filters.conversations(), assigned_agent__isnull=False
    )
    handled = {
        r["assigned_agent"]: r
        for r in accepted.values("assigned_agent").annotate(
            n=Count("pk"), resolved=Count("pk", filter=Q(resolved_at__isnull=False))
        )
    }
    times = duration_percentiles(accepted, values=AGENT_TIMES, group="assigned_agent", percents=(50,))
    load = dict(
        Conversation.objects.filter(status=Status.ASSIGNED)
        .values("assigned_agent")
        .annotate(n=Count("pk"))
        .values_list("assigned_agent", "n")
    )
    rows = []
    for user in _agents(filters).order_by("username"):
        figures = times.get(user.pk, {})
        rows.append(
            {
                "agent": display_name(user),
                "handled": handled.get(user.pk, {}).get("n", 0),
                "resolved": handled.get(user.pk, {}).get("resolved", 0),
                "first_response": figures.get("first_response", {}).get(50),
                "resolution": figures.get("resolution", {}).get(50),
                "load": load.get(user.pk, 0),
            }
        )
    table = Table(
        "agents",
        "Agents",
        [
            Column("agent", "Agent", "text"),
            Column("handled", "Accepted"),
            Column("resolved", "Resolved"),
            Column("first_response", "First response median", "duration"),
            Column("resolution", "Resolution median", "duration"),
            Column("load", "Open now"),
        ],
        rows,
        note="Conversations accepted in the period; times from acceptance.",
    )
    return {"tables": [table], "rows": rows}


# --- SLA ------------------------------------------------------------------------------------


def sla_report(*, filters: Filters, now: datetime) -> dict:
    return {"available": False, "tables": [], "days": [{"day": d, "breaches": 0} for d in filters.period.days]}


def breach_rows(*, filters: Filters, limit: int | None = None) -> Table:
    return Table("breaches", "SLA breaches", [Column("conversation", "Conversation", "link")], [])


# --- Now --------------------------------------------------------------------------------------


def now_panel(*, now: datetime) -> dict:
    """What the live panel shows; cheap (a few indexed counts), fetched on every live event."""
    queue = queue_now(filters=None)
    return {
        "queue": queue.rows,
        "waiting": sum(r["waiting"] for r in queue.rows),
        "agents_online": None,
        "at_risk": None,
    }

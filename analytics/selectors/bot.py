"""The bot report: containment, handoff reasons, confidence, what the bot used and missed."""

from django.db.models import Avg, Count, F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from analytics.filters import Filters
from analytics.models import HandoffQuestion
from analytics.selectors.common import TOP, Status
from analytics.tables import Column, Table, pct
from conversations.models import Conversation, Message
from knowledge.models import Entry

CONFIDENCE_BINS = 10


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

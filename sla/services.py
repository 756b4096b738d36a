"""The write path of the SLA app: timers, the sweep, breaches, notifications, priority rules.

Lock order (docs/concurrency.md): the conversation row, then its timer rows. The
services called from conversation services run while the conversation row is
locked; the sweep takes both with SKIP LOCKED in one statement, so it never waits
for a conversation an agent is replying to and never deadlocks with one.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F

from conversations import services as conversation_services
from conversations.models import Conversation, Message, Note, display_name
from knowledge.models import Entry
from sla import broadcast, queries, selectors
from sla.models import Breach, Notification, PriorityRule, SLATimer
from sla.timing import thresholds

logger = logging.getLogger(__name__)

State = SLATimer.State
Kind = SLATimer.Kind
OPEN = list(SLATimer.OPEN_STATES)
# Timers one sweep transaction handles; a catch-up loops over batches.
SWEEP_BATCH = 5000
# How much of a note its mention's bell entry quotes.
MENTION_EXCERPT = 200


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


# --- Timers -----------------------------------------------------------------


@transaction.atomic(savepoint=False)
def timers_start(*, conversation: Conversation, now: datetime) -> list[SLATimer]:
    """Start the first-response and resolution timers of a conversation that just
    entered Pending Handoff (once: the unique constraint refuses a second start),
    against the default policy's target for its priority."""
    found = selectors.default_target_for(priority=conversation.priority)
    if found is None:
        logger.warning(
            "No SLA policy/target for P%s: conversation %s runs without SLA", conversation.priority, conversation.pk
        )
        return []
    target, calendar = found
    policy = target.policy
    started_at = conversation.handed_off_at or now
    timers = []
    for kind in Kind:
        seconds = target.seconds_for(kind)
        at_risk_at, due_at = thresholds(start=started_at, seconds=seconds, calendar=calendar)
        timer = SLATimer(
            conversation=conversation,
            kind=kind,
            policy=policy,
            priority=conversation.priority,
            target_seconds=seconds,
            started_at=started_at,
            at_risk_at=at_risk_at,
            due_at=due_at,
        )
        timers.append(timer)
    timers = queries.timers_insert(timers)
    first = next(t for t in timers if t.kind == Kind.FIRST_RESPONSE)
    conversation_services.timeline_record(
        conversation=conversation,
        kind="sla.started",
        text=f"SLA {policy.name} P{conversation.priority}: first response due {_when(first.due_at)}",
        data={"policy": policy.pk, "due_at": [t.due_at.isoformat() for t in timers]},
        at=now,
    )
    broadcast.notify_timers(timers)
    return timers


@transaction.atomic(savepoint=False)
def timers_reprioritise(*, conversation: Conversation, priority: int, now: datetime) -> list[SLATimer]:
    """Recompute open timers' deadlines for a new priority, from their original start.

    A timer already past its new deadline is left for the next sweep (within a
    second), which records the breach at that deadline. Finished timers keep theirs.
    """
    changed = []
    for timer in (
        SLATimer.objects.select_for_update().select_related("policy").filter(conversation=conversation, state__in=OPEN)
    ):
        target = selectors.target_for(policy=timer.policy, priority=priority)
        if target is None:
            continue
        seconds = target.seconds_for(timer.kind)
        at_risk_at, due_at = thresholds(start=timer.started_at, seconds=seconds, calendar=timer.policy.calendar())
        # Back to running if the new at-risk moment is still ahead; a running timer
        # already past it stays running so the sweep records the at-risk event.
        state = State.RUNNING if now < at_risk_at else timer.state
        updated = SLATimer.objects.filter(pk=timer.pk, state=timer.state).update(
            priority=priority, target_seconds=seconds, at_risk_at=at_risk_at, due_at=due_at, state=state
        )
        if updated:
            timer.refresh_from_db()
            changed.append(timer)
    broadcast.notify_timers(changed)
    return changed


@transaction.atomic(savepoint=False)
def timers_stop(*, conversation: Conversation, kinds: list[str], now: datetime) -> list[SLATimer]:
    """Stop timers (first reply: first response; resolution: both): met if before
    their deadline, else breached, recording the breach here if no sweep has yet.
    The rows are locked first, so a sweep cannot move them meanwhile."""
    timers = queries.timers_lock(conversation_id=conversation.pk, kinds=kinds)
    met = [t for t in timers if t.state in OPEN and now < t.due_at]
    late = [t for t in timers if t.state in OPEN and now >= t.due_at]
    unstopped = [t for t in timers if t.state not in OPEN and t.stopped_at is None]
    if met:
        queries.timers_mark_met(ids=[t.pk for t in met], now=now)  # locked above: still open
        for timer in met:
            timer.state, timer.stopped_at = State.MET, now
    if late:
        _breaches_record(timers=late, now=now, stopped_at=now)
    if unstopped:
        SLATimer.objects.filter(pk__in=[t.pk for t in unstopped], stopped_at__isnull=True).update(stopped_at=now)
        for timer in unstopped:
            timer.stopped_at = now
    broadcast.notify_timers(met + unstopped)
    return timers


# --- The sweep --------------------------------------------------------------


@dataclass
class SweepResult:
    at_risk: int = 0
    breached: int = 0

    def __iadd__(self, other):
        self.at_risk += other.at_risk
        self.breached += other.breached
        return self


def sla_sweep(*, now: datetime, batch: int = SWEEP_BATCH) -> SweepResult:
    """Move every open timer that crossed a threshold by ``now``: breaches
    first (with their true deadline), then at-risk. Idempotent and safe to run in
    any number of processes at once: rows are claimed with SKIP LOCKED and moved by
    conditional UPDATEs, a breach is unique per timer, notifications per breach."""
    total = SweepResult()
    cutoff = now
    if not (
        SLATimer.objects.filter(state__in=OPEN, due_at__lte=cutoff).exists()
        or SLATimer.objects.filter(state=State.RUNNING, at_risk_at__lte=cutoff).exists()
    ):
        return total  # the common case, every second: one index probe, no transaction
    while True:
        result = _sweep_batch(now=now, cutoff=cutoff, batch=batch)
        total += result
        # A short batch does not mean the work is done: rows another sweeper held
        # (its timers, or the conversation of a timer it holds) were skipped. Stop
        # only when nothing could be claimed; the holder loops after its commit.
        if not (result.at_risk or result.breached):
            return total


def _claim(queryset, batch: int) -> list[SLATimer]:
    # Conversation and timer rows at once, skipping any another transaction holds
    # (an agent replying, another sweeper): no waiting, no deadlock, no double claim.
    return list(
        queryset.select_related("conversation")
        .select_for_update(skip_locked=True, of=("self", "conversation"))
        .only(*_CLAIM_FIELDS)[:batch]
    )


_CLAIM_FIELDS = [
    "id",
    "conversation_id",
    "kind",
    "policy_id",
    "priority",
    "target_seconds",
    "started_at",
    "at_risk_at",
    "due_at",
    "state",
    "stopped_at",
    "breached_at",
    "conversation__id",
    "conversation__assigned_agent_id",
]


@transaction.atomic
def _sweep_batch(*, now: datetime, cutoff: datetime, batch: int) -> SweepResult:
    due = _claim(SLATimer.objects.filter(state__in=OPEN, due_at__lte=cutoff).order_by("due_at"), batch)
    breached = _breaches_record(timers=due, now=now) if due else 0
    risky = _claim(
        SLATimer.objects.filter(state=State.RUNNING, at_risk_at__lte=cutoff, due_at__gt=cutoff).order_by("at_risk_at"),
        batch,
    )
    at_risk = 0
    if risky:
        at_risk = SLATimer.objects.filter(pk__in=[t.pk for t in risky], state=State.RUNNING).update(state=State.AT_RISK)
        for timer in risky:
            timer.state = State.AT_RISK
        conversation_services.timeline_record_many(
            entries=[
                {
                    "conversation_id": t.conversation_id,
                    "kind": "sla.at_risk",
                    "text": f"SLA at risk: {t.get_kind_display().lower()} due {_when(t.due_at)}",
                    "data": {"timer": t.pk, "kind": t.kind, "due_at": t.due_at.isoformat()},
                    "at": t.at_risk_at,
                }
                for t in risky
            ]
        )
        broadcast.notify_timers(risky)
    return SweepResult(at_risk=at_risk, breached=breached)


def _breaches_record(*, timers: list[SLATimer], now: datetime, stopped_at: datetime | None = None) -> int:
    """Mark claimed (locked) open timers breached at their deadline and record each
    breach once: the conditional UPDATE moves only timers still open; the Breach and
    Notification inserts are ON CONFLICT DO NOTHING on their unique keys. Everything
    lands in the caller's transaction; pushes and e-mail go out on commit."""
    ids = [t.pk for t in timers]
    fields = {"state": State.BREACHED, "breached_at": F("due_at")}
    if stopped_at is not None:
        fields["stopped_at"] = stopped_at
    moved = SLATimer.objects.filter(pk__in=ids, state__in=OPEN).update(**fields)
    if not moved:
        return 0
    Breach.objects.bulk_create(
        [
            Breach(
                timer_id=t.pk,
                conversation_id=t.conversation_id,
                kind=t.kind,
                priority=t.priority,
                policy_id=t.policy_id,
                target_seconds=t.target_seconds,
                deadline=t.due_at,
                detected_at=now,
                agent_id=t.conversation.assigned_agent_id,
            )
            for t in timers
        ],
        ignore_conflicts=True,
    )
    breaches = list(Breach.objects.filter(timer_id__in=ids, detected_at=now).order_by("deadline", "pk"))
    admins = list(selectors.admins().values_list("pk", "email"))
    Notification.objects.bulk_create(
        [
            Notification(
                user_id=user_id,
                kind=Notification.Kind.SLA_BREACH,
                title=f"SLA breached: conversation #{b.conversation_id} (P{b.priority})",
                body=f"{b.get_kind_display()} target of {_duration(b.target_seconds)} missed at {_when(b.deadline)}.",
                url=f"/inbox/c/{b.conversation_id}/",
                conversation_id=b.conversation_id,
                breach=b,
                created_at=now,
            )
            for b in breaches
            for user_id, _email in admins
        ],
        ignore_conflicts=True,
    )
    conversation_services.timeline_record_many(
        entries=[
            {
                "conversation_id": b.conversation_id,
                "kind": "sla.breached",
                "text": f"SLA breached: {b.get_kind_display().lower()} target of {_duration(b.target_seconds)} missed",
                "data": {"breach": b.pk, "timer": b.timer_id, "kind": b.kind, "deadline": b.deadline.isoformat()},
                "at": b.deadline,
            }
            for b in breaches
        ]
    )
    for timer in timers:
        timer.state, timer.breached_at = State.BREACHED, timer.due_at
        timer.stopped_at = stopped_at or timer.stopped_at
    broadcast.notify_timers(timers)
    broadcast.notify_notifications(
        list(Notification.objects.filter(breach__in=breaches, created_at=now).order_by("created_at", "pk"))
    )
    broadcast.email_breaches_on_commit(
        lines=[
            f"Conversation #{b.conversation_id} P{b.priority}: {b.get_kind_display()} missed at {_when(b.deadline)}"
            for b in breaches
        ],
        recipients=[email for _pk, email in admins if email],
    )
    return moved


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- Notifications ------------------------------------------------------------


@transaction.atomic
def notifications_mark_read(*, user, ids: list[int] | None, now: datetime) -> int:
    """Mark the user's notifications read (``ids`` None: all of them)."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    marked = qs.update(read_at=now)
    broadcast.notify_read(user_id=user.pk, unread=selectors.notifications_unread_count(user=user))
    return marked


@transaction.atomic
def mentions_notify(*, note: Note, users: list, now: datetime) -> list[Notification]:
    """One bell entry for each user a note mentions (``note_added``'s ``mentioned``:
    active, not its author), pushed live on commit; the unique constraint on
    (note, user) keeps it to one each, however often this runs."""
    if not users:
        return []
    author = display_name(note.author)
    excerpt = note.body if len(note.body) <= MENTION_EXCERPT else note.body[: MENTION_EXCERPT - 1].rstrip() + "…"
    Notification.objects.bulk_create(
        [
            Notification(
                user_id=user.pk,
                kind=Notification.Kind.MENTION,
                title=f"{author} mentioned you on conversation #{note.conversation_id}"[:200],
                body=excerpt,
                url=f"/inbox/c/{note.conversation_id}/",
                conversation_id=note.conversation_id,
                note=note,
                created_at=now,
            )
            for user in users
        ],
        ignore_conflicts=True,
    )
    created = list(Notification.objects.filter(note=note, created_at=now).order_by("pk"))
    broadcast.notify_notifications(created)
    return created


# --- Priority rules -----------------------------------------------------------


def _customer_text(conversation: Conversation) -> str:
    return " ".join(
        conversation.messages.filter(sender=Message.Sender.CUSTOMER).order_by("seq").values_list("body", flat=True)
    ).lower()


def _kb_category(conversation: Conversation) -> str:
    sources = conversation.handoff_sources or []
    if not sources or not isinstance(sources[0], dict):
        return ""
    entry = Entry.objects.filter(external_id=sources[0].get("id")).values_list("category", flat=True).first()
    return entry or ""


def rule_matches(rule: PriorityRule, *, conversation: Conversation, text: str, category: str) -> bool:
    customer = conversation.customer
    if rule.segment and rule.segment.lower() != customer.segment.lower():
        return False
    if rule.attribute_key:
        attributes = customer.attributes if isinstance(customer.attributes, dict) else {}
        if rule.attribute_key not in attributes:
            return False
        if rule.attribute_value and str(attributes[rule.attribute_key]).lower() != rule.attribute_value.lower():
            return False
    if rule.keywords and not any(k in text for k in rule.keyword_list()):
        return False
    if rule.handoff_reason and rule.handoff_reason != conversation.handoff_reason:
        return False
    return not (rule.kb_category and rule.kb_category.lower() != category.lower())


@transaction.atomic(savepoint=False)
def priority_rules_apply(*, conversation: Conversation, now: datetime) -> PriorityRule | None:
    """Set a handed-off conversation's priority by the first matching active rule."""
    rules = selectors.priority_rules()
    if not rules:
        return None
    text = _customer_text(conversation) if any(r.keywords for r in rules) else ""
    category = _kb_category(conversation) if any(r.kb_category for r in rules) else ""
    for rule in rules:
        if rule_matches(rule, conversation=conversation, text=text, category=category):
            PriorityRule.objects.filter(pk=rule.pk).update(fire_count=F("fire_count") + 1, last_fired_at=now)
            conversation_services.conversation_priority_set(
                conversation=conversation, priority=rule.priority, rule=rule.name
            )
            return rule
    return None


def priority_set_by_agent(*, conversation_id: int, priority: object, agent) -> Conversation:
    """An agent picks a priority in the inbox or on the conversation page."""
    conversation = Conversation.objects.get(pk=conversation_id)
    try:
        value = int(priority)
    except (TypeError, ValueError):
        value = 0
    conversation_services.conversation_priority_set(conversation=conversation, priority=value, actor=agent)
    conversation.refresh_from_db()
    return conversation

"""The internal timeline (agents only): routing decisions, priority changes, SLA
events, transfers; written in one INSERT where several come at once."""

import contextvars
from contextlib import contextmanager
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from conversations import broadcast, queries
from conversations.models import Conversation, ConversationEvent


def timeline_record(
    *,
    conversation: Conversation,
    kind: str,
    text: str,
    actor: AbstractBaseUser | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> ConversationEvent:
    """Add an entry to the conversation's internal timeline (agents only) and push it
    to the agents who have the conversation open, on commit.

    The one write path for routing decisions, priority changes, SLA events and
    transfers; ``at`` is when it happened, if not now (a breach found late).
    """
    event = _timeline_event(conversation_id=conversation.pk, kind=kind, text=text, actor=actor, data=data, at=at)
    pending = _timeline_pending.get()
    if pending is not None:
        pending.append(event)
        return event
    queries.timeline_events_insert([event])
    broadcast.notify_timeline(event)
    return event


# Entries recorded inside ``_timeline_batch``, written when it ends.
_timeline_pending: contextvars.ContextVar[list[ConversationEvent] | None] = contextvars.ContextVar(
    "timeline_pending", default=None
)


@contextmanager
def _timeline_batch():
    """Write the timeline entries recorded inside (a handoff's receivers: the SLA
    start, the skills needed) in one INSERT as it ends, then push each to its
    conversation's page. The entries have no id until then."""
    if _timeline_pending.get() is not None:
        yield
        return
    token = _timeline_pending.set([])
    try:
        yield
        events = _timeline_pending.get()
    finally:
        _timeline_pending.reset(token)
    queries.timeline_events_insert(events)
    for event in events:
        broadcast.notify_timeline(event)


def _timeline_event(
    *,
    conversation_id: int,
    kind: str,
    text: str,
    actor: AbstractBaseUser | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> ConversationEvent:
    event = ConversationEvent(
        conversation_id=conversation_id,
        kind=kind,
        text=text[:500],
        actor=actor,
        data=data or {},
        created_at=at or timezone.now(),
    )
    event.full_clean(exclude=["conversation", "actor"], validate_unique=False, validate_constraints=False)
    return event


def timeline_record_many(*, entries: list[dict], batched: bool = True) -> list[ConversationEvent]:
    """``timeline_record`` for many conversations in one INSERT; each entry holds its
    keyword arguments, with ``conversation_id`` instead of ``conversation``.
    ``batched``: pushed as one event to every inbox (an SLA sweep that finds a
    thousand breaches at once), else each to its conversation's page (a routing
    round, whose entries only those pages show)."""
    events = [_timeline_event(**entry) for entry in entries]
    pending = _timeline_pending.get()
    if pending is not None and not batched:
        pending.extend(events)
        return events
    queries.timeline_events_insert(events)
    if batched:
        broadcast.notify_timelines(events)
    else:
        for event in events:
            broadcast.notify_timeline(event)
    return events

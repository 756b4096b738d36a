"""Statements of the conversations app written by hand, each beside its ORM twin.

The only place in the app where SQL is written out: each function here carries,
in its docstring, the measured reason it is not the ORM call of its twin
(``<name>_orm``, which states the same thing in Django). The first ones are the
writes of a customer's and an agent's message: on PostgreSQL one statement (with
the transaction's BEGIN and COMMIT: three round trips for a customer's message,
where the ORM took eight), and on SQLite (the embedded mode, one writer at a
time) their ORM twins run. The others run as written on both databases.
``tests/conversations/test_queries.py`` (and ``test_live_path.py`` for the
message writes) runs each and its twin on the same data and compares what they
wrote and returned. New code uses the ORM; a statement moves here only with a
benchmark figure.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Case, F, Value, When

from conversations.models import BotTurn, Conversation, ConversationEvent, Customer, Message
from core.db import bulk_insert, sql_case, sql_for_update, sql_get, sql_in, sql_rows, sql_run, sql_time

CONVERSATIONS = Conversation._meta.db_table
MESSAGES = Message._meta.db_table
BOT_TURNS = BotTurn._meta.db_table
Status = Conversation.Status


@dataclass(frozen=True)
class Stored:
    """What a message write did: the conversation it went to (id, status and
    customer as the write left it), the message's number, and its id; ``message_id``
    None when a message with the same client id was there already (nothing was
    written: the caller rolls back and returns that one)."""

    conversation_id: int
    customer_id: int
    status: str
    seq: int
    message_id: int | None
    first_agent_reply_at: datetime | None = None


# One statement: number the message on the customer's open conversation (the
# UPDATE takes its row lock: numbers are consecutive and commit in order), store it
# unless this client id is there already, and, if the bot has the conversation,
# record the turn it owes, with the message. Written out because it is every
# customer message's cost: 1 statement instead of the ORM's 6.
_CUSTOMER_MESSAGE = f"""
WITH c AS (
    UPDATE {CONVERSATIONS} SET last_seq = last_seq + 1, updated_at = %(now)s
    WHERE customer_id = %(customer)s AND status <> %(resolved)s
    RETURNING id, customer_id, status, last_seq
), m AS (
    INSERT INTO {MESSAGES} (conversation_id, seq, sender, agent_id, body, confidence, sources, client_id, created_at)
    SELECT id, last_seq, %(sender)s, NULL, %(body)s, NULL, '[]', %(client_id)s, %(now)s FROM c
    ON CONFLICT (conversation_id, client_id) WHERE client_id <> '' DO NOTHING
    RETURNING id, conversation_id
), t AS (
    INSERT INTO {BOT_TURNS} (message_id, conversation_id, created_at, attempts)
    SELECT m.id, m.conversation_id, %(now)s, 0 FROM m JOIN c ON c.status = %(bot)s
)
SELECT c.id, c.customer_id, c.status, c.last_seq, m.id FROM c LEFT JOIN m ON true
"""


def customer_message_insert(*, customer_id: int, body: str, client_id: str, now: datetime) -> Stored | None:
    """Store a customer's message on their open conversation (and its bot turn if
    the bot has it); None if they have no open conversation. Run inside a
    transaction: on a repeated client id the caller rolls back the numbering."""
    if connection.vendor == "postgresql":
        rows = sql_rows(
            _CUSTOMER_MESSAGE,
            {
                "now": now,
                "customer": customer_id,
                "resolved": Status.RESOLVED,
                "sender": Message.Sender.CUSTOMER,
                "body": body,
                "client_id": client_id,
                "bot": Status.BOT,
            },
        )
        return Stored(*rows[0]) if rows else None
    return customer_message_insert_orm(customer_id=customer_id, body=body, client_id=client_id, now=now)


def customer_message_insert_orm(*, customer_id: int, body: str, client_id: str, now: datetime) -> Stored | None:
    """The twin of ``customer_message_insert``, through the ORM."""
    open_ = Conversation.objects.filter(customer_id=customer_id).exclude(status=Status.RESOLVED)
    if not open_.update(last_seq=F("last_seq") + 1, updated_at=now):
        return None
    conversation_id, status, seq = open_.values_list("pk", "status", "last_seq").get()
    if client_id and Message.objects.filter(conversation_id=conversation_id, client_id=client_id).exists():
        return Stored(conversation_id, customer_id, status, seq, None)
    message = Message.objects.create(
        conversation_id=conversation_id,
        seq=seq,
        sender=Message.Sender.CUSTOMER,
        body=body,
        client_id=client_id,
        created_at=now,
    )
    if status == Status.BOT:
        BotTurn.objects.create(message=message, conversation_id=conversation_id, created_at=now)
    return Stored(conversation_id, customer_id, status, seq, message.pk)


# One statement for an agent's reply: number it on the conversation only if it is
# still assigned to this agent (the UPDATE is also the permission check and the
# row lock: one lock, taken once, so it cannot deadlock with a customer's message),
# note the first reply, store it unless this client id is there already.
_AGENT_MESSAGE = f"""
WITH c AS (
    UPDATE {CONVERSATIONS}
    SET last_seq = last_seq + 1, updated_at = %(now)s, first_agent_reply_at = COALESCE(first_agent_reply_at, %(now)s)
    WHERE id = %(conversation)s AND status = %(assigned)s AND assigned_agent_id = %(agent)s
    RETURNING id, customer_id, status, last_seq, first_agent_reply_at
), m AS (
    INSERT INTO {MESSAGES} (conversation_id, seq, sender, agent_id, body, confidence, sources, client_id, created_at)
    SELECT id, last_seq, %(sender)s, %(agent)s, %(body)s, NULL, '[]', %(client_id)s, %(now)s FROM c
    ON CONFLICT (conversation_id, client_id) WHERE client_id <> '' DO NOTHING
    RETURNING id
)
SELECT c.id, c.customer_id, c.status, c.last_seq, m.id, c.first_agent_reply_at FROM c LEFT JOIN m ON true
"""


def agent_message_insert(
    *, conversation_id: int, agent_id: int, body: str, client_id: str, now: datetime
) -> Stored | None:
    """Store an agent's reply on a conversation assigned to them; None if it is not
    (any more). Run inside a transaction, as ``customer_message_insert``."""
    if connection.vendor == "postgresql":
        rows = sql_rows(
            _AGENT_MESSAGE,
            {
                "now": now,
                "conversation": conversation_id,
                "assigned": Status.ASSIGNED,
                "agent": agent_id,
                "sender": Message.Sender.AGENT,
                "body": body,
                "client_id": client_id,
            },
        )
        return Stored(*rows[0]) if rows else None
    return agent_message_insert_orm(
        conversation_id=conversation_id, agent_id=agent_id, body=body, client_id=client_id, now=now
    )


def agent_message_insert_orm(
    *, conversation_id: int, agent_id: int, body: str, client_id: str, now: datetime
) -> Stored | None:
    """The twin of ``agent_message_insert``, through the ORM."""
    mine = Conversation.objects.filter(pk=conversation_id, status=Status.ASSIGNED, assigned_agent_id=agent_id)
    if not mine.update(last_seq=F("last_seq") + 1, updated_at=now):
        return None
    mine.filter(first_agent_reply_at__isnull=True).update(first_agent_reply_at=now)
    customer_id, seq, first = mine.values_list("customer_id", "last_seq", "first_agent_reply_at").get()
    if client_id and Message.objects.filter(conversation_id=conversation_id, client_id=client_id).exists():
        return Stored(conversation_id, customer_id, Status.ASSIGNED, seq, None, first)
    message = Message.objects.create(
        conversation_id=conversation_id,
        seq=seq,
        sender=Message.Sender.AGENT,
        agent_id=agent_id,
        body=body,
        client_id=client_id,
        created_at=now,
    )
    return Stored(conversation_id, customer_id, Status.ASSIGNED, seq, message.pk, first)


_NEXT_SEQ = f"UPDATE {CONVERSATIONS} SET last_seq = last_seq + 1, updated_at = %s WHERE id = %s RETURNING last_seq"


def conversation_seq_next(*, conversation_id: int, now: datetime) -> int:
    """Take the conversation's next message number (and its row lock): one
    statement, where the ORM needs an UPDATE and a SELECT."""
    if connection.vendor == "postgresql":
        return sql_rows(_NEXT_SEQ, [now, conversation_id])[0][0]
    return conversation_seq_next_orm(conversation_id=conversation_id, now=now)


def conversation_seq_next_orm(*, conversation_id: int, now: datetime) -> int:
    """The twin of ``conversation_seq_next``, through the ORM."""
    Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") + 1, updated_at=now)
    return Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)


# --- The status changes and the reads of handoff, assignment and resolve ------------
# Each below is written out for the CPU the ORM spent building it, on both
# databases (the SQL is plain enough for SQLite; tables and columns come from the
# models): a filtered UPDATE cost 237 µs of CPU here against 28 µs written out,
# a SELECT 200-310 µs against 43 µs (commit acda163: routing benchmark, worker CPU
# per handoff 9.9 -> 8.5-9.4 ms, 143 -> 158-179 decisions/s). Row locks are spelled
# by ``sql_for_update`` (FOR UPDATE OF on PostgreSQL, nothing on SQLite, whose
# transactions take the one write lock at BEGIN); each ORM twin takes the same lock
# with ``select_for_update(of=("self",))``.

_ASSIGN_LOCKED = ("id", "customer_id", "status", "priority", "handoff_reason", "last_seq", "version")


def conversation_lock(*, conversation_id: int) -> Conversation | None:
    """The conversation row, locked, its relations not read (None if there is none).

    Written out for resolve: 119 µs of CPU here against 308 through the ORM
    (commit fc49527: routing benchmark 188-204 -> 212-228 decisions/s, worker CPU
    per handoff 7.2 -> 6.2-6.6 ms). ORM twin: ``conversation_lock_orm``."""
    return sql_get(Conversation, conversation_id, lock=True)


def conversation_lock_orm(*, conversation_id: int) -> Conversation | None:
    """The twin of ``conversation_lock``, through the ORM."""
    return Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()


def conversation_with_customer(*, conversation_id: int) -> Conversation | None:
    """The conversation with its customer, as two written-out reads: every handoff
    reloads both (about 200 µs of CPU here against 330 for ``refresh_from_db`` with
    ``select_related``; commit 6aa960d: routing benchmark 231-239 decisions/s,
    worker CPU per handoff 5.6-5.7 ms). ORM twin: ``conversation_with_customer_orm``."""
    conversation = sql_get(Conversation, conversation_id)
    if conversation is not None:
        conversation.customer = sql_get(Customer, conversation.customer_id)
    return conversation


def conversation_with_customer_orm(*, conversation_id: int) -> Conversation | None:
    """The twin of ``conversation_with_customer``, through the ORM."""
    return Conversation.objects.select_related("customer").filter(pk=conversation_id).first()


_HANDED_OFF = (
    f"UPDATE {CONVERSATIONS} SET status = %s, handoff_reason = %s, handoff_confidence = %s, handoff_sources = %s,"
    " handed_off_at = %s, updated_at = %s, version = version + 1,"
    " last_seq = last_seq + 1"  # the number of the handoff's system message
    " WHERE id = %s AND status = %s"
)


def conversation_mark_handed_off(
    *, conversation_id: int, reason: str, confidence: float | None, sources: list, now: datetime
) -> int:
    """Move a bot conversation to Pending Handoff, taking the number of its system
    message; 0 if the bot no longer had it. Written out: a filtered UPDATE (commit
    acda163, figures above). ORM twin: ``conversation_mark_handed_off_orm``."""
    at = sql_time(now)
    return sql_run(
        _HANDED_OFF,
        [Status.PENDING_HANDOFF, reason, confidence, json.dumps(sources), at, at, conversation_id, Status.BOT],
    )


def conversation_mark_handed_off_orm(
    *, conversation_id: int, reason: str, confidence: float | None, sources: list, now: datetime
) -> int:
    """The twin of ``conversation_mark_handed_off``, through the ORM."""
    return Conversation.objects.filter(pk=conversation_id, status=Status.BOT).update(
        status=Status.PENDING_HANDOFF,
        handoff_reason=reason,
        handoff_confidence=confidence,
        handoff_sources=sources,
        handed_off_at=now,
        updated_at=now,
        version=F("version") + 1,
        last_seq=F("last_seq") + 1,
    )


def conversations_lock_pending(*, ids: Sequence[int], skip_locked: bool = False) -> list[Conversation]:
    """Those of these conversations still pending, locked, in id order, with the
    columns an assignment needs; ``skip_locked`` passes over rows another
    transaction holds. Written out for the routing round, whose fixed cost was
    about 4.5 ms of CPU, mostly ORM query building (commit 6dacfba: assign p50
    61-68 -> 29-31 ms, p99 143-239 -> 74-93 ms). ORM twin: ``conversations_lock_pending_orm``."""
    return list(
        Conversation.objects.raw(
            f"SELECT {', '.join(_ASSIGN_LOCKED)} FROM {CONVERSATIONS}"
            f" WHERE id IN ({sql_in(ids)}) AND status = %s ORDER BY id"
            + sql_for_update(of=CONVERSATIONS, skip_locked=skip_locked),
            [*ids, Status.PENDING_HANDOFF],
        )
    )


def conversations_lock_pending_orm(*, ids: Sequence[int], skip_locked: bool = False) -> list[Conversation]:
    """The twin of ``conversations_lock_pending``, through the ORM."""
    return list(
        Conversation.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .filter(pk__in=ids, status=Status.PENDING_HANDOFF)
        .only(*_ASSIGN_LOCKED)
        .order_by("pk")
    )


def conversations_mark_assigned(*, agents: dict[int, int], now: datetime) -> int:
    """Assign locked pending conversations, ``{conversation id: agent id}``, taking
    the number of each one's system message: one UPDATE for a batch. Written out: a
    filtered UPDATE (commit acda163, figures above). ORM twin:
    ``conversations_mark_assigned_orm``."""
    agent_of, agent_params = sql_case("id", agents)
    at = sql_time(now)
    return sql_run(
        f"UPDATE {CONVERSATIONS} SET status = %s, assigned_agent_id = {agent_of}, assigned_at = %s, updated_at = %s,"
        f" last_seq = last_seq + 1, version = version + 1 WHERE id IN ({sql_in(agents)})",
        [Status.ASSIGNED, *agent_params, at, at, *agents],
    )


def conversations_mark_assigned_orm(*, agents: dict[int, int], now: datetime) -> int:
    """The twin of ``conversations_mark_assigned``, through the ORM."""
    return Conversation.objects.filter(pk__in=agents).update(
        status=Status.ASSIGNED,
        assigned_agent_id=Case(*[When(pk=pk, then=Value(agent)) for pk, agent in agents.items()]),
        assigned_at=now,
        updated_at=now,
        last_seq=F("last_seq") + 1,
        version=F("version") + 1,
    )


_RESOLVED = (
    f"UPDATE {CONVERSATIONS} SET status = %s, resolved_at = %s, updated_at = %s, last_seq = last_seq + 1,"
    " version = version + 1 WHERE id = %s"
)


def conversation_mark_resolved(*, conversation_id: int, now: datetime) -> int:
    """Resolve a locked conversation, taking the number of its system message.
    Written out: a filtered UPDATE (commit acda163, figures above). ORM twin:
    ``conversation_mark_resolved_orm``."""
    at = sql_time(now)
    return sql_run(_RESOLVED, [Status.RESOLVED, at, at, conversation_id])


def conversation_mark_resolved_orm(*, conversation_id: int, now: datetime) -> int:
    """The twin of ``conversation_mark_resolved``, through the ORM."""
    return Conversation.objects.filter(pk=conversation_id).update(
        status=Status.RESOLVED, resolved_at=now, updated_at=now, last_seq=F("last_seq") + 1, version=F("version") + 1
    )


_QUESTIONS = (
    f"SELECT sender, body, sources, confidence FROM {MESSAGES} WHERE conversation_id = %s AND sender IN (%s, %s)"
    " ORDER BY seq"
)


def conversation_questions(*, conversation_id: int) -> list[tuple[str, str, list, float | None]]:
    """The customer's and the bot's messages in order, as (sender, body, sources,
    confidence): what resolve labels evaluation questions from. Written out, four
    columns instead of whole models (commit 5566e66: worker CPU per handoff 8.5 ->
    8.3 ms, decisions/s within noise). ORM twin: ``conversation_questions_orm``."""
    return [
        (sender, body, json.loads(sources) if isinstance(sources, str) else sources, confidence)
        for sender, body, sources, confidence in sql_rows(
            _QUESTIONS, [conversation_id, Message.Sender.CUSTOMER, Message.Sender.BOT]
        )
    ]


def conversation_questions_orm(*, conversation_id: int) -> list[tuple[str, str, list, float | None]]:
    """The twin of ``conversation_questions``, through the ORM."""
    return list(
        Message.objects.filter(
            conversation_id=conversation_id, sender__in=[Message.Sender.CUSTOMER, Message.Sender.BOT]
        )
        .order_by("seq")
        .values_list("sender", "body", "sources", "confidence")
    )


_QUEUE_HEAD = (
    f"SELECT id, customer_id FROM {CONVERSATIONS} WHERE status = %s ORDER BY priority, handed_off_at, id LIMIT %s"
)


def queue_head(*, limit: int) -> list[tuple[int, int]]:
    """The first ``limit`` waiting conversations in queue order, as (id, customer
    id): whose places are pushed when the queue moves. Written out with the routing
    round's other reads (commit 6dacfba, figures at ``conversations_lock_pending``).
    ORM twin: ``queue_head_orm``."""
    return [tuple(row) for row in sql_rows(_QUEUE_HEAD, [Status.PENDING_HANDOFF, limit])]


def queue_head_orm(*, limit: int) -> list[tuple[int, int]]:
    """The twin of ``queue_head``, through the ORM."""
    waiting = Conversation.objects.filter(status=Status.PENDING_HANDOFF).order_by("priority", "handed_off_at", "pk")
    return list(waiting.values_list("pk", "customer_id")[:limit])


# --- Inserts ------------------------------------------------------------------------
# A message, a system message per assigned conversation, a timeline entry: each an
# ``INSERT ... VALUES`` with the ids returned (``core.db.bulk_insert``), not
# ``save()`` or ``bulk_create``. Django sends a PostgreSQL bulk insert through
# UNNEST arrays, whose JSON elements psycopg escapes one by one: a quarter of the
# router's CPU (commit d53cb64: 212-228 -> 236-247 decisions/s); one or two rows
# cost 60-90 µs of CPU against 100-250 µs (commit 22f7c5f: worker CPU per handoff
# 5.9-6.2 -> 5.7-6.0 ms).


def messages_insert(messages: list[Message]) -> list[Message]:
    """Insert these messages in one statement, setting their ids. ORM twin:
    ``messages_insert_orm``."""
    return bulk_insert(messages)


def messages_insert_orm(messages: list[Message]) -> list[Message]:
    """The twin of ``messages_insert``, through the ORM."""
    return Message.objects.bulk_create(messages)


def timeline_events_insert(events: list[ConversationEvent]) -> list[ConversationEvent]:
    """Insert these timeline entries in one statement, setting their ids. ORM twin:
    ``timeline_events_insert_orm``."""
    return bulk_insert(events)


def timeline_events_insert_orm(events: list[ConversationEvent]) -> list[ConversationEvent]:
    """The twin of ``timeline_events_insert``, through the ORM."""
    return ConversationEvent.objects.bulk_create(events)

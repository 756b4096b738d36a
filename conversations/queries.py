"""Statements of the conversations app written by hand, each beside its ORM twin.

Each function here is one write of the live path that the ORM would spend several
round trips on; on PostgreSQL it is one statement (with the transaction's BEGIN
and COMMIT: three round trips for a customer's message, where the ORM took
eight), and on SQLite (the embedded mode, one writer at a time) its ORM twin
runs. ``tests/conversations/test_queries.py`` runs both on the same data and
compares what they wrote and returned.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import F

from conversations.models import BotTurn, Conversation, Message
from helpdesk.db import sql_rows

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

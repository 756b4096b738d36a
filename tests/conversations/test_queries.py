"""Each hand-written statement of conversations/queries.py against its ORM twin.

Both run on the same rows, each in a savepoint rolled back afterwards, and must
return the same thing and leave the same rows behind; both take a row lock where
one is meant (FOR UPDATE on PostgreSQL; SQLite's transactions lock at BEGIN). The
suite runs on SQLite and on PostgreSQL, so each pair is compared on both.
"""

import inspect
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import queries
from conversations.models import Conversation, ConversationEvent, Message
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

Status = Conversation.Status
NOW = datetime(2026, 3, 4, 10, 0, 0, 123456, tzinfo=UTC)
# JSON that must survive both writers unchanged: quotes, a backslash, non-ASCII.
SOURCES = [{"id": "kb-1", "title": 'Refunds "within" 30 days \\ für Kunden', "score": 0.42}]


def _run(func, rows, **kwargs):
    """What ``func`` returns, with the rows ``rows()`` reads after it; undone after."""
    with transaction.atomic():
        result = func(**kwargs)
        after = rows()
        transaction.set_rollback(True)
    return result, after


def _both(name, rows, **kwargs):
    """The hand-written function and its ORM twin, each run on the same rows."""
    return _run(getattr(queries, name), rows, **kwargs), _run(getattr(queries, f"{name}_orm"), rows, **kwargs)


def _conversations(*pks):
    return lambda: list(Conversation.objects.filter(pk__in=pks).order_by("pk").values())


def _fields(obj, names=None):
    names = names or [f.attname for f in type(obj)._meta.concrete_fields]
    return {name: getattr(obj, name) for name in names}


def _locks(func, **kwargs):
    """Whether the statements ``func`` ran asked for a row lock."""
    with transaction.atomic(), CaptureQueriesContext(connection) as ran:
        func(**kwargs)
    return any("FOR UPDATE" in q["sql"] for q in ran.captured_queries)


def test_conversation_lock_reads_the_row_as_the_orm_and_locks_it(customer):
    conversation = ConversationFactory(customer=customer, pending=True, priority=2)
    (sql, _), (orm, _) = _both("conversation_lock", lambda: None, conversation_id=conversation.pk)
    assert _fields(sql) == _fields(orm) and sql.pk == conversation.pk
    assert queries.conversation_lock(conversation_id=conversation.pk + 1000) is None
    assert queries.conversation_lock_orm(conversation_id=conversation.pk + 1000) is None
    on_postgres = connection.vendor == "postgresql"
    assert _locks(queries.conversation_lock, conversation_id=conversation.pk) is on_postgres
    assert _locks(queries.conversation_lock_orm, conversation_id=conversation.pk) is on_postgres


def test_conversation_with_customer_reads_both_rows_as_the_orm(customer):
    customer.segment, customer.attributes = "vip", {"plan": "gold"}
    customer.save()
    conversation = ConversationFactory(customer=customer, pending=True)
    (sql, _), (orm, _) = _both("conversation_with_customer", lambda: None, conversation_id=conversation.pk)
    assert _fields(sql) == _fields(orm)
    assert _fields(sql.customer) == _fields(orm.customer)
    assert sql.customer.segment == "vip" and sql.customer.attributes == {"plan": "gold"}


def test_conversation_mark_handed_off_writes_what_the_orm_writes(customer, other_customer):
    bot = ConversationFactory(customer=customer)
    pending = ConversationFactory(customer=other_customer, pending=True)
    rows = _conversations(bot.pk, pending.pk)
    kwargs = {"reason": Conversation.HandoffReason.LOW_CONFIDENCE, "confidence": 0.31, "sources": SOURCES, "now": NOW}
    sql, orm = _both("conversation_mark_handed_off", rows, conversation_id=bot.pk, **kwargs)
    assert sql == orm
    assert sql[0] == 1
    handed_off = sql[1][0]
    assert handed_off["status"] == Status.PENDING_HANDOFF and handed_off["handoff_sources"] == SOURCES
    assert handed_off["handed_off_at"] == NOW and handed_off["last_seq"] == bot.last_seq + 1
    # Only a bot conversation is handed off.
    sql, orm = _both("conversation_mark_handed_off", rows, conversation_id=pending.pk, **kwargs)
    assert sql == orm and sql[0] == 0 and sql[1] == rows()


def test_conversations_lock_pending_reads_only_pending_rows_as_the_orm(customer, other_customer):
    first = ConversationFactory(customer=customer, pending=True, last_seq=4)
    bot = ConversationFactory(customer=other_customer)
    second = ConversationFactory(pending=True, priority=1)
    ids = [second.pk, bot.pk, first.pk]
    (sql, _), (orm, _) = _both("conversations_lock_pending", lambda: None, ids=ids)
    names = ["id", "customer_id", "status", "priority", "handoff_reason", "last_seq", "version"]
    assert [_fields(c, names) for c in sql] == [_fields(c, names) for c in orm]
    assert [c.pk for c in sql] == [first.pk, second.pk]
    (sql, _), (orm, _) = _both("conversations_lock_pending", lambda: None, ids=ids, skip_locked=True)
    assert [c.pk for c in sql] == [c.pk for c in orm] == [first.pk, second.pk]
    on_postgres = connection.vendor == "postgresql"
    assert _locks(queries.conversations_lock_pending, ids=ids) is on_postgres
    assert _locks(queries.conversations_lock_pending_orm, ids=ids) is on_postgres


def test_conversations_mark_assigned_writes_what_the_orm_writes(customer, other_customer, agent, other_agent):
    one = ConversationFactory(customer=customer, pending=True)
    two = ConversationFactory(customer=other_customer, pending=True, last_seq=7)
    rows = _conversations(one.pk, two.pk)
    sql, orm = _both("conversations_mark_assigned", rows, agents={one.pk: agent.pk, two.pk: other_agent.pk}, now=NOW)
    assert sql == orm
    assert sql[0] == 2
    assert [(c["status"], c["assigned_agent_id"], c["last_seq"]) for c in sql[1]] == [
        (Status.ASSIGNED, agent.pk, 1),
        (Status.ASSIGNED, other_agent.pk, 8),
    ]
    assert all(c["assigned_at"] == NOW for c in sql[1])


def test_conversation_mark_resolved_writes_what_the_orm_writes(customer, agent):
    conversation = ConversationFactory(
        customer=customer, pending=True, status=Status.ASSIGNED, assigned_agent=agent, last_seq=3
    )
    sql, orm = _both(
        "conversation_mark_resolved", _conversations(conversation.pk), conversation_id=conversation.pk, now=NOW
    )
    assert sql == orm
    assert sql[0] == 1
    resolved = sql[1][0]
    assert (resolved["status"], resolved["resolved_at"], resolved["last_seq"]) == (Status.RESOLVED, NOW, 4)


def test_conversation_questions_reads_the_customer_and_bot_messages_as_the_orm(customer, agent):
    conversation = ConversationFactory(customer=customer)
    MessageFactory(conversation=conversation, seq=1, body="How do refunds work?")
    MessageFactory(
        conversation=conversation, seq=2, sender=Message.Sender.BOT, body="Like so.", sources=SOURCES, confidence=0.9
    )
    MessageFactory(conversation=conversation, seq=3, sender=Message.Sender.SYSTEM, body="A person joined.")
    MessageFactory(conversation=conversation, seq=4, sender=Message.Sender.AGENT, agent=agent, body="Hi")
    MessageFactory(conversation=conversation, seq=5, body="Thanks")
    MessageFactory(body="Someone else's")
    (sql, _), (orm, _) = _both("conversation_questions", lambda: None, conversation_id=conversation.pk)
    assert (
        sql
        == orm
        == [
            (Message.Sender.CUSTOMER, "How do refunds work?", [], None),
            (Message.Sender.BOT, "Like so.", SOURCES, 0.9),
            (Message.Sender.CUSTOMER, "Thanks", [], None),
        ]
    )


def test_queue_head_reads_the_queue_in_order_as_the_orm(customer):
    early = ConversationFactory(pending=True, priority=3, handed_off_at=NOW)
    urgent = ConversationFactory(pending=True, priority=1, handed_off_at=NOW + timedelta(minutes=5))
    late = ConversationFactory(pending=True, priority=3, handed_off_at=NOW + timedelta(minutes=1))
    ConversationFactory(customer=customer)  # with the bot: not queued
    (sql, _), (orm, _) = _both("queue_head", lambda: None, limit=10)
    expected = [(c.pk, c.customer_id) for c in (urgent, early, late)]
    assert sql == orm == expected
    (sql, _), (orm, _) = _both("queue_head", lambda: None, limit=2)
    assert sql == orm == expected[:2]


def _stored(model, pks):
    return [
        {k: v for k, v in row.items() if k != "id"} for row in model.objects.filter(pk__in=pks).order_by("pk").values()
    ]


def test_messages_insert_stores_what_bulk_create_stores(customer, agent):
    conversation = ConversationFactory(customer=customer)

    def build():
        return [
            Message(
                conversation=conversation, seq=1, sender=Message.Sender.SYSTEM, body='A "quoted" \\ ünïcode', sources=[]
            ),
            Message(
                conversation=conversation, seq=2, sender=Message.Sender.BOT, body="b", sources=SOURCES, confidence=0.5
            ),
            Message(
                conversation=conversation, seq=3, sender=Message.Sender.AGENT, agent=agent, body="c", client_id="k1"
            ),
        ]

    results = []
    for insert in (queries.messages_insert, queries.messages_insert_orm):
        with time_machine.travel(NOW, tick=False), transaction.atomic():
            created = insert(build())
            assert all(m.pk is not None for m in created)
            results.append(_stored(Message, [m.pk for m in created]))
            transaction.set_rollback(True)
    assert results[0] == results[1]
    assert [m["body"] for m in results[0]] == ['A "quoted" \\ ünïcode', "b", "c"]
    assert results[0][1]["sources"] == SOURCES and results[0][0]["created_at"] == NOW


def test_timeline_events_insert_stores_what_bulk_create_stores(customer, agent):
    conversation = ConversationFactory(customer=customer)

    def build():
        return [
            ConversationEvent(
                conversation=conversation, kind="sla.started", text="t", data={"due": [NOW.isoformat()]}, created_at=NOW
            ),
            ConversationEvent(
                conversation=conversation,
                kind="routing.decision",
                text='"x"',
                actor=agent,
                data={"q": SOURCES},
                created_at=NOW,
            ),
        ]

    results = []
    for insert in (queries.timeline_events_insert, queries.timeline_events_insert_orm):
        with transaction.atomic():
            created = insert(build())
            assert all(e.pk is not None for e in created)
            results.append(_stored(ConversationEvent, [e.pk for e in created]))
            transaction.set_rollback(True)
    assert results[0] == results[1]
    assert results[0][1]["data"] == {"q": SOURCES} and results[0][1]["actor_id"] == agent.pk


def _messages_of(*conversation_ids):
    rows = Message.objects.filter(conversation_id__in=conversation_ids).order_by("conversation_id", "seq").values()
    return [{k: v for k, v in row.items() if k != "id"} for row in rows]


def test_agent_message_insert_stores_what_its_orm_twin_stores(customer, agent, other_agent):
    conversation = ConversationFactory(
        customer=customer, pending=True, status=Status.ASSIGNED, assigned_agent=agent, last_seq=2
    )

    def replies(insert):
        kwargs = {"conversation_id": conversation.pk, "now": NOW}
        first = insert(agent_id=agent.pk, body="Hello", client_id="r1", **kwargs)
        again = insert(agent_id=agent.pk, body="Hello", client_id="r1", **kwargs)
        later = insert(agent_id=agent.pk, body="More", client_id="", **kwargs)
        stranger = insert(agent_id=other_agent.pk, body="Mine?", client_id="", **kwargs)
        return first, again, later, stranger

    rows = lambda: (_conversations(conversation.pk)(), _messages_of(conversation.pk))  # noqa: E731
    (sql, sql_rows), (orm, orm_rows) = _both_named(queries.agent_message_insert, replies, rows)
    assert sql_rows == orm_rows
    for s, o in zip(sql[:3], orm[:3], strict=True):
        assert (s.conversation_id, s.customer_id, s.status, s.seq, s.first_agent_reply_at) == (
            o.conversation_id,
            o.customer_id,
            o.status,
            o.seq,
            o.first_agent_reply_at,
        )
        assert (s.message_id is None) is (o.message_id is None)
    first, again, later, stranger = sql
    assert (first.seq, first.first_agent_reply_at, again.message_id, later.seq) == (3, NOW, None, 5)
    assert stranger is None and orm[3] is None
    assert [m["body"] for m in sql_rows[1]] == ["Hello", "More"]


def test_conversation_seq_next_numbers_as_its_orm_twin(customer):
    conversation = ConversationFactory(customer=customer, last_seq=7)

    def twice(take):
        return [take(conversation_id=conversation.pk, now=NOW) for _ in range(2)]

    rows = _conversations(conversation.pk)
    (sql, sql_rows), (orm, orm_rows) = _both_named(queries.conversation_seq_next, twice, rows)
    assert sql == orm == [8, 9]
    assert sql_rows == orm_rows and sql_rows[0]["updated_at"] == NOW


def _both_named(func, scenario, rows):
    """``scenario`` run with ``func`` and with its ORM twin, each on the same rows."""
    twin = getattr(queries, f"{func.__name__}_orm")
    with time_machine.travel(NOW, tick=False):  # the ORM's auto_now_add, for ``now``
        return _run(lambda: scenario(func), rows), _run(lambda: scenario(twin), rows)


# What writing SQL by hand looks like: the helpers of core/db.py, raw(), a
# cursor, or a statement in a string.
WRITTEN_OUT = re.compile(r"\b(sql_\w+|bulk_insert)\(|\.raw\(|\bcursor\(|[\"'](SELECT|UPDATE|INSERT|DELETE|WITH) ")


def test_the_services_and_broadcasts_write_no_sql_of_their_own():
    """Hand-written SQL lives in queries.py only, where each statement has its
    reason and its twin: the services and broadcasts read as Django."""
    from conversations import broadcast, services

    modules = [broadcast, *(module for _name, module in inspect.getmembers(services, inspect.ismodule))]
    assert len(modules) > 8  # broadcast and each services module
    for module in modules:
        assert not WRITTEN_OUT.findall(inspect.getsource(module)), module.__name__
    assert WRITTEN_OUT.findall(inspect.getsource(queries))

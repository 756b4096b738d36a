"""Each hand-written statement of sla/queries.py against its ORM twin, on the
same rows, each in a savepoint rolled back afterwards: the same result, the same
rows left behind, the same row lock (FOR UPDATE on PostgreSQL). Run on SQLite and
on PostgreSQL."""

import inspect
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from sla import queries
from sla.models import SLATimer
from tests.conversations.test_queries import WRITTEN_OUT
from tests.factories import ConversationFactory
from tests.sla.conftest import T0, handoff

pytestmark = pytest.mark.django_db

Kind, State = SLATimer.Kind, SLATimer.State


def _run(func, rows, **kwargs):
    with transaction.atomic():
        result = func(**kwargs)
        after = rows()
        transaction.set_rollback(True)
    return result, after


def _both(name, rows, **kwargs):
    return _run(getattr(queries, name), rows, **kwargs), _run(getattr(queries, f"{name}_orm"), rows, **kwargs)


def _timers(conversation_id):
    return lambda: list(SLATimer.objects.filter(conversation_id=conversation_id).order_by("pk").values())


def _fields(timer):
    return {f.attname: getattr(timer, f.attname) for f in SLATimer._meta.concrete_fields}


def test_timers_lock_reads_the_kinds_asked_for_as_the_orm_and_locks_them(policy):
    conversation = handoff()
    handoff()  # another conversation's timers are not read
    for kinds in ([Kind.FIRST_RESPONSE], [Kind.RESOLUTION, Kind.FIRST_RESPONSE]):
        (sql, _), (orm, _) = _both("timers_lock", lambda: None, conversation_id=conversation.pk, kinds=kinds)
        assert [_fields(t) for t in sql] == [_fields(t) for t in orm]
        assert [t.kind for t in sql] == sorted(kinds)
        assert {t.conversation_id for t in sql} == {conversation.pk}
    for func in (queries.timers_lock, queries.timers_lock_orm):
        with transaction.atomic(), CaptureQueriesContext(connection) as ran:
            func(conversation_id=conversation.pk, kinds=[Kind.RESOLUTION])
        locked = any("FOR UPDATE" in q["sql"] for q in ran.captured_queries)
        assert locked is (connection.vendor == "postgresql")


def test_timers_mark_met_writes_what_the_orm_writes(policy):
    conversation = handoff()
    first = SLATimer.objects.get(conversation=conversation, kind=Kind.FIRST_RESPONSE)
    stopped = T0 + timedelta(minutes=3, microseconds=250)
    sql, orm = _both("timers_mark_met", _timers(conversation.pk), ids=[first.pk], now=stopped)
    assert sql == orm
    assert sql[0] == 1
    by_kind = {t["kind"]: t for t in sql[1]}
    assert (by_kind[Kind.FIRST_RESPONSE]["state"], by_kind[Kind.FIRST_RESPONSE]["stopped_at"]) == (State.MET, stopped)
    assert (by_kind[Kind.RESOLUTION]["state"], by_kind[Kind.RESOLUTION]["stopped_at"]) == (State.RUNNING, None)


def test_timers_insert_stores_what_bulk_create_stores(policy):
    conversation = ConversationFactory(pending=True, priority=2)

    def build():
        return [
            SLATimer(
                conversation=conversation,
                kind=kind,
                policy=policy,
                priority=2,
                target_seconds=seconds,
                started_at=T0,
                at_risk_at=T0 + timedelta(seconds=seconds * 0.8),
                due_at=T0 + timedelta(seconds=seconds),
            )
            for kind, seconds in ((Kind.FIRST_RESPONSE, 900), (Kind.RESOLUTION, 14_400))
        ]

    results = []
    for insert in (queries.timers_insert, queries.timers_insert_orm):
        with transaction.atomic():
            created = insert(build())
            assert all(t.pk is not None for t in created)
            rows = SLATimer.objects.filter(pk__in=[t.pk for t in created]).order_by("pk").values()
            results.append([{k: v for k, v in row.items() if k != "id"} for row in rows])
            transaction.set_rollback(True)
    assert results[0] == results[1]
    assert [(t["kind"], t["state"], t["due_at"]) for t in results[0]] == [
        (Kind.FIRST_RESPONSE, State.RUNNING, T0 + timedelta(seconds=900)),
        (Kind.RESOLUTION, State.RUNNING, T0 + timedelta(seconds=14_400)),
    ]


def test_the_sla_services_write_no_sql_of_their_own():
    """Hand-written SQL lives in sla/queries.py only, beside its reason and twin."""
    from sla import services

    assert not WRITTEN_OUT.findall(inspect.getsource(services))
    assert WRITTEN_OUT.findall(inspect.getsource(queries))

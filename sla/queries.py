"""Statements of the SLA app written by hand, each beside its ORM twin.

The only place in the app where SQL is written out: each function's docstring
gives the measured reason it is not its twin (``<name>_orm``, the same thing in
Django). All run as written on PostgreSQL and SQLite (tables and columns come
from the model); ``tests/sla/test_queries.py`` runs each and its twin on the same
data and compares what they wrote and returned. They serve ``timers_start`` and
``timers_stop``, which run inside every handoff, first reply and resolve; the
sweep has no benchmark figure for a written-out form and stays in the ORM
(``select_for_update(skip_locked=True, of=...)``).
"""

from collections.abc import Sequence
from datetime import datetime

from core.db import bulk_insert, sql_columns, sql_for_update, sql_in, sql_run, sql_time
from sla.models import SLATimer

TIMERS = SLATimer._meta.db_table
State = SLATimer.State


def timers_insert(timers: list[SLATimer]) -> list[SLATimer]:
    """Insert a handoff's timers in one ``INSERT ... VALUES``, setting their ids:
    60-90 µs of CPU against 100-250 µs for ``bulk_create`` (commit 22f7c5f: worker
    CPU per handoff 5.9-6.2 -> 5.7-6.0 ms). ORM twin: ``timers_insert_orm``."""
    return bulk_insert(timers)


def timers_insert_orm(timers: list[SLATimer]) -> list[SLATimer]:
    """The twin of ``timers_insert``, through the ORM."""
    return SLATimer.objects.bulk_create(timers)


def timers_lock(*, conversation_id: int, kinds: Sequence[str]) -> list[SLATimer]:
    """The conversation's timers of these kinds, locked (FOR UPDATE OF on
    PostgreSQL), in kind order. Written out: 84 µs of CPU here against 281 through
    the ORM (commit fc49527: routing benchmark 188-204 -> 212-228 decisions/s,
    worker CPU per handoff 7.2 -> 6.2-6.6 ms); its columns named, as a prepared
    ``SELECT *`` fails once a migration adds one (commit 999275e). ORM twin:
    ``timers_lock_orm``."""
    return list(
        SLATimer.objects.raw(
            f"SELECT {sql_columns(SLATimer)} FROM {TIMERS} WHERE conversation_id = %s AND kind IN ({sql_in(kinds)})"
            " ORDER BY kind" + sql_for_update(of=TIMERS),
            [conversation_id, *kinds],
        )
    )


def timers_lock_orm(*, conversation_id: int, kinds: Sequence[str]) -> list[SLATimer]:
    """The twin of ``timers_lock``, through the ORM."""
    return list(
        SLATimer.objects.select_for_update(of=("self",))
        .filter(conversation_id=conversation_id, kind__in=kinds)
        .order_by("kind")
    )


def timers_mark_met(*, ids: Sequence[int], now: datetime) -> int:
    """Stop these locked open timers as met. Written out: a filtered UPDATE cost
    237 µs of CPU here against 28 µs (commit acda163: routing benchmark, worker CPU
    per handoff 9.9 -> 8.5-9.4 ms, 143 -> 158-179 decisions/s). ORM twin:
    ``timers_mark_met_orm``."""
    return sql_run(
        f"UPDATE {TIMERS} SET state = %s, stopped_at = %s WHERE id IN ({sql_in(ids)})",
        [State.MET, sql_time(now), *ids],
    )


def timers_mark_met_orm(*, ids: Sequence[int], now: datetime) -> int:
    """The twin of ``timers_mark_met``, through the ORM."""
    return SLATimer.objects.filter(pk__in=ids).update(state=State.MET, stopped_at=now)

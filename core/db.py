"""Small database helpers the apps share."""

import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from django.db import connection, models, transaction

M = TypeVar("M", bound=models.Model)


def on_commit_once(func: Callable[[], None], *, robust: bool = False) -> None:
    """``transaction.on_commit(func)``, unless ``func`` already waits for this commit
    from the same savepoint level: the changes of one service (and of the services
    it calls without savepoints) that each ask for the same after-commit work
    (route the queue, push the queue's places) get it done once.

    Reads Django's list of the transaction's callbacks, whose entries carry the
    savepoints they were registered under. Matching only the same level keeps a
    rolled-back savepoint from taking the work away, and keeps tests that capture
    one block's callbacks seeing those the block asked for.
    """
    current = transaction.get_connection()
    if current.in_atomic_block:
        level = set(current.savepoint_ids)
        if any(f is func and sids == level for sids, f, _robust in current.run_on_commit):
            return
    transaction.on_commit(func, robust=robust)


# --- Hand-written statements for the hot paths -------------------------------------
# A handoff, a resolve and a routing round run a few statements written by hand
# instead of built by the ORM: building a filtered UPDATE or SELECT cost 200-300 µs
# of CPU each here, against 30-45 µs for the same statement written out, and the
# routing benchmark is CPU-bound (docs/concurrency.md, "Cost of the hot paths").
# The SQL is plain enough for PostgreSQL and SQLite alike; tables and columns come
# from the models.


def sql_run(sql: str, params: Sequence = ()) -> int:
    """Run one statement; returns the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def sql_rows(sql: str, params: Sequence = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def sql_for_update(*, of: str, skip_locked: bool = False) -> str:
    """Row locks on PostgreSQL; nothing on SQLite, whose transactions take the one
    write lock at BEGIN (``transaction_mode`` IMMEDIATE)."""
    if connection.vendor != "postgresql":
        return ""
    return f" FOR UPDATE OF {of}" + (" SKIP LOCKED" if skip_locked else "")


def sql_columns(model: type[models.Model]) -> str:
    """The model's columns, to select instead of ``*``: a prepared ``SELECT *`` fails
    ("cached plan must not change result type") once a migration adds a column."""
    return ", ".join(f.column for f in model._meta.concrete_fields)


def sql_get(model: type[M], pk, *, lock: bool = False) -> M | None:
    """The row with this primary key as a model instance, read by hand (``raw()``,
    its columns named); ``lock``: row-locked on PostgreSQL."""
    table = model._meta.db_table
    found = model._default_manager.raw(
        f"SELECT {sql_columns(model)} FROM {table} WHERE {model._meta.pk.column} = %s"
        + (sql_for_update(of=table) if lock else ""),
        [pk],
    )
    return next(iter(found), None)


def sql_in(values: Sequence) -> str:
    """The placeholders of an ``IN (...)`` list of these values."""
    return ", ".join(["%s"] * len(values))


def sql_time(value: datetime):
    """A datetime as the database stores it (SQLite: UTC text, as the ORM writes it)."""
    return connection.ops.adapt_datetimefield_value(value)


def sql_datetime(value: datetime | None) -> datetime | None:
    """A datetime column read by hand, aware: SQLite gives back naive UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def sql_case(column: str, values: dict) -> tuple[str, list]:
    """``CASE column WHEN key THEN value ... END`` for a dict, and its parameters."""
    return f"CASE {column} {' '.join(['WHEN %s THEN %s'] * len(values))} END", [v for kv in values.items() for v in kv]


# Parameters one statement may carry: PostgreSQL's protocol counts them in 16 bits,
# and with prepared statements (settings: DB_PREPARED_STATEMENTS) they are sent as
# parameters, not spelled into the SQL. Lists that can grow without bound are
# queried in ``slices``.
MAX_PARAMS = 65_535


def slices(values: Sequence, *, size: int = 10_000) -> Iterator[Sequence]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def bulk_insert(objs: list[M]) -> list[M]:
    """``bulk_create`` as one ``INSERT ... VALUES``, setting each object's id.

    On PostgreSQL Django sends a batch as one array per column through UNNEST, and
    psycopg escapes every element of a text array with a regular expression: for
    the JSON of a routing round's decisions and timeline entries that was a
    quarter of the router's CPU here. For one or two rows this costs 60-90 µs of
    CPU against 100-250 µs for ``save()`` or ``bulk_create``.
    """
    if not objs or connection.vendor != "postgresql":
        return type(objs[0])._default_manager.bulk_create(objs) if objs else objs
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    row = f"({sql_in(fields)})"
    for batch in slices(objs, size=MAX_PARAMS // len(fields)):
        params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in batch for f in fields]
        ids = sql_rows(
            f"INSERT INTO {meta.db_table} ({', '.join(f.column for f in fields)})"
            f" VALUES {', '.join([row] * len(batch))} RETURNING {meta.pk.column}",
            params,
        )
        for obj, (pk,) in zip(batch, ids, strict=True):
            obj.pk = pk
            obj._state.adding, obj._state.db = False, connection.alias
    return objs


# --- Connection pools across fork --------------------------------------------------
# django-q2 forks its workers from a process that has used the database; a child
# that took a connection from the pool it inherited would share the parent's
# socket. Each child starts with no pool (Django opens one on first use). The
# inherited ones are kept, never closed here: closing would end the parent's
# sessions.
_inherited_pools: list = []


def _pools_forget_after_fork() -> None:
    from django.conf import settings

    if not settings.configured or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return
    from django.db.backends.postgresql.base import DatabaseWrapper

    _inherited_pools.append(DatabaseWrapper._connection_pools)
    DatabaseWrapper._connection_pools = {}


os.register_at_fork(after_in_child=_pools_forget_after_fork)

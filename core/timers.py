"""The one timer mechanism: periodic jobs run by one process at a time.

Apps register their jobs (``every``): routing's timers (offer expiry,
auto-offline, the skill wait, routing what waits), the SLA sweep, overdue bot
turns. Each job takes ``now`` and is idempotent: it claims its work with
conditional updates and ``SKIP LOCKED``, so two runs at once do each thing once.

Each ASGI process starts a ticker with its first socket (``start``) and keeps it
for its life. Every ``BATON_TIMERS_TICK_MS`` the ticker asks to lead: on
PostgreSQL a session advisory lock held on a connection of its own (not one of
the pool's), which the process loses with its connection if it dies, so another
process's ticker takes over at its next tick; on SQLite (embedded mode, one
process) it always leads. The leader runs each job that is due on the database
threads, each job on its own, so a slow one (a backlog of bot turns) does not hold
up the SLA sweep. A job that fails (the database restarting) is logged and runs
again at its next turn; the loop itself never stops on an error.

A django-q2 schedule (``backstop``, every minute) runs the same jobs once if no
ticker leads, for a deployment with its ASGI processes down. In embedded mode
only the ASGI process reaches the browsers, so the backstop leaves it to them.
"""

import asyncio
import contextlib
import contextvars
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

LOCK_KEY = 0x626174_6F6E_02
SCHEDULE_NAME = "timers"


@dataclass
class Job:
    name: str
    func: Callable
    every_s: float  # at least one tick


_jobs: list[Job] = []


def every(name: str, *, seconds: float = 0.0):
    """Register ``func(now=...)`` to run every ``seconds`` (0: every tick)."""

    def register(func):
        _jobs[:] = [job for job in _jobs if job.name != name]
        _jobs.append(Job(name=name, func=func, every_s=seconds))
        return func

    return register


def run(job: Job) -> None:
    job.func(now=timezone.now())


class _Leadership:
    """The advisory lock that makes one process the leader, on its own connection."""

    def __init__(self):
        self._conn = None
        self._held = False
        self._closed = False
        # Re-entrant: ``take`` gives up under it when its connection fails. ``give_up``
        # and ``close`` wait on it for a ``take`` still running on a worker thread
        # (the ticker's await of it may have been cancelled), which would otherwise
        # take the lock again after it was given up, on a connection no one closes.
        self._lock = threading.RLock()

    def take(self) -> bool:
        """True if this process leads (taking the lock if it is free). Never raises."""
        with self._lock:
            if self._closed:
                return False
            if connection.vendor != "postgresql":
                return True
            try:
                if self._conn is None or self._conn.closed:
                    self._conn, self._held = self._connect(), False
                if self._held:
                    self._conn.execute("SELECT 1")  # still ours while the session lives
                else:
                    self._held = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]
                return self._held
            except Exception:
                logger.warning("timers: lost the database connection that leads", exc_info=True)
                self.give_up()
                return False

    def close(self) -> None:
        """Give up for good: a ``take`` after this (one already on its way) declines."""
        with self._lock:
            self._closed = True
            self.give_up()

    def give_up(self) -> None:
        with self._lock:
            conn, held, self._conn, self._held = self._conn, self._held, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                # Released before the session ends: PostgreSQL frees a closed
                # session's locks only once its backend has exited, a moment
                # later, and another process asking meanwhile would be refused.
                if held:
                    conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
            with contextlib.suppress(Exception):
                conn.close()  # the session's lock goes with it, whatever happened above

    @staticmethod
    def _connect():
        import psycopg

        params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "context")}
        params.pop("prepare_threshold", None)
        return psycopg.connect(**params, autocommit=True, connect_timeout=5)


_running_tasks: set[asyncio.Task] = set()  # asyncio keeps only weak references
_tickers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def tick_s() -> float:
    return settings.BATON_TIMERS_TICK_MS / 1000


def start(loop: asyncio.AbstractEventLoop) -> None:
    """Start this loop's ticker, once (``BATON_TIMERS_TICK_MS=0``: never)."""
    if tick_s() <= 0:
        return
    task = _tickers.get(loop)
    if task is None or task.done():
        _tickers[loop] = loop.create_task(_tick_forever(), name="baton-timers", context=contextvars.Context())


async def _tick_forever() -> None:
    from core.live import db

    loop = asyncio.get_running_loop()
    due: dict[str, float] = {}
    running: set[str] = set()

    async def run_one(job: Job) -> None:
        try:
            await db(run)(job)
        except Exception:
            logger.exception("timer job %s failed", job.name)
        finally:
            running.discard(job.name)

    leadership = _Leadership()  # this ticker's own: closed with it, never reused
    take = db(leadership.take)
    try:
        await _tick_loop(loop, take, run_one, due, running)
    finally:
        # The server is stopping: let another process lead at once.
        leadership.close()


async def _tick_loop(loop, take, run_one, due: dict, running: set) -> None:
    while True:
        await asyncio.sleep(tick_s())
        try:
            leading = await take()
        except Exception:
            logger.exception("timers: could not ask to lead")
            continue
        if not leading:
            continue
        now = loop.time()
        for job in _jobs:
            if job.name in running or now < due.get(job.name, 0.0):
                continue
            due[job.name] = now + max(job.every_s, tick_s())
            running.add(job.name)
            task = loop.create_task(run_one(job), name=f"baton-timer-{job.name}")
            _running_tasks.add(task)
            task.add_done_callback(_running_tasks.discard)


def backstop() -> int:
    """Run every job once unless a ticker leads (django-q2's minute schedule).
    Returns the number of jobs run."""
    from core.tasks import channel_layer_is_process_local

    if channel_layer_is_process_local():
        return 0
    leadership = _Leadership()
    if not leadership.take():
        return 0
    try:
        for job in _jobs:
            try:
                run(job)
            except Exception:
                logger.exception("timer job %s failed", job.name)
        return len(_jobs)
    finally:
        leadership.give_up()


def schedule_ensure(**kwargs) -> None:
    """The backstop's django-q2 schedule (post_migrate: idempotent), in place of the
    schedules of each app that came before it."""
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=["routing-tick", "sla-sweep"]).delete()
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": "core.timers.backstop", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )

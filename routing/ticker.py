"""A per-process timer for offers and presence, with seconds-level precision.

django-q2's scheduler looks every ~30 s; an offer of 60 s must expire on time,
and in embedded mode only this process can push to its browsers. So each ASGI
process that has inbox sockets runs ``services.tick`` every
``BATON_ROUTING_TICK_MS`` on its own event loop, and keeps going for the
presence grace period after its last socket closed (to turn that agent offline).
The tick claims its work with conditional UPDATEs and SKIP LOCKED, so ticks in
many processes at once do each thing once. The counters below only decide
whether this process's timer runs; no routing state lives here.
"""

import asyncio
import contextvars
import logging
import threading
import time
import weakref

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_state = {"connections": 0, "last_closed": 0.0, "linger_s": 65.0}
_tasks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def _interval_s() -> float:
    return settings.BATON_ROUTING_TICK_MS / 1000


def connection_opened() -> None:
    """Called from an inbox consumer's connect (a thread of the server's loop)."""
    if _interval_s() <= 0:
        return
    with _lock:
        _state["connections"] += 1
    async_to_sync(_ensure_running)()


def connection_closed() -> None:
    if _interval_s() <= 0:
        return
    with _lock:
        _state["connections"] = max(0, _state["connections"] - 1)
        _state["last_closed"] = time.monotonic()


async def _ensure_running() -> None:
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        # A fresh context: the caller's belongs to an async_to_sync call whose
        # thread executor is gone once it returns, and the tick's sync_to_async
        # would otherwise try to use it.
        _tasks[loop] = loop.create_task(_run(), name="baton-routing-ticker", context=contextvars.Context())


def _idle() -> bool:
    with _lock:
        return _state["connections"] == 0 and time.monotonic() - _state["last_closed"] > _state["linger_s"]


def _tick() -> dict:
    from routing import services

    close_old_connections()
    try:
        return services.tick(now=timezone.now())
    finally:
        close_old_connections()


async def _run() -> None:
    while not _idle():
        await asyncio.sleep(_interval_s())
        try:
            # In a pool thread of its own, not the one thread the consumers' sync
            # code shares: a tick waiting on a lock must not hold up agents' frames.
            figures = await sync_to_async(_tick, thread_sensitive=False)()
        except Exception:
            logger.exception("routing tick failed")
            continue
        _state["linger_s"] = figures["grace_s"] + 2 * _interval_s() + 1

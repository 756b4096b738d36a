"""Embedded mode's sweeper: an asyncio task in the ASGI process.

With the in-memory channel layer (no REDIS_URL) only the ASGI process reaches
browsers, so a breach found by the django-q2 cluster could not be pushed. The
first agent inbox socket that connects starts one ticker on the server's event
loop; it sweeps every second in a worker thread and its on-commit pushes travel
through this process's channel layer. With Redis the cluster's loop does this.
"""

import asyncio
import contextvars
import logging
import weakref

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from helpdesk.tasks import channel_layer_is_process_local

logger = logging.getLogger(__name__)

_tickers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


async def _tick_forever(tick: float) -> None:
    from sla.tasks import sla_sweep_once

    sweep = database_sync_to_async(sla_sweep_once)
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while True:
        try:
            await sweep()
        except Exception:
            logger.exception("SLA sweep failed")
        next_tick += tick
        await asyncio.sleep(max(0.0, next_tick - loop.time()))


async def _ensure(tick: float) -> None:
    loop = asyncio.get_running_loop()
    task = _tickers.get(loop)
    if task is None or task.done():
        # A fresh context: the task must not inherit the connecting consumer's
        # sync_to_async executor, which is gone once connect() returns.
        _tickers[loop] = loop.create_task(_tick_forever(tick), name="baton-sla-ticker", context=contextvars.Context())


def ensure_started(tick: float = 1.0) -> None:
    """Start this process's ticker if the channel layer is process-local (idempotent).

    Called from sync code running under the ASGI server (a consumer's connect), so
    ``async_to_sync`` runs ``_ensure`` on the server's own loop."""
    if settings.BATON_SLA_TICKER and channel_layer_is_process_local():
        async_to_sync(_ensure)(tick)

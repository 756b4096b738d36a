"""What each ASGI process runs beside its sockets (docs/realtime.md).

- ``db``: consumers' database work runs on a pool of threads of its own
  (``BATON_DB_THREADS``), not on the one thread Channels' ``database_sync_to_async``
  shares among every socket of a process: a frame waiting on the database then
  holds up only its own socket, and events are forwarded on the event loop
  meanwhile.
- **Streams that cannot silently lose events.** Channel layers deliver at most
  once, and with Redis pub/sub an event published while a process's subscriber
  connection is down (Redis restarting) is gone. Each process publishes a
  numbered beat to itself every ``BEAT_S`` and listens for it; a beat that does
  not come back in order (or cannot be sent) means this process's sockets may
  have missed events, and once beats flow again every socket of the process is
  told to re-sync (``resync``), and its client catches up from the database.
- The timers (``core.timers``) start with the first socket.
"""

import asyncio
import contextvars
import logging
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections

from core import outbox
from core.tasks import channel_layer_is_process_local

logger = logging.getLogger(__name__)

BEAT_S = 0.5
# A beat this late (or out of order) means the stream had a hole.
BEAT_LATE_S = 2.0
PROCESS = uuid.uuid4().hex[:12]

_executor = ThreadPoolExecutor(max_workers=settings.BATON_DB_THREADS, thread_name_prefix="baton-db")


class _DatabaseCall(SyncToAsync):
    """As Channels' ``DatabaseSyncToAsync`` (connections made fit before and after,
    so a pooled one goes back to the pool), on this module's threads."""

    def thread_handler(self, loop, *args, **kwargs):
        close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


def db(func):
    """``func`` as a coroutine function that runs it on the database threads."""
    return _DatabaseCall(func, thread_sensitive=False, executor=_executor)


class _Process:
    """This process's sockets (per event loop) and the watch over their stream."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.expect = 1  # the next beat due back
        self.heard_at = loop.time()
        self.hole = False
        self.tasks: set[asyncio.Task] = set()  # asyncio keeps only weak references

    def keep(self, task: asyncio.Task) -> asyncio.Task:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def resync_all(self) -> None:
        sockets = list(self.sockets)
        logger.warning("live events may have been lost: %d sockets re-sync", len(sockets))
        for consumer in sockets:
            try:
                await consumer.resync()
            except Exception:
                logger.exception("could not ask a socket to re-sync")

    def heard(self, n: int) -> None:
        if n < self.expect:
            return  # a beat sent again
        if n > self.expect:
            self.hole = True  # some never came back
        self.expect = n + 1
        self.heard_at = self.loop.time()

    async def watch(self, layer) -> None:
        """Beat to ourselves through the layer; a hole in the beats re-syncs every
        socket of this process once beats come back in order."""
        group = f"live.beat.{PROCESS}"
        listening = None
        sent = 0
        while True:
            try:
                if listening is None or listening.done():
                    channel = await layer.new_channel()
                    await layer.group_add(group, channel)
                    listening = self.keep(self.loop.create_task(self._listen(layer, channel)))
                sent += 1
                await asyncio.wait_for(layer.group_send(group, {"type": "live.beat", "n": sent}), BEAT_LATE_S)
            except Exception:
                self.hole = True
            await asyncio.sleep(BEAT_S)
            if self.loop.time() - self.heard_at > BEAT_LATE_S:
                self.hole = True
            elif self.hole and self.expect == sent + 1:
                self.hole = False
                await self.resync_all()

    async def _listen(self, layer, channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            if message.get("type") == "live.beat":
                self.heard(message["n"])


_processes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Process]" = weakref.WeakKeyDictionary()


def process_start() -> None:
    """Start this loop's watch and timers (idempotent; on the server's loop)."""
    _process()


def _process() -> _Process:
    loop = asyncio.get_running_loop()
    process = _processes.get(loop)
    if process is None:
        process = _processes[loop] = _Process(loop)
        outbox.bind_loop(loop)
        # A fresh context: the tasks outlive the consumer whose connect started them.
        if not channel_layer_is_process_local():
            from channels.layers import get_channel_layer

            watch = loop.create_task(
                process.watch(get_channel_layer()), name="baton-live-watch", context=contextvars.Context()
            )
            process.keep(watch)
        from core import timers

        timers.start(loop)
    return process


def socket_opened(consumer) -> None:
    """Called from a consumer's connect, on the server's loop."""
    _process().sockets.add(consumer)


def socket_closed(consumer) -> None:
    process = _processes.get(asyncio.get_running_loop())
    if process is not None:
        process.sockets.discard(consumer)

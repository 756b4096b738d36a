"""The one way events leave a process for the channel layer, after commit.

Services queue events here (``submit``: a few microseconds, never raises, never
waits for Redis) and carry on; the events leave in the order they were queued:

- **Redis** (``REDIS_URL``): one daemon thread runs one event loop for the
  process's whole life and sends through the layer's own ``group_send``, so its
  connection is reused (``async_to_sync`` from a thread with no loop started a
  loop, and channels-redis a connection, per call). A send that fails (Redis
  restarting, a connection it dropped) is retried with backoff until Redis
  answers: nothing queued is dropped for a stale connection. What waits meanwhile
  is bounded by ``BACKLOG`` events (the oldest go beyond it, logged): clients
  re-sync from the database when their process's stream comes back
  (``core.live``), so an outage costs latency, never data.
- **In memory** (embedded mode): the layer lives on the ASGI server's event loop,
  where the sockets are, and is not thread-safe: events are handed to that loop
  (``bind_loop``, called as consumers connect) and sent there, in order. With no
  server loop (a management command) they are sent on a loop of their own, where
  nobody listens.

A process killed with events still queued loses them; delivery is at most once,
as channel layers are (docs/realtime.md). ``flush()`` waits until everything
queued so far has been handed to the layer (tests, the benchmarks, exit).
"""

import asyncio
import atexit
import logging
import os
import threading
from collections import deque

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer

logger = logging.getLogger(__name__)

Messages = list[tuple[list[str], dict]]

# Events waiting for a channel layer that does not answer, at most.
BACKLOG = 50_000
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0


async def _send_all(layer, messages: Messages) -> None:
    for groups, event in messages:
        for group in groups:
            await layer.group_send(group, event)


class _Sender:
    """Redis: the process's sending thread and its queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pending: deque[tuple[object, Messages]] = deque()
        self._pending_events = 0
        self._woken = False
        self._queued = 0
        self._sent = 0
        self.dropped = 0
        self.retries = 0

    def _start(self) -> asyncio.AbstractEventLoop:
        # Caller holds the lock.
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._wake = asyncio.Event()
            loop.call_soon(ready.set)
            loop.run_until_complete(self._drain())

        threading.Thread(target=run, name="baton-outbox", daemon=True).start()
        ready.wait()
        self._loop = loop
        return loop

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._pending:
                        self._woken = False
                        break
                    layer, messages = self._pending[0]
                await self._send_until_sent(layer, messages)
                with self._lock:
                    # Gone already if the backlog overflowed meanwhile.
                    if self._pending and self._pending[0][1] is messages:
                        self._pending.popleft()
                        self._pending_events -= len(messages)
                    self._sent += 1
                    self._idle.notify_all()

    async def _send_until_sent(self, layer, messages: Messages) -> None:
        delay = RETRY_FIRST_S
        done = 0  # groups of this batch already sent: a retry does not send them twice
        while True:
            try:
                for groups, event in messages[done:]:
                    for group in groups:
                        try:
                            await layer.group_send(group, event)
                        except (TypeError, ValueError):  # msgpack: an event no retry can send
                            logger.exception("cannot send %s to %s", event.get("type"), group)
                    done += 1
                return
            except Exception:
                self.retries += 1
                logger.warning("channel layer send failed; retrying in %.2f s", delay, exc_info=self.retries == 1)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                with self._lock:
                    if not self._pending or self._pending[0][1] is not messages:
                        return  # dropped from the backlog meanwhile

    def submit(self, layer, messages: Messages) -> None:
        with self._lock:
            loop = self._loop or self._start()
            self._pending.append((layer, messages))
            self._pending_events += len(messages)
            self._queued += 1
            while self._pending_events > BACKLOG and len(self._pending) > 1:
                _layer, old = self._pending.popleft()
                self._pending_events -= len(old)
                self.dropped += len(old)
                self._sent += 1
                logger.warning("channel layer unreachable: %d queued events dropped (clients re-sync)", len(old))
            if self._woken:
                return  # the sender will find these with the others
            self._woken = True
        loop.call_soon_threadsafe(self._wake.set)

    def flush(self, timeout: float = 5.0) -> bool:
        with self._lock:
            target = self._queued
            return self._idle.wait_for(lambda: self._sent >= target, timeout=timeout)

    def forget_after_fork(self) -> None:
        # A forked child (django-q2's workers) has the parent's state but not its thread.
        self.__init__()


class _LoopBound:
    """In memory: events handed to the ASGI server's loop, sent there in order."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._lock = threading.Lock()
        self._queued = 0
        self._sent = 0
        self._idle = threading.Condition(self._lock)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._loop is loop and not loop.is_closed():
                return
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._drain(self._queue), name="baton-outbox")

    async def _drain(self, queue: asyncio.Queue) -> None:
        while True:
            layer, messages = await queue.get()
            try:
                await _send_all(layer, messages)
            except Exception:
                logger.exception("in-memory channel layer send failed")
            finally:
                with self._lock:
                    self._sent += 1
                    self._idle.notify_all()

    def submit(self, layer, messages: Messages) -> None:
        with self._lock:
            loop, queue = self._loop, self._queue
            usable = loop is not None and loop.is_running()
            if usable:
                self._queued += 1
        if not usable:
            async_to_sync(_send_all)(layer, messages)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait((layer, messages))
        else:
            loop.call_soon_threadsafe(queue.put_nowait, (layer, messages))

    def flush(self, timeout: float = 5.0) -> bool:
        with self._lock:
            target = self._queued
            return self._idle.wait_for(lambda: self._sent >= target, timeout=timeout)


_sender = _Sender()
_local = _LoopBound()


def submit(layer, messages: Messages) -> None:
    """Queue (groups, event) pairs for ``layer``; they leave in order, after this returns."""
    if not messages:
        return
    if isinstance(layer, InMemoryChannelLayer):
        _local.submit(layer, messages)
    else:
        _sender.submit(layer, messages)


def bind_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The event loop this process's sockets live on (in-memory layer only)."""
    _local.bind(loop)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every event queued before this call has been handed to its layer."""
    return _sender.flush(timeout) and _local.flush(timeout)


os.register_at_fork(after_in_child=_sender.forget_after_fork)
atexit.register(flush, 2.0)

"""One sender per process for channel-layer events bound for Redis.

``async_to_sync(layer.group_send)`` from a thread with no event loop (a django-q2
worker, a benchmark worker, a management command) starts a thread and an event
loop per call, and channels-redis keeps its connection pools per loop: every
event paid for a new Redis connection. Here one daemon thread runs one loop for
the process's whole life, so its pool is reused, and the committing thread only
queues the events (a few microseconds) instead of waiting for Redis. What queued
up while a batch was sending leaves as the next batch, its Redis commands
pipelined: two round trips however many groups it reaches.

Events leave in the order they were queued. Delivery stays at most once, as
channel layers are (docs/realtime.md): a process killed with events still queued
loses them, and clients catch up from the database. ``flush()`` waits until
everything queued so far has been handed to Redis (tests, the benchmarks, exit).

The in-memory layer of embedded mode lives on the ASGI server's loop and does not
come here (see ``conversations.broadcast``).
"""

import asyncio
import atexit
import logging
import os
import threading
import time
from collections import defaultdict

from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

Messages = list[tuple[list[str], dict]]


class _Sender:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pending: list[tuple[object, Messages]] = []
        self._woken = False
        self._queued = 0
        self._sent = 0

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
            # Whatever queued up meanwhile (a transaction's events, several
            # transactions' under load) leaves together, in order.
            with self._lock:
                batches, self._pending, self._woken = self._pending, [], False
            try:
                for layer, sends in _by_layer(batches):
                    if isinstance(layer, RedisChannelLayer):
                        await _redis_group_send_many(layer, sends)
                    else:  # another layer with processes of its own: one send at a time
                        for group, event in sends:
                            await layer.group_send(group, event)
            except Exception:
                logger.exception("channel layer send failed; clients catch up from the database")
            finally:
                with self._lock:
                    self._sent += len(batches)
                    self._idle.notify_all()

    def submit(self, layer, messages: Messages) -> None:
        with self._lock:
            loop = self._loop or self._start()
            self._pending.append((layer, messages))
            self._queued += 1
            if self._woken:
                return  # the sender will find these with the others
            self._woken = True
        loop.call_soon_threadsafe(self._wake.set)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every batch queued before this call has been sent; False on timeout."""
        with self._lock:
            target = self._queued
            return self._idle.wait_for(lambda: self._sent >= target, timeout=timeout)

    def forget_after_fork(self) -> None:
        # A forked child (django-q2's workers) has the parent's state but not its thread.
        self.__init__()


# channels-redis 4.3's RedisChannelLayer.group_send, unchanged: add the message to
# each member channel's sorted set unless that channel is full.
_GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


def _by_layer(batches: list[tuple[object, Messages]]) -> list[tuple[object, list[tuple[str, dict]]]]:
    """(group, event) sends in order, in runs of one layer (there is one, unless a
    test swapped the settings)."""
    runs: list[tuple[object, list]] = []
    for layer, messages in batches:
        if not runs or runs[-1][0] is not layer:
            runs.append((layer, []))
        runs[-1][1].extend((group, event) for groups, event in messages for group in groups)
    return runs


async def _redis_group_send_many(layer, sends: list[tuple[str, dict]]) -> None:
    """``group_send`` of channels-redis (pinned in requirements.txt) for many
    (group, event) pairs: the same Redis commands in the same order, pipelined, so
    a batch costs two round trips per shard instead of two to four per group."""
    now = time.time()
    members: dict[int, list[str]] = {}
    by_shard = defaultdict(list)
    for i, (group, _event) in enumerate(sends):
        by_shard[layer.consistent_hash(group)].append(i)
    for index, items in by_shard.items():
        pipe = layer.connection(index).pipeline(transaction=False)
        for i in items:
            key = layer._group_key(sends[i][0])
            pipe.zremrangebyscore(key, min=0, max=int(now) - layer.group_expiry)
            pipe.zrange(key, 0, -1)
        replies = await pipe.execute()
        for j, i in enumerate(items):
            members[i] = [name.decode("utf8") for name in replies[2 * j + 1]]
    pipes = {}
    stamp = _stamps()
    for i, (group, event) in enumerate(sends):
        if not members[i]:
            continue
        try:
            by_connection, messages, capacities = layer._map_channel_keys_to_connection(members[i], event)
        except Exception:  # one event that cannot be serialised must not cost the others theirs
            logger.exception("channel layer cannot send %s to %s", event.get("type"), group)
            continue
        for index, keys in by_connection.items():
            if index not in pipes:
                pipes[index] = layer.connection(index).pipeline(transaction=False)
            pipe = pipes[index]
            for key in keys:
                pipe.zremrangebyscore(key, min=0, max=int(now) - int(layer.expiry))
            # Each channel is a sorted set ordered by this stamp: it must grow from one
            # event to the next, as group_send's time.time() does from call to call.
            args = [messages[k] for k in keys] + [capacities[k] for k in keys] + [next(stamp), layer.expiry]
            pipe.eval(_GROUP_SEND_LUA, len(keys), *keys, *args)
    for pipe in pipes.values():
        await pipe.execute()


_last_stamp = 0.0


def _stamps():
    """Increasing event stamps (seconds since the epoch): now, or just after the
    last one handed out, whichever is later; the sender's loop is their one user."""
    global _last_stamp
    while True:
        _last_stamp = max(time.time(), _last_stamp + 1e-6)
        yield _last_stamp


_sender = _Sender()
submit = _sender.submit
flush = _sender.flush
os.register_at_fork(after_in_child=_sender.forget_after_fork)
atexit.register(flush, 2.0)

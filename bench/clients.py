"""Simulated browsers on real websockets, for benchmarks and fault tests.

Each client keeps the protocol ``static/baton/live.js`` keeps (docs/realtime.md):
every message it sends carries a client id and stays pending until the server
acknowledges it, and is sent again after every reconnect; its catch-up cursor is
the highest sequence number below which it holds every message, and a message
ahead of the cursor, or of a newer conversation, makes it ask for the missing
range (``sync``); what it holds is de-duplicated by id and kept in sequence.

No Django here: a load process drives hundreds of these on one event loop.
"""

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import websockets

ORIGIN = "http://127.0.0.1"


def customer_subprotocols(token: str) -> list[str]:
    """As chat.js opens the customer's socket: the token in a subprotocol, not the URL."""
    return ["baton", "baton.token." + token.encode().hex()]


# Errors after which a send is given up (as live.js): the others mean "not now".
FINAL_ERRORS = {"empty", "too_long", "bad_request", "forbidden", "not_found"}
RETRY_S = 1.0
# Reconnect backoff, as live.js: from 0.25 s, doubling, at most 5 s.
BACKOFF_START_S = 0.25
BACKOFF_MAX_S = 5.0


@dataclass
class Figures:
    """What the clients of one process counted."""

    frames: int = 0
    duplicate_frames: int = 0  # a message frame for an id the client already held
    late_frames: int = 0  # a message that arrived after a later one of its conversation
    reconnects: int = 0
    resent: int = 0
    retried: int = 0  # sends refused for now ("unavailable") and sent again
    errors: list = field(default_factory=list)


class Stream:
    """The messages a client holds of one customer's conversations (or of one
    conversation, for an agent's page), in (conversation, seq) order."""

    def __init__(self):
        self.by_id: dict[int, dict] = {}
        self.keys: set[tuple[int, int]] = set()
        self.cursor = (0, 0)  # every message up to it is held
        self.highest: dict[int, int] = defaultdict(int)

    def add(self, message: dict, figures: Figures) -> str:
        """Hold ``message``; returns "dup", "gap" (the client must sync) or "ok".

        The cursor moves only along a run of consecutive numbers of its own
        conversation, or to where a sync ended: a message of a newer conversation
        says nothing about whether the older one ended where the cursor is."""
        if message["id"] in self.by_id:
            figures.duplicate_frames += 1
            return "dup"
        self.by_id[message["id"]] = message
        conversation, seq = message["conversation"], message["seq"]
        self.keys.add((conversation, seq))
        if seq < self.highest[conversation]:
            figures.late_frames += 1
        self.highest[conversation] = max(self.highest[conversation], seq)
        self._advance()
        return "ok" if (conversation, seq) <= self.cursor else "gap"

    def _advance(self) -> None:
        conversation, seq = self.cursor
        while (conversation, seq + 1) in self.keys:
            seq += 1
        self.cursor = (conversation, seq)

    def synced(self, conversation: int, seq: int) -> None:
        """The server replayed everything after the cursor up to (conversation, seq)."""
        if (conversation, seq) > self.cursor:
            self.cursor = (conversation, seq)
        self._advance()

    def ordered(self) -> list[dict]:
        return [
            self.by_id[i]
            for i in sorted(self.by_id, key=lambda i: (self.by_id[i]["conversation"], self.by_id[i]["seq"]))
        ]


class _Coalesced:
    """At most one sync in flight: asking again while one is answered sends one
    more when it is done (from the cursor as it is then), not one per gap."""

    timeout_s = 5.0

    def __init__(self, frame):
        self.frame = frame
        self.since: float | None = None
        self.again = False

    def reset(self) -> None:
        self.since, self.again = None, False

    async def ask(self, send) -> None:
        if self.since is not None and time.monotonic() - self.since < self.timeout_s:
            self.again = True
            return
        self.since, self.again = time.monotonic(), False
        await send(self.frame())

    async def refused(self, send) -> None:
        """The server could not answer the sync now: ask again after a pause."""
        self.since = None

        async def later():
            await asyncio.sleep(RETRY_S)
            await self.ask(send)

        asyncio.get_running_loop().create_task(later())

    async def done(self, send) -> None:
        self.since = None
        if self.again:
            await self.ask(send)


class _Client:
    """One websocket that reconnects (with backoff) until stopped."""

    path = ""
    message_fields: dict = {}  # what every message frame carries besides its body

    def __init__(self, *, base: str | list[str], figures: Figures, headers: list | None = None, on_frame=None):
        # Several servers (a load balancer's view): each client starts on one and
        # moves to the next when it cannot connect.
        self.bases = [base] if isinstance(base, str) else list(base)
        self._base_at = random.randrange(len(self.bases))
        self.figures = figures
        self.headers = headers or []
        self.on_frame = on_frame
        self.ws = None
        self.open = asyncio.Event()
        self.stopped = False
        self.connects = 0
        self.pending: dict[str, dict] = {}  # client id -> frame, until acknowledged
        self.sent_at: dict[str, float] = {}
        self._task: asyncio.Task | None = None
        self._closing = None

    subprotocols: list[str] | None = None

    def url(self) -> str:
        return self.bases[self._base_at] + self.path

    def start(self) -> asyncio.Task:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    async def _run(self) -> None:
        delay = BACKOFF_START_S
        while not self.stopped:
            try:
                async with websockets.connect(
                    self.url(),
                    origin=ORIGIN,
                    additional_headers=self.headers,
                    subprotocols=self.subprotocols,
                    open_timeout=20,
                    ping_interval=20,
                    ping_timeout=20,
                    max_queue=None,
                ) as ws:
                    self.ws = ws
                    self.connects += 1
                    if self.connects > 1:
                        self.figures.reconnects += 1
                    delay = BACKOFF_START_S
                    self.open.set()
                    await self.on_open()
                    async for raw in ws:
                        self.figures.frames += 1
                        frame = json.loads(raw)
                        await self.handle(frame)
                        if self.on_frame is not None:
                            self.on_frame(self, frame)
            except (OSError, websockets.WebSocketException, TimeoutError) as e:
                code = getattr(getattr(e, "rcvd", None), "code", None)
                if code in (4403, 4404):
                    self.figures.errors.append(f"{self.url()}: closed {code}")
                    return
                if self.ws is None:  # could not connect: try the next server
                    self._base_at = (self._base_at + 1) % len(self.bases)
            except Exception as e:  # a bug in the client: counted, and the client goes on
                self.figures.errors.append(f"{type(e).__name__}: {e}")
            finally:
                self.open.clear()
                self.ws = None
            if self.stopped:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def on_open(self) -> None:
        for frame in list(self.pending.values()):
            self.figures.resent += 1
            await self._send(frame)

    async def handle(self, frame: dict) -> None:
        raise NotImplementedError

    async def _send(self, frame: dict) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
            return True
        except websockets.WebSocketException:
            return False

    async def send_message(self, body: str, **fields) -> str:
        """Send ``body`` with a new client id; it stays pending until acknowledged.
        ``fields`` add to (or override) ``message_fields``: a page's reply names its conversation."""
        client_id = uuid.uuid4().hex
        frame = {"type": "message", "client_id": client_id, "body": body, **self.message_fields, **fields}
        self.pending[client_id] = frame
        self.sent_at[client_id] = time.monotonic()
        await self._send(frame)
        return client_id

    def acked(self, frame: dict) -> None:
        self.pending.pop(frame.get("client_id"), None)

    def failed(self, frame: dict, who: str) -> None:
        """A send the server refused: given up if no retry can help, else sent
        again after a pause (the database was unreachable, say)."""
        client_id = frame["client_id"]
        if frame.get("code") in FINAL_ERRORS:
            self.figures.errors.append(f"{who}: {frame.get('code')}: {frame.get('message')}")
            self.pending.pop(client_id, None)
            return
        self.figures.retried += 1

        async def again():
            await asyncio.sleep(RETRY_S * (0.5 + random.random()))
            if client_id in self.pending:
                await self._send(self.pending[client_id])

        asyncio.get_running_loop().create_task(again())

    async def drop(self) -> None:
        """Cut the connection as a network would: no closing handshake."""
        ws = self.ws
        if ws is not None:
            ws.transport.abort()

    async def stop(self) -> None:
        self.stopped = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


class _StreamClient(_Client):
    """A socket that holds a stream of messages: it syncs from its cursor on every
    connect and whenever it sees a gap, and resends what is unacknowledged."""

    who = "client"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stream = Stream()
        self._syncing = _Coalesced(self.sync_frame)

    def sync_frame(self) -> dict:
        raise NotImplementedError

    async def on_open(self) -> None:
        self._syncing.reset()
        await self.sync()
        await super().on_open()

    async def sync(self) -> None:
        await self._syncing.ask(self._send)

    async def hold(self, message: dict) -> None:
        if self.stream.add(message, self.figures) == "gap":
            await self.sync()

    async def handle(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "conversation.message":
            await self.hold(frame["message"])
        elif kind == "message.ack":
            self.acked(frame)
            if "message" in frame:
                await self.hold(frame["message"])
        elif kind == "sync.done":
            self.stream.synced(frame["conversation"], frame["seq"])
            await self._syncing.done(self._send)
        elif kind == "resync":
            await self.sync()
        elif kind == "error" and frame.get("client_id") in self.pending:
            self.failed(frame, self.who)
        elif kind == "error" and frame.get("frame") == "sync" and frame.get("code") not in FINAL_ERRORS:
            await self._syncing.refused(self._send)
        else:
            self.other(frame)

    def other(self, frame: dict) -> None:
        pass


class CustomerClient(_StreamClient):
    """The customer's widget."""

    def __init__(self, *, token: str, customer_id: int, **kwargs):
        super().__init__(**kwargs)
        self.token = token
        self.customer_id = customer_id
        self.who = f"customer {customer_id}"
        self.state: dict | None = None

    path = "/ws/chat/"

    @property
    def subprotocols(self) -> list[str] | None:
        return customer_subprotocols(self.token)

    def sync_frame(self) -> dict:
        conversation, seq = self.stream.cursor
        return {"type": "sync", "conversation": conversation, "after_seq": seq}

    def other(self, frame: dict) -> None:
        """A state event older than the one held is ignored (its version)."""
        if frame.get("type") != "conversation.changed":
            return
        incoming, current = frame["conversation"], self.state
        newer = current is None or incoming.get("version", 0) >= current.get("version", 0)
        if newer or current["id"] != incoming["id"]:
            self.state = incoming


class InboxClient(_Client):
    """An agent's page (static/baton/hub.js): heartbeats keep the agent online; with
    ``watch`` it shows that conversation beside the list, and replies go out over it."""

    path = "/ws/inbox/"
    heartbeat_s = 15.0
    watch: int | None = None

    async def on_open(self) -> None:
        await self._send({"type": "presence.heartbeat"})
        if self.watch is not None:
            await self._send({"type": "watch", "conversation": self.watch})
        await super().on_open()

    async def handle(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message.ack":
            self.acked(frame)
        elif kind == "error" and frame.get("client_id") in self.pending:
            self.failed(frame, "agent page")

    async def heartbeats(self) -> None:
        while not self.stopped:
            await asyncio.sleep(self.heartbeat_s)
            await self._send({"type": "presence.heartbeat"})


class ConversationClient(_StreamClient):
    """One conversation open in an agent's browser."""

    def __init__(self, *, conversation_id: int, **kwargs):
        super().__init__(**kwargs)
        self.conversation_id = conversation_id
        self.who = f"agent on {conversation_id}"
        self.stream.cursor = (conversation_id, 0)
        self.message_fields = {"conversation": conversation_id}

    # As the agent's page (static/baton/hub.js): the inbox socket, pointed at the conversation.
    path = "/ws/inbox/"

    async def on_open(self) -> None:
        await self._send({"type": "watch", "conversation": self.conversation_id})
        await super().on_open()

    async def handle(self, frame: dict) -> None:
        if frame.get("type") == "conversation.message" and frame["message"]["conversation"] != self.conversation_id:
            return  # the list's traffic
        await super().handle(frame)

    def sync_frame(self) -> dict:
        return {
            "type": "sync",
            "conversation": self.conversation_id,
            "after_seq": self.stream.cursor[1],
            "after_event": 0,
        }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

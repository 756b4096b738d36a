"""Websocket consumers: authenticate in connect(), then translate frames to services.

Every consumer is asynchronous: live events are forwarded on the event loop as
they arrive, and a frame's database work runs on the process's database threads
(``core.live.db``), so no socket waits behind another's writes
(docs/realtime.md).

Every frame a client sends is untrusted: unknown types, wrong field types and
other customers' ids get an ``error`` frame and change nothing. A frame the
database cannot serve right now (it is restarting) gets an ``error`` frame with
code ``unavailable``; the client keeps what it sent and sends it again.

The apps above this one (routing, sla) reach agents' browsers through the inbox
socket without this app importing them: their channel-layer events (types in
``FORWARDED_NAMESPACES``) are forwarded as they are, and their client frames are
handled by functions they register with ``inbox_frame_handler``.
"""

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError

from conversations import broadcast, selectors, services, signals
from conversations.identity import SUBPROTOCOL, session_key, token_from_subprotocols, visitor_read
from conversations.models import Conversation, Customer
from core import live, ratelimit
from core.live import db

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# RFC 6455 "Try Again Later": the channel layer (Redis) cannot take the socket
# right now; the client reconnects with backoff and uses HTTP meanwhile.
CLOSE_TRY_LATER = 1013
# RFC 6455 "Policy Violation": a client that goes on flooding after its frames
# were refused with rate_limited.
CLOSE_POLICY = 1008

# Event types the inbox socket forwards to the browser as they are.
FORWARDED_NAMESPACES = ("conversation.", "routing.", "sla.", "notification.")

# Frame type → handler(user, content) returning a frame to send back, or None.
# Filled by the apps above this one at start-up (their AppConfig.ready()).
_inbox_frame_handlers: dict[str, Callable[..., dict | None]] = {}


def inbox_frame_handler(frame_type: str):
    """Register a handler for a frame agents' inbox pages send (``presence.heartbeat``, ...).

    The handler is called as ``handler(user=..., content=...)`` on a database
    thread and must treat the content as untrusted; a ValidationError or
    PermissionDenied it raises becomes an error frame.
    """

    def register(func):
        _inbox_frame_handlers[frame_type] = func
        return func

    return register


def _int_field(content: dict, name: str) -> int | None:
    value = content.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class _EventsConsumer(AsyncJsonWebsocketConsumer):
    """Forwards this app's channel-layer events to the client as they are."""

    joined: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Client ids of this socket's latest sends (``_own_echo``).
        self.sending: deque[str] = deque(maxlen=64)
        # Every frame of this socket, of any type (core/ratelimit.py).
        self.frames = ratelimit.FrameBudget(uuid.uuid4().hex)
        self.closing = False

    async def dispatch(self, message):
        """As Channels' own, without its hop to the process's one sync thread before
        every message (``aclose_old_connections``: database work here closes its
        own connections), and this project's live events without a handler of
        their own are forwarded to the client as they are."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None and message["type"].startswith(FORWARDED_NAMESPACES):
            if not self._own_echo(message):
                await self.forward(message)
            return
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    def _own_echo(self, event: dict) -> bool:
        """The live event of a message this socket sent: its acknowledgement
        carries the message, so the event is not sent too (half the frames of a
        busy conversation were these echoes, each dropped by the client)."""
        if event["type"] != "conversation.message" or not self.sending:
            return False
        return event["message"].get("client_id") in self.sending

    async def forward(self, event: dict) -> None:
        try:
            await self.send_json(event)
        except Exception:  # the socket is closing; its client re-syncs when it is back
            logger.debug("could not forward %s", event.get("type"), exc_info=True)

    async def join_and_accept(self, groups: list[str], *, before_accept=None, subprotocol=None) -> bool:
        """Join the groups (and run ``before_accept``), then accept; if the channel
        layer cannot take the socket (Redis is down), close with "try again later"."""
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: socket refused for now", exc_info=True)
            await self.close(code=CLOSE_TRY_LATER)
            return False
        self.joined = tuple(groups)
        if before_accept is not None:
            await before_accept()
        await self.accept(subprotocol)
        live.socket_opened(self)
        return True

    async def disconnect(self, code):
        live.socket_closed(self)
        for group in self.joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.debug("group_discard failed", exc_info=True)

    async def websocket_disconnect(self, message):
        try:
            await self.disconnect(message["code"])
        finally:
            raise StopConsumer()

    async def resync(self) -> None:
        """Events may have been lost on the way to this process: the client catches up."""
        await self.forward({"type": "resync"})

    async def send_error(
        self, *, code: str, message: str, client_id: object = None, frame: object = None, retry_after: int | None = None
    ) -> None:
        """``frame``: the type of the frame refused, so a client can retry a sync;
        ``retry_after``: the seconds a rate-limited client waits before it does."""
        error = {"type": "error", "code": code, "message": message, "client_id": client_id, "frame": frame}
        if retry_after is not None:
            error["retry_after"] = retry_after
        await self.send_json(error)

    async def run_frame(self, work: Callable, content: dict) -> object:
        """Run a frame's database work on the database threads; its refusals and
        failures become error frames (returns None then)."""
        client_id, frame = content.get("client_id"), content.get("type")
        try:
            return await db(work)()
        except ratelimit.RateLimited as e:
            await self.send_error(
                code="rate_limited", message=str(e), client_id=client_id, frame=frame, retry_after=e.retry_after
            )
        except ValidationError as e:
            await self.send_error(code=e.code or "invalid", message=e.messages[0], client_id=client_id, frame=frame)
        except PermissionDenied as e:
            await self.send_error(code="forbidden", message=str(e), client_id=client_id, frame=frame)
        except DatabaseError:
            logger.warning("database unavailable for a %s frame", content.get("type"), exc_info=True)
            await self.send_error(
                code="unavailable",
                message="We can't reach our database right now; retrying.",
                client_id=client_id,
                frame=frame,
            )
        except Exception:
            logger.exception("a %s frame failed", content.get("type"))
            await self.send_error(
                code="server_error", message="Something went wrong; retrying.", client_id=client_id, frame=frame
            )
        return None

    async def post_message(self, content: dict, post: Callable[[object, object], object]) -> None:
        """Store a message frame through ``post(body, client_id)``; acknowledge it
        with the stored message, or say why not."""
        client_id = content.get("client_id")
        if isinstance(client_id, str) and client_id:
            self.sending.append(client_id)

        def store():
            return broadcast.message_payload(post(content.get("body"), client_id))

        payload = await self.run_frame(store, content)
        if payload is not None:
            await self.send_json(
                {"type": "message.ack", "client_id": client_id, "id": payload["id"], "message": payload}
            )

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error(code="bad_request", message="Frames must be JSON objects with a type.")
            return
        handler = getattr(self, "on_" + content["type"].replace(".", "_"), None) or self.registered_handler(
            content["type"]
        )
        if handler is None:
            await self.send_error(code="bad_request", message=f"Unknown frame type {content['type'][:40]!r}.")
            return
        await handler(content)

    def registered_handler(self, frame_type: str) -> Callable | None:
        return None

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Every frame is answered or handled, in order: a binary or oversized one
        with an error frame (not a crash that drops the socket, 1006), one past the
        socket's frame budget with ``rate_limited``; a socket that goes on flooding
        is closed with 1008."""
        if self.closing:
            return  # closed for flooding: what is still in flight is not served
        too_large = text_data is not None and len(text_data) > settings.BATON_WS_MAX_FRAME_CHARS
        content = None if text_data is None or too_large else await self.decode_json(text_data)
        retry_after = self.frames.take()
        if retry_after is not None:
            if self.frames.flooding:
                self.closing = True
                await self.close(code=CLOSE_POLICY)
                return
            fields = content if isinstance(content, dict) else {}
            await self.send_error(
                code="rate_limited",
                message=ratelimit.SLOW_DOWN,
                client_id=fields.get("client_id"),
                frame=fields.get("type"),
                retry_after=retry_after,
            )
            return
        if text_data is None:
            await self.send_error(code="bad_request", message="Frames must be JSON text, not binary.")
        elif too_large:
            await self.send_error(
                code="too_large", message=f"Frames can be at most {settings.BATON_WS_MAX_FRAME_CHARS} characters."
            )
        else:
            await self.receive_json(content, **kwargs)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None  # answered with a bad_request frame, not a dropped socket


class CustomerChatConsumer(_EventsConsumer):
    """The customer's widget. Identity comes from the session token, never from a
    frame; the token comes in the socket's subprotocol (``baton.token.…``), not in its
    URL, which servers and proxies write to their logs. A visitor who has written
    nothing has no customer row yet: their first message makes it, and the socket
    then joins the customer's group."""

    customer: Customer | None = None

    async def connect(self):
        self.visitor = visitor_read(token_from_subprotocols(self.scope.get("subprotocols", [])))
        if self.visitor is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        try:
            self.customer = await db(selectors.customer_of)(self.visitor)
        except DatabaseError:
            await self.close(code=CLOSE_TRY_LATER)
            return
        if self.customer is None and self.visitor.customer_id is not None:
            await self.close(code=CLOSE_FORBIDDEN)  # the customer was erased
            return
        groups = [broadcast.customer_group(self.customer.pk)] if self.customer else []
        await self.join_and_accept(groups, subprotocol=SUBPROTOCOL)

    def _customer_made(self) -> Customer:
        """This visitor's customer, made now if this is their first message."""
        if self.customer is None:
            ratelimit.start_check(ip=ratelimit.scope_ip(self.scope))
            self.customer = services.customer_for_visitor(visitor=self.visitor)
        return self.customer

    async def _joined_customer(self, had_customer: bool) -> None:
        """A first message made the customer: hear its events from now on, and have
        the client catch up on what was said before the socket joined (the bot's
        answer can come before the join)."""
        if had_customer or self.customer is None:
            return
        group = broadcast.customer_group(self.customer.pk)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: the client catches up over HTTP", exc_info=True)
            await self.close(code=CLOSE_TRY_LATER)
            return
        self.joined = (*self.joined, group)
        await self.resync()

    async def customer_erased(self, event):
        """The customer's data was erased (privacy): this page is done; a new one starts afresh."""
        await self.close(code=CLOSE_FORBIDDEN)

    def _rate_check(self) -> None:
        ratelimit.message_check(visitor=session_key(self.visitor), ip=ratelimit.scope_ip(self.scope))

    def _post(self, body, client_id):
        self._rate_check()
        services.message_body_clean(body)  # no customer row for a refused first message
        return services.message_post_from_customer(customer=self._customer_made(), body=body, client_id=client_id)

    def _handoff(self):
        self._rate_check()
        return services.customer_request_handoff(customer=self._customer_made())

    async def on_message(self, content):
        had_customer = self.customer is not None
        await self.post_message(content, self._post)
        await self._joined_customer(had_customer)

    async def on_handoff(self, content):
        had_customer = self.customer is not None
        done = await self.run_frame(self._handoff, content)
        if done is not None:
            await self.send_json({"type": "handoff.ack", "client_id": content.get("client_id")})
        await self._joined_customer(had_customer)

    async def on_sync(self, content):
        """Replay what the client misses after its cursor, then the state, then
        where the replay ended (``sync.done``: the client holds everything up to it)."""
        conversation_id = _int_field(content, "conversation") or 0
        after_seq = _int_field(content, "after_seq") or 0
        frames = await self.run_frame(lambda: self._sync_frames(conversation_id, after_seq), content)
        for frame in frames or []:
            await self.send_json(frame)

    def _sync_frames(self, conversation_id: int, after_seq: int) -> list[dict]:
        if self.customer is None:
            return [{"type": "sync.done", "conversation": 0, "seq": 0}]
        if conversation_id and not self.customer.conversations.filter(pk=conversation_id).exists():
            return [
                {
                    "type": "error",
                    "code": "not_found",
                    "message": "No such conversation.",
                    "client_id": None,
                    "frame": "sync",
                }
            ]
        catch_up = selectors.customer_catch_up(
            customer=self.customer, conversation_id=conversation_id, after_seq=after_seq
        )
        frames = [{"type": "conversation.message", "message": broadcast.message_payload(m)} for m in catch_up.messages]
        if catch_up.conversation is not None:
            frames.append(
                {
                    "type": "conversation.changed",
                    "event": "sync",
                    "conversation": broadcast.conversation_payload(
                        catch_up.conversation, queue_position=catch_up.queue_position
                    ),
                }
            )
        frames.append({"type": "sync.done", "conversation": catch_up.cursor[0], "seq": catch_up.cursor[1]})
        return frames


def _agent(scope):
    """The signed-in, active user the socket belongs to, or None."""
    user = scope.get("user")
    return user if user is not None and user.is_authenticated and user.is_active else None


def _session_groups(scope) -> list[str]:
    """The group that logging out of this socket's session closes it through."""
    key = getattr(scope.get("session"), "session_key", None)
    return [broadcast.session_group(key)] if key else []


class _AgentSocket:
    """What every agent socket does when its session logs out: close."""

    async def session_ended(self, event):
        await self.close(code=CLOSE_FORBIDDEN)


class InboxConsumer(_AgentSocket, _EventsConsumer):
    """An agent's inbox: every conversation state change, for live lists and toasts,
    plus the events and frames of the apps above (presence, offers, notifications)."""

    user = None

    async def connect(self):
        user = _agent(self.scope)
        if user is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        await self.join_and_accept(
            [broadcast.INBOX_GROUP, broadcast.agent_group(user.pk), *_session_groups(self.scope)],
            # The agent is alive (presence) before the page hears anything.
            before_accept=lambda: self._signal(signals.inbox_connected),
        )

    async def disconnect(self, code):
        await super().disconnect(code)
        if self.user is not None:
            await self._signal(signals.inbox_disconnected)

    async def _signal(self, signal) -> None:
        try:
            await db(signal.send)(sender=type(self), user=self.user, channel_name=self.channel_name)
        except Exception:  # presence catches up with the next heartbeat
            logger.warning("inbox %s hook failed", "connect" if signal is signals.inbox_connected else "close")

    def registered_handler(self, frame_type):
        handler = _inbox_frame_handlers.get(frame_type)
        if handler is None:
            return None

        async def handle(content):
            reply = await self.run_frame(lambda: handler(user=self.user, content=content), content)
            if reply is not None:
                await self.send_json(reply)

        return handle


def _conversation(pk: int) -> Conversation | None:
    return Conversation.objects.filter(pk=pk).first()


class AgentConversationConsumer(_AgentSocket, _EventsConsumer):
    """One conversation open in an agent's browser: its messages, live and replayed."""

    async def connect(self):
        user = _agent(self.scope)
        if user is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        try:
            self.conversation = await db(_conversation)(self.scope["url_route"]["kwargs"]["pk"])
        except DatabaseError:
            await self.close(code=CLOSE_TRY_LATER)
            return
        if self.conversation is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user = user
        await self.join_and_accept([broadcast.conversation_group(self.conversation.pk), *_session_groups(self.scope)])

    async def on_sync(self, content):
        after_seq = _int_field(content, "after_seq") or 0
        after_event = _int_field(content, "after_event") or 0
        frames = await self.run_frame(lambda: self._sync_frames(after_seq, after_event), content)
        for frame in frames or []:
            await self.send_json(frame)

    def _sync_frames(self, after_seq: int, after_event: int) -> list[dict]:
        messages = selectors.conversation_messages_after(conversation=self.conversation, after_seq=after_seq)
        frames = [{"type": "conversation.message", "message": broadcast.message_payload(m)} for m in messages]
        frames += [
            {"type": "conversation.timeline", "event": broadcast.timeline_payload(e)}
            for e in selectors.conversation_timeline(conversation=self.conversation, after_id=after_event)
        ]
        frames.append(
            {
                "type": "sync.done",
                "conversation": self.conversation.pk,
                "seq": messages[-1].seq if messages else after_seq,
            }
        )
        return frames

    async def on_message(self, content):
        await self.post_message(
            content,
            lambda body, client_id: services.message_post_from_agent(
                conversation_id=self.conversation.pk, agent=self.user, body=body, client_id=client_id
            ),
        )

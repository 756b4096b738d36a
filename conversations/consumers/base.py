"""What every socket of this app does: frames in order and within budget, their
database work on the database threads, refusals as error frames, this project's
live events forwarded as they are."""

import json
import logging
import uuid
from collections import deque
from collections.abc import Callable

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DatabaseError

from conversations import broadcast
from core import live, ratelimit
from core.live import db

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
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

    def viewer(self) -> str | None:
        """Whom the files' links in this socket's messages are signed for."""
        return None

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
        except ObjectDoesNotExist:
            await self.send_error(code="not_found", message="No such conversation.", client_id=client_id, frame=frame)
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
            return broadcast.message_payload(post(content.get("body"), client_id), viewer=self.viewer())

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

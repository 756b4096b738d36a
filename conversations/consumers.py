"""Websocket consumers: authenticate in connect(), then translate frames to services.

Every frame a client sends is untrusted: unknown types, wrong field types and
other customers' ids get an ``error`` frame and change nothing.

The apps above this one (routing, sla) reach agents' browsers through the inbox
socket without this app importing them: their channel-layer events (types in
``FORWARDED_NAMESPACES``) are forwarded as they are, and their client frames are
handled by functions they register with ``inbox_frame_handler``.
"""

import json
from collections.abc import Callable
from urllib.parse import parse_qs

from asgiref.sync import async_to_sync
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import JsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from conversations import broadcast, selectors, services, signals
from conversations.identity import customer_token_read
from conversations.models import Conversation, Customer

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


# Event types the inbox socket forwards to the browser as they are.
FORWARDED_NAMESPACES = ("conversation.", "routing.", "sla.", "notification.")

# Frame type → handler(user, content) returning a frame to send back, or None.
# Filled by the apps above this one at start-up (their AppConfig.ready()).
_inbox_frame_handlers: dict[str, Callable[..., dict | None]] = {}


def inbox_frame_handler(frame_type: str):
    """Register a handler for a frame agents' inbox pages send (``presence.heartbeat``, ...).

    The handler is called as ``handler(user=..., content=...)`` and must treat the
    content as untrusted; a ValidationError or PermissionDenied it raises becomes an
    error frame.
    """

    def register(func):
        _inbox_frame_handlers[frame_type] = func
        return func

    return register


def _int_field(content: dict, name: str) -> int | None:
    value = content.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class _EventsConsumer(JsonWebsocketConsumer):
    """Forwards this app's channel-layer events to the client as they are."""

    joined: tuple[str, ...] = ()

    def join_and_accept(self, groups: list[str]) -> None:
        for group in groups:
            async_to_sync(self.channel_layer.group_add)(group, self.channel_name)
        self.joined = tuple(groups)
        self.accept()

    def disconnect(self, code):
        for group in self.joined:
            async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)

    @database_sync_to_async
    def dispatch(self, message):
        """As Channels' own, but this project's live events without a handler of
        their own are forwarded to the client as they are."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None and message["type"].startswith(FORWARDED_NAMESPACES):
            handler = self.send_json
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        handler(message)

    def send_error(self, *, code: str, message: str, client_id: object = None) -> None:
        self.send_json({"type": "error", "code": code, "message": message, "client_id": client_id})

    def post_message(self, content: dict, post) -> None:
        """Store a message frame's body through ``post``; ack it, or say why not."""
        client_id = content.get("client_id")
        try:
            message = post(content.get("body"))
        except ValidationError as e:
            self.send_error(code=e.code or "invalid", message=e.messages[0], client_id=client_id)
        except PermissionDenied as e:
            self.send_error(code="forbidden", message=str(e), client_id=client_id)
        else:
            self.send_json({"type": "message.ack", "client_id": client_id, "id": message.pk})

    def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            self.send_error(code="bad_request", message="Frames must be JSON objects with a type.")
            return
        handler = getattr(self, "on_" + content["type"].replace(".", "_"), None) or self.registered_handler(
            content["type"]
        )
        if handler is None:
            self.send_error(code="bad_request", message=f"Unknown frame type {content['type'][:40]!r}.")
            return
        handler(content)

    def registered_handler(self, frame_type: str) -> Callable[[dict], None] | None:
        return None

    @classmethod
    def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None  # answered with a bad_request frame, not a dropped socket


class CustomerChatConsumer(_EventsConsumer):
    """The customer's widget. Identity comes from the signed token, never from a frame."""

    def connect(self):
        # The page's cookie, or the token the page passes along where an embedding
        # site's browser withholds third-party cookies.
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0] or self.scope.get("cookies", {}).get(settings.BATON_CUSTOMER_COOKIE)
        customer_id = customer_token_read(token)
        self.customer = Customer.objects.filter(pk=customer_id).first() if customer_id else None
        if self.customer is None:
            self.close(code=CLOSE_FORBIDDEN)
            return
        self.join_and_accept([broadcast.customer_group(self.customer.pk)])

    def on_message(self, content):
        self.post_message(content, lambda body: services.message_post_from_customer(customer=self.customer, body=body))

    def on_handoff(self, content):
        services.customer_request_handoff(customer=self.customer)

    def on_sync(self, content):
        """Replay what the client missed since the last message it saw."""
        conversation_id = _int_field(content, "conversation") or 0
        after_seq = _int_field(content, "after_seq") or 0
        if conversation_id and not self.customer.conversations.filter(pk=conversation_id).exists():
            self.send_error(code="not_found", message="No such conversation.")
            return
        for message in selectors.customer_messages_after(
            customer=self.customer, conversation_id=conversation_id, after_seq=after_seq
        ):
            self.send_json({"type": "conversation.message", "message": broadcast.message_payload(message)})
        conversation = selectors.conversation_open_for(customer=self.customer)
        if conversation is not None:
            self.send_json(
                {
                    "type": "conversation.changed",
                    "event": "sync",
                    "conversation": broadcast.conversation_payload(
                        conversation, queue_position=selectors.queue_position(conversation=conversation)
                    ),
                }
            )


def _agent(scope):
    """The signed-in, active user the socket belongs to, or None."""
    user = scope.get("user")
    return user if user is not None and user.is_authenticated and user.is_active else None


class InboxConsumer(_EventsConsumer):
    """An agent's inbox: every conversation state change, for live lists and toasts,
    plus the events and frames of the apps above (presence, offers, notifications)."""

    def connect(self):
        user = _agent(self.scope)
        if user is None:
            self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.join_and_accept([broadcast.INBOX_GROUP, broadcast.agent_group(user.pk)])
        signals.inbox_connected.send(sender=type(self), user=user, channel_name=self.channel_name)

    def disconnect(self, code):
        super().disconnect(code)
        if getattr(self, "user", None) is not None:
            signals.inbox_disconnected.send(sender=type(self), user=self.user, channel_name=self.channel_name)

    def registered_handler(self, frame_type):
        handler = _inbox_frame_handlers.get(frame_type)
        if handler is None:
            return None

        def handle(content):
            try:
                reply = handler(user=self.user, content=content)
            except ValidationError as e:
                self.send_error(code=e.code or "invalid", message=e.messages[0], client_id=content.get("client_id"))
            except PermissionDenied as e:
                self.send_error(code="forbidden", message=str(e), client_id=content.get("client_id"))
            else:
                if reply is not None:
                    self.send_json(reply)

        return handle


class AgentConversationConsumer(_EventsConsumer):
    """One conversation open in an agent's browser: its messages, live and replayed."""

    def connect(self):
        user = _agent(self.scope)
        if user is None:
            self.close(code=CLOSE_FORBIDDEN)
            return
        self.conversation = Conversation.objects.filter(pk=self.scope["url_route"]["kwargs"]["pk"]).first()
        if self.conversation is None:
            self.close(code=CLOSE_NOT_FOUND)
            return
        self.user = user
        self.join_and_accept([broadcast.conversation_group(self.conversation.pk)])

    def on_sync(self, content):
        after_seq = _int_field(content, "after_seq") or 0
        for message in selectors.conversation_messages_after(conversation=self.conversation, after_seq=after_seq):
            self.send_json({"type": "conversation.message", "message": broadcast.message_payload(message)})
        after_event = _int_field(content, "after_event") or 0
        for event in selectors.conversation_timeline(conversation=self.conversation, after_id=after_event):
            self.send_json({"type": "conversation.timeline", "event": broadcast.timeline_payload(event)})

    def on_message(self, content):
        self.post_message(
            content,
            lambda body: services.message_post_from_agent(
                conversation_id=self.conversation.pk, agent=self.user, body=body
            ),
        )

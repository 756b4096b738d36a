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

from conversations.consumers.agent import InboxConsumer
from conversations.consumers.base import (
    CLOSE_FORBIDDEN,
    CLOSE_POLICY,
    CLOSE_TRY_LATER,
    FORWARDED_NAMESPACES,
    _inbox_frame_handlers,
    inbox_frame_handler,
)
from conversations.consumers.customer import CustomerChatConsumer

__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_POLICY",
    "CLOSE_TRY_LATER",
    "FORWARDED_NAMESPACES",
    "CustomerChatConsumer",
    "InboxConsumer",
    "_inbox_frame_handlers",
    "inbox_frame_handler",
]

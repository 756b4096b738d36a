"""An agent page's one socket."""

import logging
from collections import deque

from django.core.exceptions import ValidationError

from conversations import broadcast, files, selectors, services, signals
from conversations.consumers.base import (
    CLOSE_FORBIDDEN,
    CLOSE_TRY_LATER,
    _EventsConsumer,
    _inbox_frame_handlers,
    _int_field,
)
from conversations.models import Conversation
from core.live import db

logger = logging.getLogger(__name__)


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
    """An agent page's one socket (static/baton/hub.js): every conversation state
    change, for live lists and toasts, the events and frames of the apps above
    (presence, offers, notifications), and the one conversation the page shows
    (``watch``): its messages, timeline and internal notes, live and replayed,
    and replies and notes to it.
    While it shows a conversation it does not hear the list's stream of other
    conversations' messages (``broadcast.INBOX_MESSAGES_GROUP``).

    The watched conversation's state changes reach this socket through its group
    and the inbox group both; each is forwarded once (``_heard_twice``)."""

    user = None
    watching: Conversation | None = None

    def viewer(self) -> str | None:
        return files.AGENTS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.forwarded: deque[tuple] = deque(maxlen=256)

    async def connect(self):
        user = _agent(self.scope)
        if user is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        await self.join_and_accept(
            [
                broadcast.INBOX_GROUP,
                broadcast.INBOX_MESSAGES_GROUP,
                broadcast.agent_group(user.pk),
                *_session_groups(self.scope),
            ],
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

    async def forward(self, event: dict) -> None:
        if not self._heard_twice(event):
            await super().forward(event)

    def _heard_twice(self, event: dict) -> bool:
        if self.watching is None:
            return False
        if event["type"] == "conversation.message" and event["message"]["conversation"] == self.watching.pk:
            key = ("message", event["message"]["id"])
        elif event["type"] == "conversation.changed" and event["conversation"]["id"] == self.watching.pk:
            key = ("changed", event["conversation"].get("version"), event["event"])
        else:
            return False
        if key in self.forwarded:
            return True
        self.forwarded.append(key)
        return False

    def registered_handler(self, frame_type):
        handler = _inbox_frame_handlers.get(frame_type)
        if handler is None:
            return None

        async def handle(content):
            reply = await self.run_frame(lambda: handler(user=self.user, content=content), content)
            if reply is not None:
                await self.send_json(reply)

        return handle

    async def on_watch(self, content):
        """Show this conversation (one at a time: watching another stops the first);
        the client then syncs it. Any agent may read any conversation (as the page).
        The page keeps hearing the list's messages: its list pane shows what every
        handed-off customer last said (the watched one's come once, ``_heard_twice``)."""
        pk = _int_field(content, "conversation")
        conversation = await self.run_frame(lambda: _conversation(pk) if pk else None, content)
        if conversation is None:
            await self.send_error(code="not_found", message="No such conversation.", frame="watch")
            return
        await self._unwatch()
        group = broadcast.conversation_group(conversation.pk)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: socket closed for now", exc_info=True)
            await self.close(code=CLOSE_TRY_LATER)
            return
        self.joined = (*self.joined, group)
        self.watching = conversation
        self.forwarded.clear()
        await self.send_json({"type": "watch.ok", "conversation": conversation.pk})

    async def on_unwatch(self, content):
        await self._unwatch()
        await self.send_json({"type": "unwatch.ok"})

    async def _unwatch(self) -> None:
        if self.watching is not None:
            group = broadcast.conversation_group(self.watching.pk)
            self.watching = None
            try:
                await self._leave(group)
            except Exception:  # its events are told apart by their conversation id
                logger.debug("group_discard failed", exc_info=True)

    async def _leave(self, group: str) -> None:
        self.joined = tuple(g for g in self.joined if g != group)
        await self.channel_layer.group_discard(group, self.channel_name)

    def _watched(self, content: dict) -> Conversation:
        if self.watching is None or _int_field(content, "conversation") != self.watching.pk:
            raise ValidationError("Watch the conversation first.", code="not_watching")
        return self.watching

    async def on_sync(self, content):
        """Replay the watched conversation after the client's cursors (``after_seq``
        for messages, ``after_event`` for the timeline), and its notes, then where
        the replay ended. Notes are replayed whole (they are few, and ids committed
        out of order would make an id cursor skip one); the page drops those it has."""
        after_seq = _int_field(content, "after_seq") or 0
        after_event = _int_field(content, "after_event") or 0
        frames = await self.run_frame(
            lambda: self._sync_frames(self._watched(content), after_seq, after_event), content
        )
        for frame in frames or []:
            await self.send_json(frame)

    @staticmethod
    def _sync_frames(conversation: Conversation, after_seq: int, after_event: int) -> list[dict]:
        messages = selectors.conversation_messages_after(conversation=conversation, after_seq=after_seq)
        frames = [
            {"type": "conversation.message", "message": broadcast.message_payload(m, viewer=files.AGENTS)}
            for m in messages
        ]
        frames += [
            {"type": "conversation.timeline", "event": broadcast.timeline_payload(e)}
            for e in selectors.conversation_timeline(conversation=conversation, after_id=after_event)
        ]
        frames += [
            {"type": "conversation.note", "note": broadcast.note_payload(n)}
            for n in selectors.conversation_notes(conversation=conversation)
        ]
        frames.append(
            {"type": "sync.done", "conversation": conversation.pk, "seq": messages[-1].seq if messages else after_seq}
        )
        return frames

    async def on_typing(self, content):
        await self.run_frame(
            lambda: services.agent_typing(conversation_id=_int_field(content, "conversation") or 0, agent=self.user),
            content,
        )

    async def on_message(self, content):
        """A reply to the conversation the frame names (the services decide who may)."""
        await self.post_message(
            content,
            lambda body, client_id: services.message_post_from_agent(
                conversation_id=_int_field(content, "conversation") or 0,
                agent=self.user,
                body=body,
                client_id=client_id,
            ),
        )

    async def on_note(self, content):
        """An internal note on the conversation the frame names: any agent, open or
        resolved (``services.note_add``); acknowledged with the stored note."""
        client_id = content.get("client_id")

        def store():
            note = services.note_add(
                conversation_id=_int_field(content, "conversation") or 0,
                author=self.user,
                body=content.get("body"),
                client_id=client_id,
            )
            return broadcast.note_payload(note)

        payload = await self.run_frame(store, content)
        if payload is not None:
            await self.send_json({"type": "note.ack", "client_id": client_id, "id": payload["id"], "note": payload})


def _conversation(pk: int) -> Conversation | None:
    return Conversation.objects.filter(pk=pk).first()

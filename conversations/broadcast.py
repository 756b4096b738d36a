"""Live events of the conversations app, sent only after the transaction commits.

Channel layers deliver at most once; clients catch up from the database by
sequence number, so an event lost here costs latency, never data.
Group names are built from ids only.
"""

import hashlib

from channels.layers import get_channel_layer
from django.db import transaction

from conversations import files, queries, selectors
from conversations.markdown import markdown_html
from conversations.models import Attachment, Conversation, ConversationEvent, Message, Note, display_name
from core import outbox
from core.db import on_commit_once

INBOX_GROUP = "inbox"
# Handed-off customers' messages, for the inbox list's snippets: every agent socket
# but those showing one conversation (``InboxConsumer.on_watch``), which hear their
# conversation's messages through its own group. Measured (bench.realtime, 40
# customers, 20 agents, 50 msg/s): with every conversation page in the list's
# message stream, customer message → inbox p50 went from 54 ms to 4.6 s.
INBOX_MESSAGES_GROUP = "inbox.messages"
# Waiting customers whose place in the queue is pushed live when the queue moves.
QUEUE_POSITIONS_PUSHED = 100


def customer_group(customer_id: int) -> str:
    return f"customer.{customer_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def session_group(session_key: str) -> str:
    """The sockets opened under one login session (a hash: the key itself is a secret)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def session_ended(*, session_key: str) -> None:
    """The session logged out: its sockets close (the consumers' ``session_ended``)."""
    send_on_commit([session_group(session_key)], {"type": "session.ended"})


def attachment_payload(attachment: Attachment, *, viewer: str | None) -> dict:
    """What a page shows of a file: its name, size and type, whether it is an
    image shown inline, and a link signed for this viewer (``files.AGENTS`` or
    ``files.customer_viewer(id)``); no link without a viewer."""
    payload = {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "size_text": files.human_size(attachment.size),
        "content_type": attachment.content_type,
        "image": attachment.previewable,
    }
    if viewer is not None:
        payload["url"] = files.attachment_url(attachment_id=attachment.pk, viewer=viewer)
    return payload


def message_payload(message: Message, *, viewer: str | None = None) -> dict:
    """The wire form of a message, for websocket events and HTTP catch-up alike.

    Bot answers are knowledge-base Markdown and carry it rendered (``body_html``,
    sanitised); everyone else's words are plain text, drawn as text. A message with
    a file carries it (``attachment``), with a download link signed for ``viewer``."""
    agent = message.agent
    payload = {
        "id": message.pk,
        "conversation": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender,
        "author": display_name(agent) if agent else "",
        "body": message.body,
        "confidence": message.confidence,
        "sources": message.sources,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
    }
    if message.sender == Message.Sender.BOT:
        payload["body_html"] = markdown_html(message.body)
    attachment = selectors.attachment_loaded(message)
    if attachment is not None:
        payload["attachment"] = attachment_payload(attachment, viewer=viewer)
    return payload


def timeline_payload(event: ConversationEvent) -> dict:
    actor = event.actor
    return {
        "id": event.pk,
        "conversation": event.conversation_id,
        "kind": event.kind,
        "text": event.text,
        "actor": display_name(actor) if actor else "",
        "data": event.data,
        "created_at": event.created_at.isoformat(),
    }


def note_payload(note: Note, *, mentioned: list | None = None) -> dict:
    """The wire form of an internal note, for agents' pages only. ``mentioned``:
    the users it mentions, when the caller has them (else read from the note)."""
    author = note.author
    users = mentioned if mentioned is not None else list(note.mentions.all())
    return {
        "id": note.pk,
        "conversation": note.conversation_id,
        "author": display_name(author),
        "author_id": author.pk,
        "body": note.body,
        "after_seq": note.after_seq,
        "mentions": [{"id": u.pk, "username": u.get_username(), "name": display_name(u)} for u in users],
        "client_id": note.client_id,
        "created_at": note.created_at.isoformat(),
    }


def notify_note(note: Note, *, mentioned: list) -> None:
    """To the agents watching the conversation, only: no customer socket joins its group."""
    send_on_commit(
        [conversation_group(note.conversation_id)],
        {"type": "conversation.note", "note": note_payload(note, mentioned=mentioned)},
    )


def conversation_payload(conversation: Conversation, *, queue_position: int | None = None) -> dict:
    agent = conversation.assigned_agent
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "priority": conversation.priority,
        "handoff_reason": conversation.handoff_reason,
        "agent": display_name(agent) if agent else "",
        "agent_id": agent.pk if agent else None,
        "queue_position": queue_position,
        "version": conversation.version,
    }


def _send_many(messages: list[tuple[list[str], dict]]) -> None:
    """Hand (groups, event) pairs to the channel layer, in order, without waiting
    for it (``core.outbox``: never raises, retries a layer that is down)."""
    outbox.submit(get_channel_layer(), messages)


def send_on_commit(groups: list[str], event: dict) -> None:
    send_many_on_commit([(groups, event)])


def send_many_on_commit(messages: list[tuple[list[str], dict]]) -> None:
    """Several (groups, event) pairs in one trip to the channel layer, after commit.
    A failed broadcast never fails the write that committed (``robust``)."""
    if messages:
        transaction.on_commit(lambda: _send_many(messages), robust=True)


def notify_message(message: Message, *, conversation: Conversation) -> None:
    groups = [customer_group(conversation.customer_id), conversation_group(conversation.pk)]
    if message.sender == Message.Sender.CUSTOMER and conversation.status != Conversation.Status.BOT:
        # Agents' lists show what a handed-off customer last said; chats the bot
        # is handling are none of the inbox's business.
        groups.append(INBOX_MESSAGES_GROUP)
    if selectors.attachment_loaded(message) is None:
        send_on_commit(groups, {"type": "conversation.message", "message": message_payload(message)})
        return
    # A file's link is signed for who receives it: the customer's, and the agents'.
    customer = files.customer_viewer(conversation.customer_id)
    send_many_on_commit(
        [
            (groups[:1], {"type": "conversation.message", "message": message_payload(message, viewer=customer)}),
            (groups[1:], {"type": "conversation.message", "message": message_payload(message, viewer=files.AGENTS)}),
        ]
    )


def typing_to_agents(*, conversation_id: int) -> None:
    """Now, not on commit: nothing is written."""
    _send_many(
        [
            (
                [conversation_group(conversation_id)],
                {"type": "conversation.typing", "conversation": conversation_id, "sender": "customer"},
            )
        ]
    )


def typing_to_customer(*, conversation_id: int, customer_id: int, agent) -> None:
    _send_many(
        [
            (
                [customer_group(customer_id)],
                {
                    "type": "conversation.typing",
                    "conversation": conversation_id,
                    "sender": "agent",
                    "author": display_name(agent),
                },
            )
        ]
    )


def notify_timeline(event: ConversationEvent) -> None:
    send_on_commit(
        [conversation_group(event.conversation_id)],
        {"type": "conversation.timeline", "event": timeline_payload(event)},
    )


def notify_timelines(events: list[ConversationEvent]) -> None:
    """Timeline entries recorded in bulk (an SLA sweep finding a thousand breaches)
    go out as one event to the inbox group, which every agent page listens to (the
    conversation page keeps those of its conversation): one send, not one per
    conversation."""
    if events:
        send_on_commit(
            [INBOX_GROUP],
            {"type": "conversation.timeline_batch", "events": [timeline_payload(e) for e in events]},
        )


def notify_conversation(conversation: Conversation, *, queue_position: int | None = None, event: str) -> None:
    """Tell the customer, the agents' inbox and open conversation views that state changed.

    ``event`` says what happened (``handed_off``, ``assigned``, ``resolved``, ...),
    so the inbox can toast on new handoffs without diffing state.
    """
    payload = {
        "type": "conversation.changed",
        "event": event,
        "conversation": conversation_payload(conversation, queue_position=queue_position),
    }
    send_on_commit(
        [customer_group(conversation.customer_id), conversation_group(conversation.pk), INBOX_GROUP], payload
    )


def _queue_positions_send() -> None:
    waiting = queries.queue_head(limit=QUEUE_POSITIONS_PUSHED)
    _send_many(
        [
            (
                [customer_group(customer_id)],
                {"type": "conversation.queue", "conversation": conversation_id, "queue_position": position},
            )
            for position, (conversation_id, customer_id) in enumerate(waiting, start=1)
        ]
    )


def notify_queue_positions() -> None:
    """After the queue changed, tell the first waiting customers their new place
    (once per transaction, however many changes in it moved the queue)."""
    on_commit_once(_queue_positions_send, robust=True)

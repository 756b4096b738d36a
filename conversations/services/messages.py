"""Messages: a customer's and an agent's, and the system's; each numbered on its
conversation and pushed on commit."""

import re
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from conversations import broadcast, queries, selectors, signals
from conversations.models import Attachment, Conversation, Customer, Message
from core.tasks import task_enqueue

Status = Conversation.Status


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can carry
        return False
    return True


def message_body_clean(body: object, *, noun: str = "message") -> str:
    """The text to store, or a ValidationError a customer or agent can read
    (``noun``: what it is called in the error, "message" or "note")."""
    if not isinstance(body, str) or not body.strip():
        raise ValidationError(f"Please type a {noun} first.", code="empty")
    body = body.strip()
    if "\x00" in body or not _utf8(body):
        # PostgreSQL refuses both in text (a 500 before); nothing a person types.
        raise ValidationError(
            f"{noun.title()}s cannot contain NUL or unpaired surrogate characters.", code="bad_request"
        )
    limit = settings.BATON_MAX_MESSAGE_CHARS
    if len(body) > limit:
        raise ValidationError(
            f"{noun.title()}s can be at most {limit:,} characters (this one has {len(body):,}). "
            "Please shorten it or split it in two.",
            code="too_long",
        )
    return body


_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def client_id_clean(client_id: object) -> str:
    """The id a browser gave its message ("" if none), or a ValidationError."""
    if client_id is None or client_id == "":
        return ""
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ValidationError("A message's client id is 1 to 64 letters, digits, - or _.", code="bad_request")
    return client_id


class _Repeated(Exception):
    """A message with this client id is stored already: roll back, return that one."""


def _message_create(
    *,
    conversation: Conversation,
    sender: str,
    body: str,
    seq: int | None = None,
    agent: AbstractBaseUser | None = None,
    confidence: float | None = None,
    sources: list | None = None,
) -> Message:
    """Store a message with the conversation's next sequence number.

    The conditional ``UPDATE ... SET last_seq = last_seq + 1`` takes the row lock,
    so concurrent writers to one conversation get consecutive numbers. A caller
    whose own UPDATE of the row already took the number (a status change that
    also sets ``last_seq = last_seq + 1``) passes it as ``seq``.
    """
    if seq is None:
        seq = queries.conversation_seq_next(conversation_id=conversation.pk, now=timezone.now())
    conversation.last_seq = seq
    message = Message(
        conversation=conversation,
        seq=seq,
        sender=sender,
        body=body,
        agent=agent,
        confidence=confidence,
        sources=sources or [],
    )
    # Constraints are the database's to enforce; validating them here costs queries.
    message.full_clean(exclude=["conversation", "agent"], validate_unique=False, validate_constraints=False)
    queries.messages_insert([message])
    broadcast.notify_message(message, conversation=conversation)
    return message


def _system_messages_create(messages: list[tuple[Conversation, int, str]]) -> list[Message]:
    """System messages (conversation, seq, body) for several locked conversations
    whose own UPDATE took each number, in one INSERT."""
    created = queries.messages_insert(
        [
            Message(conversation=conversation, seq=seq, sender=Message.Sender.SYSTEM, body=body, sources=[])
            for conversation, seq, body in messages
        ]
    )
    for message in created:
        broadcast.notify_message(message, conversation=message.conversation)
    return created


def _conversation_open(*, customer: Customer) -> None:
    """Open a conversation with the bot for the customer, unless one is open: the
    unique constraint on open conversations decides between concurrent openers."""
    Conversation.objects.bulk_create([Conversation(customer=customer)], ignore_conflicts=True)


def message_post_from_customer(*, customer: Customer, body: object, client_id: object = "") -> Message:
    """Store the customer's message; the bot answers it if the bot has the conversation.

    ``client_id`` (the browser's id for the message) makes sending again safe: a
    message already stored under it is returned instead of storing another.
    """
    body = message_body_clean(body)
    client_id = client_id_clean(client_id)
    try:
        return _customer_message_store(customer=customer, body=body, client_id=client_id)
    except _Repeated:
        return selectors.customer_message_by_client_id(customer=customer, client_id=client_id)


@transaction.atomic
def _customer_message_store(
    *, customer: Customer, body: str, client_id: str, attachment: Attachment | None = None
) -> Message:
    now = timezone.now()
    stored = queries.customer_message_insert(customer_id=customer.pk, body=body, client_id=client_id, now=now)
    if stored is None:
        # No open conversation: the one it was sent to may have been resolved since.
        earlier = client_id and selectors.customer_message_by_client_id(customer=customer, client_id=client_id)
        if earlier:
            return earlier
        _conversation_open(customer=customer)
        stored = queries.customer_message_insert(customer_id=customer.pk, body=body, client_id=client_id, now=now)
    if stored.message_id is None:
        raise _Repeated
    message = _message_stored(
        stored, sender=Message.Sender.CUSTOMER, body=body, client_id=client_id, now=now, attachment=attachment
    )
    if stored.status == Status.BOT:
        message_id = message.pk
        # The turn is in the database already: if this enqueue fails (Redis down),
        # the timers find the turn overdue and answer it.
        transaction.on_commit(lambda: bot_turn_schedule(message_id=message_id), robust=True)
    return message


def _message_stored(
    stored: queries.Stored,
    *,
    sender: str,
    body: str,
    client_id: str,
    now: datetime,
    agent=None,
    attachment: Attachment | None = None,
):
    """The message a ``queries`` write stored, as an instance, with its attachment
    (written here, in the message's transaction), pushed on commit."""
    message = Message(
        pk=stored.message_id,
        conversation_id=stored.conversation_id,
        seq=stored.seq,
        sender=sender,
        agent=agent,
        body=body,
        sources=[],
        client_id=client_id,
        created_at=now,
    )
    message._state.adding, message._state.db = False, "default"
    if attachment is not None:
        message.attachment = attachment  # sets attachment.message and keeps it on the message
        attachment.save(force_insert=True)
    conversation = Conversation(
        pk=stored.conversation_id, customer_id=stored.customer_id, status=stored.status, last_seq=stored.seq
    )
    broadcast.notify_message(message, conversation=conversation)
    return message


def bot_turn_schedule(*, message_id: int) -> None:
    task_enqueue("conversations.tasks.bot_turn", message_id, task_name=f"bot-turn-{message_id}")


def _check_assigned_to(conversation: Conversation, agent: AbstractBaseUser) -> None:
    if conversation.status != Status.ASSIGNED or conversation.assigned_agent_id != agent.pk:
        raise PermissionDenied("Only the agent who accepted this conversation can do that.")


def message_post_from_agent(
    *, conversation_id: int, agent: AbstractBaseUser, body: object, client_id: object = ""
) -> Message:
    """Store the assigned agent's reply; PermissionDenied for anyone else. A
    ``client_id`` already stored returns that message (a reply sent again)."""
    body = message_body_clean(body)
    client_id = client_id_clean(client_id)
    try:
        return _agent_message_store(conversation_id=conversation_id, agent=agent, body=body, client_id=client_id)
    except _Repeated:
        return selectors.message_by_client_id(conversation_id=conversation_id, client_id=client_id)


@transaction.atomic
def _agent_message_store(
    *, conversation_id: int, agent: AbstractBaseUser, body: str, client_id: str, attachment: Attachment | None = None
) -> Message:
    now = timezone.now()
    stored = queries.agent_message_insert(
        conversation_id=conversation_id, agent_id=agent.pk, body=body, client_id=client_id, now=now
    )
    if stored is None:
        if not Conversation.objects.filter(pk=conversation_id).exists():
            raise Conversation.DoesNotExist(f"No conversation {conversation_id}.")
        # Sent before the conversation was resolved or transferred, and sent again since.
        earlier = client_id and selectors.message_by_client_id(conversation_id=conversation_id, client_id=client_id)
        if earlier:
            return earlier
        raise PermissionDenied("Only the agent who accepted this conversation can do that.")
    if stored.message_id is None:
        raise _Repeated
    message = _message_stored(
        stored,
        sender=Message.Sender.AGENT,
        body=body,
        client_id=client_id,
        now=now,
        agent=agent,
        attachment=attachment,
    )
    conversation = Conversation(
        pk=stored.conversation_id,
        customer_id=stored.customer_id,
        status=Status.ASSIGNED,
        assigned_agent=agent,
        last_seq=stored.seq,
        first_agent_reply_at=stored.first_agent_reply_at,
    )
    signals.agent_replied.send(
        sender=Conversation,
        conversation=conversation,
        agent=agent,
        message=message,
        first_reply=stored.first_agent_reply_at == now,
    )
    return message

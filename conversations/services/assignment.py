"""Assignment: an agent accepting, routing placing a batch, a conversation released
back to the queue."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations import broadcast, queries, signals
from conversations.models import Conversation, Message, display_name
from conversations.selectors import queue_position
from conversations.services.messages import _message_create, _system_messages_create

Status = Conversation.Status


class ConversationAlreadyTaken(Exception):
    """Another agent accepted the conversation first."""

    def __init__(self, conversation: Conversation):
        self.conversation = conversation
        agent = conversation.assigned_agent
        who = display_name(agent) if agent else "someone else"
        if conversation.status == Status.RESOLVED:
            super().__init__("This conversation is already resolved.")
        else:
            super().__init__(f"{who} already accepted this conversation.")


def conversation_accept(*, conversation_id: int, agent: AbstractBaseUser, reasons: dict | None = None) -> Conversation:
    """Assign a pending conversation to ``agent``; exactly one of racing agents wins.

    Raises ConversationAlreadyTaken, outside the transaction and with nothing
    written, so a caller inside a transaction of its own may carry on.
    ``reasons``: as for ``conversations_assign``.
    """
    if conversations_assign(assignments={conversation_id: agent}, reasons=reasons):
        return Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    conversation = Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    if conversation.status == Status.ASSIGNED and conversation.assigned_agent_id == agent.pk:
        return conversation  # a double click, not a race
    raise ConversationAlreadyTaken(conversation)


@transaction.atomic(savepoint=False)
def conversations_assign(
    *, assignments: dict[int, AbstractBaseUser], skip_locked: bool = False, reasons: dict | None = None
) -> list[Conversation]:
    """Assign pending conversations to agents: ``{conversation id: agent}``, one
    (an agent accepting) or many (routing placing a batch).

    Each conversation is locked and assigned only if still pending, so of racing
    assignments exactly one wins; ``skip_locked`` passes over rows another
    transaction holds instead of waiting (routing). Returns those assigned. The
    ``conversations_assigned`` hook lets routing count them against capacity in
    this same transaction; it raises if an agent has no room, which rolls all back.
    ``reasons``: the caller's account of why (routing's), handed to that hook as is.
    """
    now = timezone.now()
    pending = queries.conversations_lock_pending(ids=list(assignments), skip_locked=skip_locked)
    if not pending:
        return []
    queries.conversations_mark_assigned(agents={c.pk: assignments[c.pk].pk for c in pending}, now=now)
    for conversation in pending:
        agent = assignments[conversation.pk]
        conversation.status, conversation.assigned_agent, conversation.assigned_at = Status.ASSIGNED, agent, now
        conversation.last_seq += 1
        conversation.version += 1
    _system_messages_create(
        [(c, c.last_seq, f"{display_name(assignments[c.pk])} joined the conversation.") for c in pending]
    )
    signals.conversations_assigned.send(
        sender=Conversation, assigned=[(c, assignments[c.pk]) for c in pending], reasons=reasons
    )
    for conversation in pending:
        broadcast.notify_conversation(conversation, event="assigned")
    broadcast.notify_queue_positions()
    return pending


@transaction.atomic(savepoint=False)
def conversation_release(*, conversation_id: int, agent: AbstractBaseUser, body: str) -> bool:
    """Put ``agent``'s assigned conversation back to Pending Handoff (a transfer, or
    its agent went offline); it keeps its place by handoff time. False if it was
    no longer assigned to them. ``body`` is what the customer is told."""
    updated = Conversation.objects.filter(
        pk=conversation_id, status=Status.ASSIGNED, assigned_agent_id=agent.pk
    ).update(
        status=Status.PENDING_HANDOFF,
        assigned_agent=None,
        assigned_at=None,
        updated_at=timezone.now(),
        last_seq=F("last_seq") + 1,
        version=F("version") + 1,
    )
    if not updated:
        return False
    conversation = Conversation.objects.get(pk=conversation_id)
    _message_create(conversation=conversation, seq=conversation.last_seq, sender=Message.Sender.SYSTEM, body=body)
    broadcast.notify_conversation(
        conversation, queue_position=queue_position(conversation=conversation), event="released"
    )
    broadcast.notify_queue_positions()
    return True

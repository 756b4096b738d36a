"""Resolve: the conversation closes, and what it taught is kept as evaluation cases."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from conversations import broadcast, queries, signals
from conversations.models import Conversation, Message, display_name
from conversations.services.messages import _check_assigned_to, _message_create
from knowledge import services as knowledge_services
from knowledge.models import Entry, EvalCase

Status = Conversation.Status


@transaction.atomic
def conversation_resolve(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Close the conversation; the customer's next message starts a new one with the bot."""
    now = timezone.now()
    conversation = queries.conversation_lock(conversation_id=conversation_id)
    if conversation is None:
        raise Conversation.DoesNotExist(f"No conversation {conversation_id}.")
    if conversation.assigned_agent_id == agent.pk:
        conversation.assigned_agent = agent  # no need to read the agent again
    if not (agent.is_staff and conversation.is_open):
        _check_assigned_to(conversation, agent)
    if conversation.status == Status.PENDING_HANDOFF:
        broadcast.notify_queue_positions()
    queries.conversation_mark_resolved(conversation_id=conversation.pk, now=now)
    # The row is locked: what the UPDATE wrote is what it now holds.
    conversation.status, conversation.resolved_at, conversation.updated_at = Status.RESOLVED, now, now
    conversation.version += 1
    _message_create(
        conversation=conversation,
        seq=conversation.last_seq + 1,
        sender=Message.Sender.SYSTEM,
        body=f"{display_name(agent)} resolved this conversation. Write again any time to start a new one.",
    )
    _label_questions(conversation=conversation)
    signals.conversation_resolved.send(sender=Conversation, conversation=conversation, agent=agent)
    broadcast.notify_conversation(conversation, event="resolved")
    return conversation


def handoff_question(*, conversation: Conversation) -> Message | None:
    """The customer message the bot could not answer, if it handed off for that."""
    if conversation.handoff_reason != Conversation.HandoffReason.LOW_CONFIDENCE:
        return None
    return (
        conversation.messages.filter(sender=Message.Sender.CUSTOMER, created_at__lte=conversation.handed_off_at)
        .order_by("-seq")
        .first()
    )


def _label_questions(*, conversation: Conversation) -> None:
    """Keep what the conversation taught as evaluation cases: questions the bot
    answered (labelled with its answer) and the one it handed off (unanswerable,
    unless an agent added the answer, which labelled it already)."""
    entries = {}
    question = None
    for sender, body, sources, confidence in queries.conversation_questions(conversation_id=conversation.pk):
        if sender == Message.Sender.CUSTOMER:
            question = body
        elif question is not None and sources:
            key = sources[0]["id"]
            entries.setdefault(key, Entry.objects.filter(external_id=key).first())
            knowledge_services.eval_case_record(
                question=question,
                expected=entries[key],
                outcome=EvalCase.Outcome.ANSWERED,
                confidence=confidence,
                conversation_ref=conversation.pk,
            )
            question = None
    unanswered = handoff_question(conversation=conversation)
    if unanswered is not None:
        knowledge_services.eval_case_record(
            question=unanswered.body,
            expected=None,
            outcome=EvalCase.Outcome.HANDED_OFF,
            confidence=conversation.handoff_confidence,
            conversation_ref=conversation.pk,
        )

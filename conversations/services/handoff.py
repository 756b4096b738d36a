"""Handoff: a bot conversation goes to Pending Handoff, and its receivers (SLA,
routing, priority rules) run in the same transaction."""

from django.db import transaction
from django.utils import timezone

from conversations import broadcast, queries, signals
from conversations.models import Conversation, Customer, Message
from conversations.selectors import conversation_open_for
from conversations.services.messages import _conversation_open, _message_create
from conversations.services.timeline import _timeline_batch


def _reload_with_customer(conversation: Conversation) -> None:
    """``refresh_from_db`` with the customer, as two written-out reads (about 200 µs
    of CPU here against 330 through the ORM: every handoff runs it)."""
    fresh = queries.conversation_with_customer(conversation_id=conversation.pk)
    for field in Conversation._meta.concrete_fields:
        setattr(conversation, field.attname, getattr(fresh, field.attname))
    conversation.customer = fresh.customer


_HANDOFF_TEXT = {
    Conversation.HandoffReason.CUSTOMER_REQUEST: "Of course, a person from our team will take over.",
    Conversation.HandoffReason.REPEATED_FAILURE: (
        "It looks like my answers aren't helping, so I'm passing you to a person from our team."
    ),
    Conversation.HandoffReason.LOW_CONFIDENCE: (
        "I'm not sure about this one, so I'm passing you to a person from our team."
    ),
    Conversation.HandoffReason.BOT_FAILED: (
        "I couldn't get to your question, so I'm passing you to a person from our team."
    ),
    Conversation.HandoffReason.FILE_SENT: "I can't open files, so I'm passing you to a person from our team.",
}


@transaction.atomic(savepoint=False)
def conversation_handoff(
    *, conversation: Conversation, reason: str, confidence: float | None = None, sources: list | None = None
) -> bool:
    """Move a bot conversation to Pending Handoff. False if it was not with the bot."""
    updated = queries.conversation_mark_handed_off(
        conversation_id=conversation.pk, reason=reason, confidence=confidence, sources=sources or [], now=timezone.now()
    )
    if not updated:
        return False
    # The customer too: the receivers' rules match on segment and language.
    _reload_with_customer(conversation)
    _message_create(
        conversation=conversation,
        seq=conversation.last_seq,
        sender=Message.Sender.SYSTEM,
        body=_HANDOFF_TEXT[Conversation.HandoffReason(reason)] + " You'll see their reply here.",
    )
    # Before the hook: routing runs after commit and its events (an offer, the
    # queue's places) must follow this one. A priority rule's change follows too.
    # No place in the queue here: most handoffs are placed at once; routing pushes
    # the places of those that wait.
    broadcast.notify_conversation(conversation, event="handed_off")
    with _timeline_batch():
        signals.conversation_handed_off.send(sender=Conversation, conversation=conversation)
    return True


@transaction.atomic
def customer_request_handoff(*, customer: Customer) -> Conversation:
    """The "Talk to a person" button: hand off at once, opening a conversation if needed."""
    conversation = conversation_open_for(customer=customer)
    if conversation is None:
        _conversation_open(customer=customer)
        conversation = conversation_open_for(customer=customer)
    conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    conversation.refresh_from_db()
    return conversation

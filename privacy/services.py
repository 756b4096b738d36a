"""Write paths of privacy: erase one customer, and delete what is past retention.

Erasure keeps every row the reports count (conversations, messages, timers,
breaches, routing decisions, the timeline) and removes what the customer wrote or
what identifies them (the files they and the team sent are deleted), so the
dashboard's figures do not move (docs/privacy.md).
"""

from dataclasses import replace
from datetime import datetime, timedelta

from django.db import transaction

from analytics.models import HandoffQuestion
from conversations import broadcast, services
from conversations.models import BotTurn, Conversation, Customer, Message, Note
from knowledge import services as knowledge_services
from knowledge.models import EvalCase
from sla.models import Notification

# What an erased message body or question reads as.
REDACTED = "[erased]"
ERASED_EVENT = "customer.erased"


@transaction.atomic
def customer_erase(*, customer: Customer) -> Customer:
    """Erase one customer: their conversations move to a fresh, nameless stand-in
    (keeping segment and language, which the reports filter on), their bodies and
    questions become ``REDACTED``, and the customer row itself is deleted, so the
    widget's old token finds nobody and the visitor starts afresh. Returns the
    stand-in. Their open sockets are closed after commit."""
    original = Customer.objects.select_for_update().get(pk=customer.pk)
    # Lock the conversations first: a message being stored waits, then finds none open.
    ids = list(
        Conversation.objects.select_for_update().filter(customer=original).order_by("pk").values_list("pk", flat=True)
    )
    stand_in = Customer.objects.create(segment=original.segment, language=original.language)
    Customer.objects.filter(pk=stand_in.pk).update(created_at=original.created_at)
    Conversation.objects.filter(pk__in=ids).update(customer=stand_in)
    # System messages are Baton's own words ("Alice joined"); everything else may quote the customer.
    Message.objects.filter(conversation__in=ids).exclude(sender=Message.Sender.SYSTEM).update(body=REDACTED)
    # Agents' notes may quote or describe the customer, and so may the bell entries of their mentions.
    Note.objects.filter(conversation__in=ids).update(body=REDACTED)
    Notification.objects.filter(note__conversation__in=ids).update(body=REDACTED)
    BotTurn.objects.filter(conversation__in=ids).delete()
    services.attachments_delete(conversation_ids=ids)
    HandoffQuestion.objects.filter(conversation__in=ids).update(text=REDACTED)
    _taught_questions_forget(conversation_ids=ids)
    EvalCase.objects.filter(conversation_ref__in=ids).delete()
    original.delete()
    broadcast.send_on_commit([broadcast.customer_group(customer.pk)], {"type": ERASED_EVENT})
    stand_in.refresh_from_db()
    return stand_in


def _taught_questions_forget(*, conversation_ids: list[int]) -> None:
    """An agent who taught the bot from one of these conversations added the
    customer's question to an entry as a phrasing: take it out again (the answer,
    written by the agent, stays)."""
    learnt = EvalCase.objects.filter(
        conversation_ref__in=conversation_ids, outcome=EvalCase.Outcome.LEARNT, expected__isnull=False
    ).select_related("expected")
    updates = {}
    for case in learnt:
        entry = case.expected
        data = updates.get(entry.pk) or knowledge_services.EntryData(
            external_id=entry.external_id,
            title=entry.title,
            body=entry.body,
            questions=tuple(entry.questions),
            category=entry.category,
            url=entry.url,
        )
        updates[entry.pk] = replace(data, questions=tuple(q for q in data.questions if q.strip() != case.question))
    if updates:
        knowledge_services.entries_upsert(entries=list(updates.values()))


def conversations_purge(*, now: datetime, days: int, batch: int = 500) -> int:
    """Delete conversations resolved more than ``days`` before ``now``, with their
    messages, timeline, timers, breaches and routing records, ``batch`` at a time
    (one short transaction each), then the customers left with none. Returns how
    many conversations went. The reports lose these conversations entirely: a
    period older than the retention shows nothing."""
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Conversation.objects.filter(status=Conversation.Status.RESOLVED, resolved_at__lt=cutoff)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            EvalCase.objects.filter(conversation_ref__in=ids).delete()
            services.attachments_delete(conversation_ids=ids)
            Conversation.objects.filter(pk__in=ids, status=Conversation.Status.RESOLVED).delete()
        total += len(ids)
    Customer.objects.filter(created_at__lt=cutoff, conversations__isnull=True).delete()
    return total

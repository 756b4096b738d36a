"""Reads of one customer's data, wherever it lives (see docs/privacy.md)."""

from django.db.models import Q

from analytics.models import HandoffQuestion
from conversations import selectors as conversation_selectors
from conversations.models import Conversation, Customer
from knowledge.models import EvalCase
from routing.models import RoutingDecision
from sla.models import Breach, SLATimer


def customer_find(*, key: str) -> Customer | None:
    """A customer by id (digits) or by the embedding site's external id."""
    query = Q(external_id=key) if key else Q(pk__in=[])
    if key.isdigit():
        query |= Q(pk=int(key))
    return Customer.objects.filter(query).order_by("pk").first()


def _when(value):
    return value.isoformat() if value is not None else None


def customer_export(*, customer: Customer) -> dict:
    """Everything Baton holds about one customer, as a JSON-ready document: what they
    wrote, what was answered, and what the team recorded about their conversations."""
    conversations = list(Conversation.objects.filter(customer=customer).order_by("pk"))
    ids = [c.pk for c in conversations]
    questions = dict(HandoffQuestion.objects.filter(conversation__in=ids).values_list("conversation_id", "text"))
    cases: dict[int, list] = {}
    for case in EvalCase.objects.filter(conversation_ref__in=ids).select_related("expected").order_by("pk"):
        cases.setdefault(case.conversation_ref, []).append(
            {
                "question": case.question,
                "outcome": case.outcome,
                "answered_by_entry": case.expected.external_id if case.expected else None,
                "confidence": case.confidence,
                "created_at": _when(case.created_at),
            }
        )
    return {
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id,
            "name": customer.name,
            "email": customer.email,
            "verified": customer.verified,
            "segment": customer.segment,
            "language": customer.language,
            "attributes": customer.attributes,
            "created_at": _when(customer.created_at),
        },
        "conversations": [_conversation(c, questions.get(c.pk), cases.get(c.pk, [])) for c in conversations],
    }


def _attachment(message) -> dict:
    """A file's description (the file itself is in storage, under its random name)."""
    attachment = conversation_selectors.attachment_loaded(message)
    if attachment is None:
        return {}
    return {
        "attachment": {
            "name": attachment.name,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "stored_as": attachment.file.name,
        }
    }


def _conversation(c: Conversation, question: str | None, cases: list) -> dict:
    return {
        "id": c.pk,
        "status": c.status,
        "priority": c.priority,
        "handoff_reason": c.handoff_reason,
        "handoff_confidence": c.handoff_confidence,
        "handoff_sources": c.handoff_sources,
        "created_at": _when(c.created_at),
        "handed_off_at": _when(c.handed_off_at),
        "assigned_at": _when(c.assigned_at),
        "first_agent_reply_at": _when(c.first_agent_reply_at),
        "resolved_at": _when(c.resolved_at),
        "messages": [
            {
                "seq": m.seq,
                "sender": m.sender,
                "agent": m.agent.get_username() if m.agent else None,
                "body": m.body,
                "confidence": m.confidence,
                "sources": m.sources,
                "created_at": _when(m.created_at),
                **_attachment(m),
            }
            for m in c.messages.select_related("agent", "attachment").order_by("seq")
        ],
        "timeline": [
            {"kind": e.kind, "text": e.text, "data": e.data, "created_at": _when(e.created_at)}
            for e in c.events.order_by("created_at", "pk")
        ],
        "routing": [
            {"kind": d.kind, "reason": d.reason, "created_at": _when(d.created_at)}
            for d in RoutingDecision.objects.filter(conversation=c).order_by("created_at", "pk")
        ],
        "sla_timers": [
            {
                "kind": t.kind,
                "priority": t.priority,
                "state": t.state,
                "target_seconds": t.target_seconds,
                "started_at": _when(t.started_at),
                "due_at": _when(t.due_at),
            }
            for t in SLATimer.objects.filter(conversation=c).order_by("pk")
        ],
        "sla_breaches": [
            {"kind": b.kind, "priority": b.priority, "deadline": _when(b.deadline)}
            for b in Breach.objects.filter(conversation=c).order_by("pk")
        ],
        "handoff_question": question,
        "evaluation_cases": cases,
    }

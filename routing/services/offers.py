"""Offers answered: taken (or a conversation pulled from the queue by hand), declined, expired."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from conversations import services as conversation_services
from conversations.models import Conversation, display_name
from routing import broadcast
from routing.models import Offer, RoutingDecision
from routing.services.capacity import agents_lock, offer_close
from routing.services.decisions import decision_record
from routing.services.router import routing_schedule

Kind = RoutingDecision.Kind


@transaction.atomic
def conversation_take(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Accept an offer or pull a conversation from the queue by hand.

    Raises ConversationAlreadyTaken or AgentAtCapacity (nothing changed then).
    """
    conversation = conversation_services.conversation_accept(conversation_id=conversation_id, agent=agent)
    routing_schedule()  # a withdrawn offer left room with someone else
    return conversation


@transaction.atomic
def offer_decline(*, offer_id: int, agent: AbstractBaseUser, now: datetime) -> bool:
    """The agent says no: the conversation goes to the next agent."""
    conversation_id = Offer.objects.filter(pk=offer_id).values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        raise ValidationError("No such offer.", code="not_found")
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    offer = Offer.objects.get(pk=offer_id)
    if offer.agent_id != agent.pk:
        raise PermissionDenied("This offer was made to someone else.")
    agents_lock([agent.pk])
    if not offer_close(offer=offer, state=Offer.State.DECLINED, now=now):
        return False
    decision_record(
        conversation=conversation,
        kind=Kind.DECLINED,
        agent=agent,
        actor=agent,
        reason=f"{display_name(agent)} declined the offer",
        now=now,
    )
    broadcast.notify_agent(user_id=agent.pk)
    routing_schedule()
    return True


def offers_expire(*, now: datetime) -> int:
    """Close the offers whose time is up, each in its own short transaction."""
    expired = 0
    for offer_id in Offer.objects.filter(state=Offer.State.OPEN, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            offer = Offer.objects.filter(pk=offer_id, state=Offer.State.OPEN).select_related("agent").first()
            if offer is None:
                continue
            conversation = (
                Conversation.objects.select_for_update(skip_locked=True).filter(pk=offer.conversation_id).first()
            )
            if conversation is None:
                continue  # being accepted or resolved right now; the next sweep sees the outcome
            agents_lock([offer.agent_id])
            if not offer_close(offer=offer, state=Offer.State.EXPIRED, now=now):
                continue
            decision_record(
                conversation=conversation,
                kind=Kind.EXPIRED,
                agent=offer.agent,
                reason=f"{display_name(offer.agent)} did not answer the offer in time",
                now=now,
            )
            broadcast.notify_agent(user_id=offer.agent_id)
            expired += 1
    return expired

"""Live events of the routing app, sent after commit to the inbox sockets.

``routing.agent``: an agent's presence or load changed (inbox group; the page
shows everyone to admins, oneself to others). ``routing.offer`` and
``routing.offer_closed``: to the offered agent only. ``routing.transferred``: to
the agent a conversation was just transferred to.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from conversations.broadcast import INBOX_GROUP, agent_group, send_many_on_commit, send_on_commit
from conversations.models import Conversation, display_name
from conversations.selectors import shortened
from routing.models import AgentProfile, Offer


def agent_values_payload(*, user_id: int, name: str, presence: str, capacity: int, active: int, offered: int) -> dict:
    return {
        "id": user_id,
        "name": name,
        "presence": presence,
        "capacity": capacity,
        "active": active,
        "offered": offered,
    }


def agent_payload(profile: AgentProfile) -> dict:
    return agent_values_payload(
        user_id=profile.user_id,
        name=display_name(profile.user),
        presence=profile.presence,
        capacity=profile.capacity,
        active=profile.active_count,
        offered=profile.offered_count,
    )


def notify_agent(*, user_id: int) -> None:
    """Push the agent's row as this transaction leaves it, once it has committed."""
    profile = AgentProfile.objects.select_related("user").filter(user_id=user_id).first()
    if profile is not None:
        notify_agents([agent_payload(profile)])


def notify_agents(payloads: list[dict]) -> None:
    """Push agents' rows already read under their locks (``agent_values_payload``)."""
    send_many_on_commit([([INBOX_GROUP], {"type": "routing.agent", "agent": p}) for p in payloads])


def offer_payload(offer: Offer, *, now: datetime) -> dict:
    conversation = offer.conversation
    return {
        "id": offer.pk,
        "conversation": conversation.pk,
        "customer": str(conversation.customer),
        "question": shortened(offer.question),  # annotated by routing.selectors.with_question
        "priority": conversation.priority,
        "expires_at": offer.expires_at.isoformat(),
        "expires_in_ms": max(0, int((offer.expires_at - now).total_seconds() * 1000)),
    }


def notify_offer(offer: Offer, *, now: datetime) -> None:
    send_on_commit([agent_group(offer.agent_id)], {"type": "routing.offer", "offer": offer_payload(offer, now=now)})


def notify_offer_closed(*, offer_id: int, agent_id: int, conversation_id: int, state: str) -> None:
    send_on_commit(
        [agent_group(agent_id)],
        {"type": "routing.offer_closed", "offer": {"id": offer_id, "conversation": conversation_id, "state": state}},
    )


def notify_transferred(*, conversation: Conversation, to_agent_id: int, by: AbstractBaseUser, note: str) -> None:
    """Tell the receiving agent, who would otherwise find it in their list unannounced."""
    payload = {
        "conversation": conversation.pk,
        "customer": str(conversation.customer),
        "by": display_name(by),
        "note": note,
    }
    send_on_commit([agent_group(to_agent_id)], {"type": "routing.transferred", "transfer": payload})

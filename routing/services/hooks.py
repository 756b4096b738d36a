"""Routing's answers to conversations' hooks: a handoff, every assignment (routed or by hand), a resolve."""

from collections import Counter
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from conversations.models import Conversation, display_name
from routing import broadcast, queries
from routing.models import Offer, RoutingDecision
from routing.services.capacity import agents_lock, offer_close, slots_lock, slots_take
from routing.services.decisions import decisions_record
from routing.services.router import routing_schedule
from routing.services.state import states_create

Kind = RoutingDecision.Kind


@transaction.atomic(savepoint=False)
def handoff_received(*, conversation: Conversation) -> None:
    """A conversation entered the queue (its customer loaded with it): work out the
    skills it needs here, in the handoff's transaction, so the one router has less
    to do; route once the handoff has committed (after the priority and SLA
    receivers of the same transaction have run)."""
    states_create(conversations=[conversation], new=True)
    routing_schedule()


def assignments_record(
    *, assigned: list[tuple[Conversation, AbstractBaseUser]], now: datetime, reasons: dict | None = None
) -> None:
    """Count assignments against the agents' capacity, or refuse them.

    Runs inside conversations' assign transaction (the conversation rows locked):
    closes each conversation's open offer (accepted, or withdrawn from another
    agent who was offered it), locks the agents' profiles, and takes a slot for
    each assignment; an agent without room (or, when routed, no longer online)
    raises AgentAtCapacity, which rolls the whole assignment back.

    ``reasons``, from routing or transfer through the hook (else "took it from the
    queue"): {"routed": bool, "why": {conversation id: (reason, candidates)}, "actor": user,
    "timeline": False to store the decisions without a timeline line (a transfer writes its own)}.
    """
    context = reasons or {}
    agent_of = {conversation.pk: agent for conversation, agent in assigned}
    offers = queries.open_offers_of(conversation_ids=list(agent_of))
    users = {agent.pk: agent for agent in agent_of.values()}
    rows = slots_lock({**users, **{o.agent_id: get_user_model()(pk=o.agent_id) for o in offers}})
    own_offers = set()
    for offer in offers:
        if offer.agent_id == agent_of[offer.conversation_id].pk:
            own_offers.add(offer.conversation_id)
            offer_close(offer=offer, state=Offer.State.ACCEPTED, now=now)
        else:
            offer_close(offer=offer, state=Offer.State.WITHDRAWN, now=now)
        rows[offer.agent_id].offered -= 1
    slots_take(
        rows=rows,
        need=Counter(agent.pk for agent in agent_of.values()),
        users=users,
        offered=False,
        online=context.get("routed", False),
        now=now,
    )
    entries = []
    for conversation_id, agent in agent_of.items():
        reason, record = context.get("why", {}).get(conversation_id, (None, []))
        if reason is None:
            verb = "accepted the offer" if conversation_id in own_offers else "took it from the queue"
            reason = f"{display_name(agent)} {verb}"
        actor = context.get("actor", None if context.get("routed") else agent)
        entries.append(
            {
                "conversation_id": conversation_id,
                "kind": Kind.ASSIGNED,
                "agent_id": agent.pk,
                "reason": reason,
                "candidates": record,
                "actor": actor,
                "timeline": context.get("timeline", True),
            }
        )
    decisions_record(entries=entries, now=now)
    broadcast.notify_agents([row.payload for row in rows.values()])


def resolution_record(*, conversation: Conversation, now: datetime) -> None:
    """A conversation was resolved (its row is locked): free its agent's slot, or
    withdraw its open offer if it was still waiting, and route into the room."""
    agent_id = conversation.assigned_agent_id
    if agent_id is None:
        offer = Offer.objects.filter(conversation=conversation, state=Offer.State.OPEN).first()
        if offer is not None:
            agents_lock([offer.agent_id])
            offer_close(offer=offer, state=Offer.State.WITHDRAWN, now=now)
            broadcast.notify_agent(user_id=offer.agent_id)
    else:
        row = slots_lock({agent_id: get_user_model()(pk=agent_id)})[agent_id]
        if row.active > 0:
            queries.profile_load_decrement(user_id=agent_id)
            row.active -= 1
        broadcast.notify_agents([row.payload])
    routing_schedule()

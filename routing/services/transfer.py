"""Transfer: hand a conversation to another agent, or back to the queue for a skill group."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from conversations import services as conversation_services
from conversations.models import Conversation, display_name
from routing import broadcast, queries
from routing.models import AgentProfile, RoutingDecision, RoutingState, Skill
from routing.services.capacity import slots_lock
from routing.services.decisions import decision_record
from routing.services.router import routing_schedule
from routing.services.state import routing_state_for

Presence = AgentProfile.Presence
Kind = RoutingDecision.Kind
Status = Conversation.Status


@transaction.atomic
def conversation_transfer(
    *,
    conversation_id: int,
    by: AbstractBaseUser,
    note: str,
    now: datetime,
    to_agent: AbstractBaseUser | None = None,
    to_skill: Skill | None = None,
) -> Conversation:
    """Hand a conversation to another agent, or back to the queue for a skill group,
    with an internal note. A target agent must be online (an agent who is away or
    offline receives nothing new, and the customer would wait on nobody) and have
    room (capacity holds); both are read under the agent's profile lock."""
    if (to_agent is None) == (to_skill is None):
        raise ValidationError("Choose either an agent or a skill group.", code="invalid")
    note = note.strip()[:400]
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    current = conversation.assigned_agent
    if conversation.status != Status.ASSIGNED or not (current.pk == by.pk or by.is_staff):
        raise PermissionDenied("Only the agent handling this conversation (or an admin) can transfer it.")
    if to_agent is not None and to_agent.pk == current.pk:
        raise ValidationError(f"{display_name(to_agent)} already has this conversation.", code="invalid")
    rows = slots_lock({current.pk: current, **({to_agent.pk: to_agent} if to_agent else {})})
    if to_agent is not None and rows[to_agent.pk].presence != Presence.ONLINE:
        raise ValidationError(
            f"{display_name(to_agent)} is {rows[to_agent.pk].presence}: transfer to someone online,"
            " or to a skill group.",
            code="not_online",
        )
    target = display_name(to_agent) if to_agent else f"the {to_skill.name} team"
    conversation_services.conversation_release(
        conversation_id=conversation.pk, agent=current, body=f"{display_name(current)} is passing you to {target}."
    )
    queries.profile_load_decrement(user_id=current.pk)
    broadcast.notify_agent(user_id=current.pk)
    # One timeline line (the assignment below is stored without one): who, from
    # whom when an admin moved it, to whom, and why.
    source = "" if current.pk == by.pk else f" from {display_name(current)}"
    reason = f"Transferred by {display_name(by)}{source} to {target}" + (f": {note}" if note else "")
    decision_record(conversation=conversation, kind=Kind.TRANSFERRED, agent=to_agent, actor=by, reason=reason, now=now)
    if to_skill is not None:
        state = routing_state_for(conversation=conversation)
        state.required_skills.set([to_skill])
        RoutingState.objects.filter(pk=state.pk).update(skills_since=now, relaxed_at=None, queued_recorded=False)
    else:
        conversation_services.conversation_accept(
            conversation_id=conversation.pk,
            agent=to_agent,
            reasons={"why": {conversation.pk: (reason, [])}, "actor": by, "timeline": False},
        )
        broadcast.notify_transferred(conversation=conversation, to_agent_id=to_agent.pk, by=by, note=note)
    routing_schedule()
    conversation.refresh_from_db()
    return conversation

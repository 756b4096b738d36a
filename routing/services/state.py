"""Routing state: the skills a waiting conversation needs, from the matching rules."""

from django.db import transaction

from conversations import services as conversation_services
from conversations.models import Conversation
from core.db import bulk_insert
from routing import queries, selectors
from routing.models import RoutingState


def states_create(*, conversations: list[Conversation], new: bool = False) -> None:
    """Routing state for conversations that entered the queue (their customers
    loaded with them): the skills the matching rules require, in force since the
    handoff. A conversation that has one already keeps it (``new``: none can, it
    has just been handed off)."""
    with transaction.atomic(savepoint=False):
        if new:
            bulk_insert([RoutingState(conversation_id=c.pk, skills_since=c.handed_off_at) for c in conversations])
        else:
            ours = queries.routing_states_insert(states={c.pk: c.handed_off_at for c in conversations})
            conversations = [c for c in conversations if c.pk in ours]
        if not conversations:
            return
        matching = selectors.rules_matching_many(conversations=conversations)
        through = RoutingState.required_skills.through
        needs, timeline = [], []
        for conversation in conversations:
            rules = matching[conversation.pk]
            skills = {skill_id: name for rule in rules for skill_id, name in rule.required}
            if not skills:
                continue
            needs += [through(routingstate_id=conversation.pk, skill_id=skill_id) for skill_id in skills]
            names = sorted(skills.values())
            timeline.append(
                {
                    "conversation_id": conversation.pk,
                    "kind": "routing.skills",
                    "text": f"Needs skills: {', '.join(names)} (rules: {', '.join(r.name for r in rules)})",
                    "data": {"skills": names, "rules": [r.pk for r in rules]},
                    "at": conversation.handed_off_at,
                }
            )
        bulk_insert(needs)
        conversation_services.timeline_record_many(entries=timeline, batched=False)


def routing_state_for(*, conversation: Conversation) -> RoutingState:
    """The conversation's routing state, made from the rules if it has none yet."""
    state = RoutingState.objects.filter(pk=conversation.pk).first()
    if state is None:
        states_create(conversations=list(Conversation.objects.filter(pk=conversation.pk).select_related("customer")))
        state = RoutingState.objects.get(pk=conversation.pk)
    return state

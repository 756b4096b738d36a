"""Presence: online, away, offline; heartbeats, the grace-period sweep, and what going away withdraws."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest

from conversations import services as conversation_services
from conversations.models import Conversation, display_name
from routing import broadcast, queries, selectors
from routing.models import AgentProfile, Offer, PresenceLog, RoutingDecision, RoutingSettings
from routing.services.capacity import agent_profile_for, agents_lock, offer_close
from routing.services.decisions import decision_record
from routing.services.router import routing_schedule

Presence = AgentProfile.Presence
Kind = RoutingDecision.Kind
Status = Conversation.Status


@transaction.atomic
def presence_set(
    *,
    user: AbstractBaseUser,
    status: str,
    now: datetime,
    manual: bool = True,
    stale_before: datetime | None = None,
) -> bool:
    """Change the agent's presence; False if it already was that.

    ``stale_before``: only if no heartbeat came since (the grace-period sweep,
    which must not undo a heartbeat that just arrived). Going away or offline
    withdraws the agent's open offers after commit, in their own transactions
    (they lock conversations, which come before this profile in the lock order).
    """
    if status not in Presence.values:
        raise ValidationError("Presence must be online, away or offline.", code="invalid")
    profile = agent_profile_for(user)
    changes = {"presence": status, "presence_changed_at": now, "presence_manual": manual}
    if status != Presence.OFFLINE:
        changes["last_heartbeat_at"] = now
    rows = AgentProfile.objects.filter(pk=profile.pk).exclude(presence=status)
    if stale_before is not None:
        rows = rows.filter(Q(last_heartbeat_at__lt=stale_before) | Q(last_heartbeat_at__isnull=True))
    if not rows.update(**changes):
        if stale_before is None:
            AgentProfile.objects.filter(pk=profile.pk).update(presence_manual=manual)
        return False
    PresenceLog.objects.filter(agent=user, ended_at__isnull=True).update(ended_at=Greatest(F("started_at"), now))
    PresenceLog.objects.create(agent=user, status=status, started_at=now)
    broadcast.notify_agent(user_id=user.pk)
    if status == Presence.ONLINE:
        routing_schedule()
    else:
        user_id = user.pk
        transaction.on_commit(lambda: agent_unavailable(user_id=user_id, now=now), robust=True)
    return True


def agent_unavailable(*, user_id: int, now: datetime) -> None:
    """The agent went away or offline: their open offers return to the queue at
    once; their conversations too if the settings say so."""
    settings = selectors.routing_settings()
    agent = get_user_model().objects.get(pk=user_id)
    for offer_id in Offer.objects.filter(agent_id=user_id, state=Offer.State.OPEN).values_list("pk", flat=True):
        with transaction.atomic():
            offer = Offer.objects.filter(pk=offer_id).first()
            conversation = Conversation.objects.select_for_update().get(pk=offer.conversation_id)
            agents_lock([user_id])
            if offer_close(offer=offer, state=Offer.State.WITHDRAWN, now=now):
                decision_record(
                    conversation=conversation,
                    kind=Kind.WITHDRAWN,
                    agent=agent,
                    reason=f"{display_name(agent)} is no longer online: offer withdrawn",
                    now=now,
                )
    if settings.requeue_on_offline:
        for conversation_id in Conversation.objects.filter(
            status=Status.ASSIGNED, assigned_agent_id=user_id
        ).values_list("pk", flat=True):
            _requeue(conversation_id=conversation_id, agent=agent, now=now)
    with transaction.atomic():
        broadcast.notify_agent(user_id=user_id)
        routing_schedule()


@transaction.atomic
def _requeue(*, conversation_id: int, agent: AbstractBaseUser, now: datetime) -> bool:
    Conversation.objects.select_for_update().get(pk=conversation_id)
    agents_lock([agent.pk])
    released = conversation_services.conversation_release(
        conversation_id=conversation_id,
        agent=agent,
        body=f"{display_name(agent)} had to step away; the next available person will take over.",
    )
    if not released:
        return False
    queries.profile_load_decrement(user_id=agent.pk)
    decision_record(
        conversation=Conversation.objects.get(pk=conversation_id),
        kind=Kind.REQUEUED,
        agent=agent,
        reason=f"Back in the queue: {display_name(agent)} went offline",
        now=now,
    )
    return True


# An agent whose inbox went quiet for less than this (a network blip, a Redis or
# server restart) and was turned offline for it comes back as they were, with their
# next heartbeat; after longer (a laptop closed for the night) they choose again.
PRESENCE_RESTORE = timedelta(minutes=10)


def presence_heartbeat(*, user: AbstractBaseUser, now: datetime) -> None:
    """The inbox page is alive (a heartbeat over the socket or over HTTP, or the
    socket connecting): one UPDATE, and if the silence had turned the agent
    offline only moments ago, their presence from before."""
    if not AgentProfile.objects.filter(user=user).update(last_heartbeat_at=now):
        agent_profile_for(user)
        AgentProfile.objects.filter(user=user).update(last_heartbeat_at=now)
        return
    auto_offline = AgentProfile.objects.filter(
        user=user, presence=Presence.OFFLINE, presence_manual=False, presence_changed_at__gte=now - PRESENCE_RESTORE
    ).exists()
    if not auto_offline:
        return
    before = (
        PresenceLog.objects.filter(agent=user, ended_at__isnull=False)
        .order_by("-started_at", "-pk")
        .values_list("status", flat=True)
        .first()
    )
    if before in (Presence.ONLINE, Presence.AWAY):
        presence_set(user=user, status=before, now=now, manual=False)


def presence_sweep(*, now: datetime, settings: RoutingSettings) -> int:
    """Agents whose inbox has not been heard from within the grace period go offline."""
    cutoff = now - timedelta(seconds=settings.presence_grace_s)
    stale = AgentProfile.objects.exclude(presence=Presence.OFFLINE).filter(
        Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at__isnull=True)
    )
    went = 0
    for profile in stale.select_related("user"):
        went += presence_set(user=profile.user, status=Presence.OFFLINE, now=now, manual=False, stale_before=cutoff)
    return went

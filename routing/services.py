"""The write path of routing: presence, offers, assignment, transfer, the queue.

Lock order (docs/concurrency.md): conversation row first, then agent profile
rows in ascending user id. Routing itself takes both with SKIP LOCKED, so it
never waits; services acting for a person wait, in that same order.
Capacity is enforced by conditional UPDATEs on the profile and the check
constraint ``agentprofile_within_capacity``; every assignment, whatever path it
takes, goes through ``assignment_record`` (connected to conversations'
``conversation_assigned`` signal), which counts it or refuses it.
"""

import contextvars
import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, display_name
from routing import broadcast, selectors
from routing.models import AgentProfile, Offer, PresenceLog, RoutingDecision, RoutingSettings, RoutingState, Skill

logger = logging.getLogger(__name__)

Presence = AgentProfile.Presence
Kind = RoutingDecision.Kind
Status = Conversation.Status

# Waiting conversations looked at per routing step: those needing skills nobody
# free has are passed over, so one behind them still gets placed.
QUEUE_SCAN = 200
# Routing steps per routing call: a burst of freed capacity is filled in one call.
STEPS_PER_CALL = 200

# Set by routing while it assigns, so the assignment hook records routing's reason
# and candidates instead of "taken by hand".
_assigning: contextvars.ContextVar[dict | None] = contextvars.ContextVar("routing_assigning", default=None)


class AgentAtCapacity(Exception):
    def __init__(self, agent):
        super().__init__(f"{display_name(agent)} already has as many conversations as their capacity allows.")


def agent_profile_for(user: AbstractBaseUser) -> AgentProfile:
    """The agent's routing profile, created (offline, capacity 5) on first use."""
    return AgentProfile.objects.get_or_create(user=user)[0]


def _lock_profiles(user_ids) -> None:
    """Row-lock these agents' profiles in the one order every path uses."""
    list(
        AgentProfile.objects.select_for_update()
        .filter(user_id__in=sorted(set(user_ids)))
        .order_by("user_id")
        .values_list("pk", flat=True)
    )


def decision_record(
    *,
    conversation: Conversation,
    kind: str,
    agent: AbstractBaseUser | None = None,
    agent_id: int | None = None,
    reason: str = "",
    candidates: list | None = None,
    actor: AbstractBaseUser | None = None,
    now: datetime,
) -> RoutingDecision:
    """Store a routing decision and show it in the conversation's timeline."""
    decision = RoutingDecision(
        conversation=conversation,
        agent_id=agent.pk if agent is not None else agent_id,
        kind=kind,
        reason=reason,
        candidates=candidates or [],
        created_at=now,
    )
    decision.full_clean(exclude=["conversation", "agent"])
    decision.save()
    conversation_services.timeline_record(
        conversation=conversation,
        kind=f"routing.{kind}",
        text=reason or RoutingDecision.Kind(kind).label,
        actor=actor,
        data={"decision": decision.pk, "agent": decision.agent_id, "candidates": decision.candidates},
        at=now,
    )
    return decision


def routing_schedule() -> None:
    """After commit, route the queue here and now: a routing step is a few short
    queries, so the process that freed capacity or queued a conversation fills it
    without a trip through the task queue. A failure is logged, not raised into
    the caller's response; the timers' tick routes again within seconds."""
    transaction.on_commit(route, robust=True)


# --- Routing state at handoff ------------------------------------------------


def routing_state_for(*, conversation: Conversation, now: datetime) -> RoutingState:
    """The conversation's routing state; its skill requirement comes from the rules."""
    state = RoutingState.objects.filter(pk=conversation.pk).first()
    if state is not None:
        return state
    state = RoutingState.objects.create(conversation=conversation, skills_since=now)
    rules = selectors.rules_matching(conversation=conversation)
    skills = {skill for rule in rules for skill in rule.skills.all()}
    if skills:
        state.required_skills.set(skills)
        names = ", ".join(sorted(s.name for s in skills))
        conversation_services.timeline_record(
            conversation=conversation,
            kind="routing.skills",
            text=f"Needs skills: {names} (rules: {', '.join(r.name for r in rules)})",
            data={"skills": sorted(s.name for s in skills), "rules": [r.pk for r in rules]},
            at=now,
        )
    return state


@transaction.atomic
def handoff_received(*, conversation: Conversation, now: datetime) -> None:
    """A conversation entered the queue: work out its skills, route after commit
    (so the priority and SLA receivers of the same transaction have run)."""
    routing_state_for(conversation=conversation, now=now)
    transaction.on_commit(lambda: route_handoff(conversation_id=conversation.pk), robust=True)


# --- The queue ----------------------------------------------------------------


def _queue_window() -> list[tuple[int, set[int]]]:
    """The first waiting conversations nobody is offered, with the skills each
    needs, in three queries however long the queue (read without locks)."""
    open_offer = Offer.objects.filter(conversation=OuterRef("pk"), state=Offer.State.OPEN)
    ids = list(
        Conversation.objects.filter(status=Status.PENDING_HANDOFF)
        .filter(~Exists(open_offer))
        .order_by("priority", "handed_off_at", "pk")
        .values_list("pk", flat=True)[:QUEUE_SCAN]
    )
    required: dict[int, set[int]] = {pk: set() for pk in ids}
    known = set(RoutingState.objects.filter(pk__in=ids).values_list("pk", flat=True))
    for conversation in Conversation.objects.filter(pk__in=[pk for pk in ids if pk not in known]):
        routing_state_for(conversation=conversation, now=timezone.now())  # handed off before routing knew
    for state_id, skill_id in RoutingState.required_skills.through.objects.filter(
        routingstate_id__in=ids, routingstate__relaxed_at__isnull=True
    ).values_list("routingstate_id", "skill_id"):
        required[state_id].add(skill_id)
    return list(required.items())


def _rank(conversation: Conversation, candidates: list[selectors.Candidate], required: set[int], *, tried: set[int]):
    """Eligible agents best first (not offered it before, lowest load, idle longest)
    and every online agent's line for the record."""
    eligible, record = [], []
    for c in candidates:
        if not c.free:
            record.append(c.describe(eligible=False, why="at capacity"))
        elif not required <= c.skills:
            record.append(c.describe(eligible=False, why="missing skills"))
        else:
            eligible.append(c)
    epoch = datetime.min.replace(tzinfo=conversation.handed_off_at.tzinfo)
    eligible.sort(key=lambda c: (c.user_id in tried, c.load, c.last_assigned_at or epoch, c.user_id))
    return eligible, record


def _queued_record(
    *, conversation: Conversation, state: RoutingState, record: list, required: set[int], now: datetime
) -> None:
    if state.queued_recorded:
        return
    if RoutingState.objects.filter(pk=state.pk, queued_recorded=False).update(queued_recorded=True):
        if not record:
            reason = "Queued: no agent is online."
        elif required:
            names = ", ".join(Skill.objects.filter(pk__in=required).values_list("name", flat=True))
            reason = f"Queued: no online agent with skills {names} has room."
        else:
            reason = "Queued: every online agent is at capacity."
        decision_record(conversation=conversation, kind=Kind.QUEUED, reason=reason, candidates=record, now=now)


def _place(
    *, conversation: Conversation, settings: RoutingSettings, candidate: selectors.Candidate, record, now
) -> RoutingDecision | None:
    """Offer or assign to this agent if their row is free to lock and they still have room."""
    profile = (
        AgentProfile.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("user")
        .filter(pk=candidate.profile_id)
        .first()
    )
    if profile is None:
        return None  # another router is placing a conversation with them right now
    if profile.presence != Presence.ONLINE or profile.active_count + profile.offered_count >= profile.capacity:
        return None
    load = f"{profile.active_count + profile.offered_count}/{profile.capacity}"
    record = [*record, candidate.describe(eligible=True, why=f"chosen (load {load})")]
    user = profile.user
    if settings.mode == RoutingSettings.Mode.AUTO_ASSIGN:
        token = _assigning.set({"reason": f"Assigned to {display_name(user)}: lowest load ({load})", "record": record})
        context = _assigning.get()
        try:
            conversation_services.conversation_accept(conversation_id=conversation.pk, agent=user)
        except AgentAtCapacity:
            return None
        finally:
            _assigning.reset(token)
        return context["decision"]
    AgentProfile.objects.filter(pk=profile.pk).update(offered_count=F("offered_count") + 1)
    offer = Offer(
        conversation=conversation,
        agent=user,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.offer_timeout_s),
    )
    offer.full_clean(exclude=["conversation", "agent"], validate_constraints=False)
    offer.save()
    broadcast.notify_offer(offer, now=now)
    broadcast.notify_agent(user_id=user.pk)
    return decision_record(
        conversation=conversation,
        kind=Kind.OFFERED,
        agent=user,
        reason=f"Offered to {display_name(user)}: lowest load ({load}), {settings.offer_timeout_s} s to accept",
        candidates=record,
        now=now,
    )


@transaction.atomic
def route_step(*, now: datetime, settings: RoutingSettings | None = None) -> RoutingDecision | None:
    """Place the first waiting conversation that some online agent may take.

    Conversations and agents are claimed with SKIP LOCKED, so any number of
    routers run at once without waiting on each other or placing one twice.
    """
    settings = settings or selectors.routing_settings()
    online = selectors.online_candidates()
    candidates = [c for c in online if c.free]
    if not candidates:
        return None
    for conversation_id, required in _queue_window():
        if not any(required <= c.skills for c in candidates):
            continue  # waits for a skilled agent (or for its skill wait to run out)
        conversation = (
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(pk=conversation_id, status=Status.PENDING_HANDOFF)
            .first()
        )
        if conversation is None:
            continue  # another router has it, or it has just been taken
        offers = list(Offer.objects.filter(conversation=conversation).values_list("agent_id", "state"))
        if any(state == Offer.State.OPEN for _agent, state in offers):
            continue  # offered by a router that committed after the window was read
        eligible, record = _rank(conversation, online, required, tried={agent for agent, _state in offers})
        for i, candidate in enumerate(eligible):
            others = [c.describe(eligible=True, why="higher load or busier") for c in eligible[i + 1 :]]
            decision = _place(
                conversation=conversation, settings=settings, candidate=candidate, record=record + others, now=now
            )
            if decision is not None:
                return decision
            record.append(candidate.describe(eligible=False, why="taken by another decision"))
    return None


def route(*, now_fn=None) -> int:
    """Route until nothing more can be placed; returns the number of placements."""
    now_fn = now_fn or timezone.now
    settings = selectors.routing_settings()
    placed = 0
    for _ in range(STEPS_PER_CALL):
        if route_step(now=now_fn(), settings=settings) is None:
            break
        placed += 1
    return placed


def route_handoff(*, conversation_id: int) -> None:
    route()
    queued_check(conversation_id=conversation_id, now=timezone.now())


@transaction.atomic
def queued_check(*, conversation_id: int, now: datetime) -> None:
    """After routing a new handoff: if it is still waiting, say why, once."""
    conversation = Conversation.objects.filter(pk=conversation_id, status=Status.PENDING_HANDOFF).first()
    if conversation is None or conversation.offers.filter(state=Offer.State.OPEN).exists():
        return
    state = routing_state_for(conversation=conversation, now=now)
    required = selectors.required_skill_ids(state=state)
    _eligible, record = _rank(conversation, selectors.online_candidates(), required, tried=set())
    _queued_record(conversation=conversation, state=state, record=record, required=required, now=now)


# --- Assignment (every path) and release -------------------------------------------


def _close_offer(*, offer: Offer, state: str, now: datetime) -> bool:
    """Close an open offer and give its reserved slot back. Caller holds the
    conversation lock and the agent's profile lock."""
    closed = Offer.objects.filter(pk=offer.pk, state=Offer.State.OPEN).update(state=state, closed_at=now)
    if closed:
        AgentProfile.objects.filter(user_id=offer.agent_id, offered_count__gt=0).update(
            offered_count=F("offered_count") - 1
        )
        broadcast.notify_offer_closed(
            offer_id=offer.pk, agent_id=offer.agent_id, conversation_id=offer.conversation_id, state=state
        )
    return bool(closed)


def assignment_record(*, conversation: Conversation, agent: AbstractBaseUser, now: datetime) -> None:
    """Count an assignment against the agent's capacity, or refuse it.

    Runs inside conversations' accept transaction (conversation row locked by its
    conditional UPDATE): closes the conversation's open offer (accepted, or
    withdrawn from another agent who was offered it), then takes a slot with a
    conditional UPDATE; no slot raises AgentAtCapacity and rolls the accept back.
    """
    agent_profile_for(agent)
    offer = Offer.objects.filter(conversation=conversation, state=Offer.State.OPEN).first()
    _lock_profiles([agent.pk] + ([offer.agent_id] if offer else []))
    own_offer = offer is not None and offer.agent_id == agent.pk
    if offer is not None:
        _close_offer(offer=offer, state=Offer.State.ACCEPTED if own_offer else Offer.State.WITHDRAWN, now=now)
        if not own_offer:
            broadcast.notify_agent(user_id=offer.agent_id)
    took = AgentProfile.objects.filter(user_id=agent.pk, active_count__lt=F("capacity") - F("offered_count")).update(
        active_count=F("active_count") + 1, last_assigned_at=now
    )
    if not took:
        raise AgentAtCapacity(agent)
    context = _assigning.get()
    if context is not None:
        reason, record, actor = context["reason"], context["record"], context.get("actor")
    elif own_offer:
        reason, record, actor = f"{display_name(agent)} accepted the offer", [], agent
    else:
        reason, record, actor = f"{display_name(agent)} took it from the queue", [], agent
    decision = decision_record(
        conversation=conversation,
        kind=Kind.ASSIGNED,
        agent=agent,
        reason=reason,
        candidates=record,
        actor=actor,
        now=now,
    )
    if context is not None:
        context["decision"] = decision
    broadcast.notify_agent(user_id=agent.pk)


def resolution_record(*, conversation: Conversation, now: datetime) -> None:
    """A conversation was resolved (its row is locked): free its agent's slot or
    its open offer, and route the queue into the room."""
    offer = Offer.objects.filter(conversation=conversation, state=Offer.State.OPEN).first()
    agent_id = conversation.assigned_agent_id
    _lock_profiles(([agent_id] if agent_id else []) + ([offer.agent_id] if offer else []))
    if offer is not None:
        _close_offer(offer=offer, state=Offer.State.WITHDRAWN, now=now)
        broadcast.notify_agent(user_id=offer.agent_id)
    if agent_id:
        AgentProfile.objects.filter(user_id=agent_id, active_count__gt=0).update(active_count=F("active_count") - 1)
        broadcast.notify_agent(user_id=agent_id)
    routing_schedule()


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
    _lock_profiles([agent.pk])
    if not _close_offer(offer=offer, state=Offer.State.DECLINED, now=now):
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
            _lock_profiles([offer.agent_id])
            if not _close_offer(offer=offer, state=Offer.State.EXPIRED, now=now):
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


def skills_relax(*, now: datetime, settings: RoutingSettings) -> int:
    """Conversations that waited longer than the skill wait may go to any agent."""
    cutoff = now - timedelta(seconds=settings.skill_wait_s)
    due = RoutingState.objects.filter(
        relaxed_at__isnull=True,
        skills_since__lte=cutoff,
        conversation__status=Status.PENDING_HANDOFF,
        required_skills__isnull=False,
    ).values_list("pk", flat=True)
    relaxed = 0
    for conversation_id in set(due):
        with transaction.atomic():
            if not RoutingState.objects.filter(pk=conversation_id, relaxed_at__isnull=True).update(relaxed_at=now):
                continue
            conversation = Conversation.objects.get(pk=conversation_id)
            decision_record(
                conversation=conversation,
                kind=Kind.RELAXED,
                reason=f"No skilled agent took it within {settings.skill_wait_s} s: any agent may take it now",
                now=now,
            )
            relaxed += 1
    return relaxed


# --- Presence ---------------------------------------------------------------


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
        transaction.on_commit(lambda: agent_unavailable(user_id=user_id, now=now))
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
            _lock_profiles([user_id])
            if _close_offer(offer=offer, state=Offer.State.WITHDRAWN, now=now):
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
    _lock_profiles([agent.pk])
    released = conversation_services.conversation_release(
        conversation_id=conversation_id,
        agent=agent,
        body=f"{display_name(agent)} had to step away; the next available person will take over.",
    )
    if not released:
        return False
    AgentProfile.objects.filter(user_id=agent.pk, active_count__gt=0).update(active_count=F("active_count") - 1)
    decision_record(
        conversation=Conversation.objects.get(pk=conversation_id),
        kind=Kind.REQUEUED,
        agent=agent,
        reason=f"Back in the queue: {display_name(agent)} went offline",
        now=now,
    )
    return True


def presence_heartbeat(*, user: AbstractBaseUser, now: datetime) -> None:
    """The inbox page is alive; one UPDATE, no lock held beyond it."""
    if not AgentProfile.objects.filter(user=user).update(last_heartbeat_at=now):
        agent_profile_for(user)
        AgentProfile.objects.filter(user=user).update(last_heartbeat_at=now)


def presence_connected(*, user: AbstractBaseUser, now: datetime) -> None:
    """An inbox page opened: the agent is alive. Presence itself only changes by
    the agent's hand (or to offline by the grace period): a tab reopening after
    a night asleep should not start routing work to an empty chair."""
    presence_heartbeat(user=user, now=now)


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


def tick_if_due(*, now: datetime) -> dict | None:
    """The timers' work, only if some is due (three indexed existence checks):
    called on every inbox heartbeat, so timers fire even with no ticker running."""
    settings = selectors.routing_settings()
    due = (
        Offer.objects.filter(state=Offer.State.OPEN, expires_at__lte=now).exists()
        or AgentProfile.objects.exclude(presence=Presence.OFFLINE)
        .filter(last_heartbeat_at__lt=now - timedelta(seconds=settings.presence_grace_s))
        .exists()
        or RoutingState.objects.filter(
            relaxed_at__isnull=True,
            skills_since__lte=now - timedelta(seconds=settings.skill_wait_s),
            conversation__status=Status.PENDING_HANDOFF,
            required_skills__isnull=False,
        ).exists()
    )
    return tick(now=now) if due else None


def tick(*, now: datetime) -> dict:
    """The timers: expire offers, auto-offline silent agents, relax skill waits,
    then route. Idempotent; safe from any number of processes at once."""
    settings = selectors.routing_settings()
    figures = {
        "expired": offers_expire(now=now),
        "offline": presence_sweep(now=now, settings=settings),
        "relaxed": skills_relax(now=now, settings=settings),
    }
    # Always route: a conversation whose after-commit routing died with its process is
    # picked up here (three cheap reads when there is nothing to place).
    figures["placed"] = route()
    figures["grace_s"] = settings.presence_grace_s
    return figures


# --- Transfer -------------------------------------------------------------------


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
    with an internal note. The target agent must have room (capacity holds)."""
    if (to_agent is None) == (to_skill is None):
        raise ValidationError("Choose either an agent or a skill group.", code="invalid")
    note = note.strip()[:400]
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    current = conversation.assigned_agent
    if conversation.status != Status.ASSIGNED or not (current.pk == by.pk or by.is_staff):
        raise PermissionDenied("Only the agent handling this conversation (or an admin) can transfer it.")
    if to_agent is not None and to_agent.pk == current.pk:
        raise ValidationError(f"{display_name(to_agent)} already has this conversation.", code="invalid")
    if to_agent is not None:
        agent_profile_for(to_agent)
    _lock_profiles([current.pk] + ([to_agent.pk] if to_agent else []))
    target = display_name(to_agent) if to_agent else f"the {to_skill.name} team"
    conversation_services.conversation_release(
        conversation_id=conversation.pk, agent=current, body=f"{display_name(current)} is passing you to {target}."
    )
    AgentProfile.objects.filter(user_id=current.pk, active_count__gt=0).update(active_count=F("active_count") - 1)
    broadcast.notify_agent(user_id=current.pk)
    reason = f"Transferred by {display_name(by)} to {target}" + (f": {note}" if note else "")
    decision_record(conversation=conversation, kind=Kind.TRANSFERRED, agent=to_agent, actor=by, reason=reason, now=now)
    if to_skill is not None:
        state = routing_state_for(conversation=conversation, now=now)
        state.required_skills.set([to_skill])
        RoutingState.objects.filter(pk=state.pk).update(skills_since=now, relaxed_at=None, queued_recorded=False)
    else:
        token = _assigning.set({"reason": reason, "record": [], "actor": by})
        try:
            conversation_services.conversation_accept(conversation_id=conversation.pk, agent=to_agent)
        finally:
            _assigning.reset(token)
    routing_schedule()
    conversation.refresh_from_db()
    return conversation

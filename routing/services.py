"""The write path of routing: presence, offers, assignment, transfer, the queue.

How routing runs (docs/concurrency.md): every commit that may let a waiting
conversation be placed (a handoff, a resolve, an agent coming online, an offer
declined or expired, a transfer) asks for routing once it has committed
(``routing_schedule``). On PostgreSQL one process routes at a time, holding an
advisory lock; a process asking while another routes only counts its request on
a sequence, which the router reads after each round and, if it moved, routes
again: no request goes unserved, and requests made together share a round. A
round reads the head of the queue and the online agents, plans who takes what,
and places the whole plan in one transaction.

Lock order: conversation rows first, then agent profile rows in ascending user
id. Capacity is enforced by the check constraint ``agentprofile_within_capacity``
and by ``assignments_record`` (connected to conversations' ``conversations_assigned``
hook), which every assignment passes, routed or by hand: it locks the agents'
profiles, refuses (AgentAtCapacity) what does not fit, and counts the rest.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from conversations import broadcast as conversation_broadcast
from conversations import services as conversation_services
from conversations.models import Conversation, display_name
from helpdesk.db import bulk_insert, on_commit_once
from helpdesk.tasks import task_enqueue
from routing import broadcast, queries, selectors
from routing.models import AgentProfile, Offer, PresenceLog, RoutingDecision, RoutingSettings, RoutingState, Skill

logger = logging.getLogger(__name__)

Presence = AgentProfile.Presence
Kind = RoutingDecision.Kind
Status = Conversation.Status

# Waiting conversations one routing round looks at: those needing skills nobody
# free has are passed over, so one behind them still gets placed.
QUEUE_SCAN = 200
# Rounds per routing call when concurrency spoils a plan (a conversation taken or
# locked meanwhile, an agent filled); past them, the next request routes again.
ROUNDS_PER_CALL = 5
# A process routes for others at most this long before a task takes over, so a
# web request that became the router under sustained load is not held up.
SERVE_S = 1.0
# Lines a decision's record keeps of the agents considered (how many there were
# is in its reason): the best who could take it, then the nearest who could not.
CANDIDATES_RECORDED = 10
EPOCH = datetime.min.replace(tzinfo=UTC)


class AgentAtCapacity(Exception):
    def __init__(self, agent):
        super().__init__(f"{display_name(agent)} already has as many conversations as their capacity allows.")


def agent_profile_for(user: AbstractBaseUser) -> AgentProfile:
    """The agent's routing profile, created (offline, capacity 5) on first use."""
    return AgentProfile.objects.get_or_create(user=user)[0]


def _lock_profiles(user_ids) -> None:
    """Row-lock these agents' profiles in the one order every path uses."""
    _slots_lock({user_id: get_user_model()(pk=user_id) for user_id in user_ids})


@dataclass
class _Slots:
    """An agent's profile as read under its row lock: what may still be taken."""

    user_id: int
    username: str
    first_name: str
    presence: str
    capacity: int
    active: int
    offered: int

    @property
    def payload(self) -> dict:
        return broadcast.agent_values_payload(
            user_id=self.user_id,
            name=self.first_name or self.username,
            presence=self.presence,
            capacity=self.capacity,
            active=self.active,
            offered=self.offered,
        )


def _slots_lock(users: dict[int, AbstractBaseUser]) -> dict[int, _Slots]:
    """Lock the profiles of these agents (creating a missing one: someone taking a
    first conversation by hand), in user id order, and read them."""
    rows = {row[0]: _Slots(*row) for row in queries.profiles_lock(user_ids=list(users))}
    if len(rows) < len(users):
        for user_id in users.keys() - rows.keys():
            agent_profile_for(users[user_id])
        rows = {row[0]: _Slots(*row) for row in queries.profiles_lock(user_ids=list(users))}
    return rows


def _slots_take(
    *, rows: dict[int, _Slots], need: Counter, users: dict, offered: bool, online: bool, now: datetime
) -> None:
    """Take ``need[agent]`` slots of each locked agent, as assignments or as offers;
    AgentAtCapacity if one has too little room (or is not online, if ``online``)."""
    for user_id, n in need.items():
        row = rows[user_id]
        if row.active + row.offered + n > row.capacity or (online and row.presence != Presence.ONLINE):
            raise AgentAtCapacity(users[user_id])
    queries.profiles_take(need=need, offered=offered, now=now)
    for user_id, n in need.items():
        if offered:
            rows[user_id].offered += n
        else:
            rows[user_id].active += n


# --- Decisions ----------------------------------------------------------------


def decisions_record(*, entries: list[dict], now: datetime) -> list[RoutingDecision]:
    """Store routing decisions and show each in its conversation's timeline, in two
    INSERTs. Each entry: ``conversation_id``, ``kind``, and optionally ``agent_id``,
    ``reason``, ``candidates`` (the record of who was considered) and ``actor``."""
    decisions = bulk_insert(
        [
            RoutingDecision(
                conversation_id=e["conversation_id"],
                agent_id=e.get("agent_id"),
                kind=e["kind"],
                reason=e.get("reason", ""),
                candidates=e.get("candidates") or [],
                created_at=now,
            )
            for e in entries
        ]
    )
    conversation_services.timeline_record_many(
        entries=[
            {
                "conversation_id": d.conversation_id,
                "kind": f"routing.{d.kind}",
                "text": d.reason or Kind(d.kind).label,
                "actor": e.get("actor"),
                "data": {"decision": d.pk, "agent": d.agent_id, "candidates": d.candidates},
                "at": now,
            }
            for d, e in zip(decisions, entries, strict=True)
        ],
        batched=False,
    )
    return decisions


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
    """One routing decision (see ``decisions_record``)."""
    entry = {
        "conversation_id": conversation.pk,
        "kind": kind,
        "agent_id": agent.pk if agent is not None else agent_id,
        "reason": reason,
        "candidates": candidates,
        "actor": actor,
    }
    return decisions_record(entries=[entry], now=now)[0]


# --- Asking for routing, and the one router -------------------------------------


def routing_schedule() -> None:
    """Route once this transaction commits, here and now (not through the task
    queue): whatever in it may have let a waiting conversation be placed. Several
    changes in one transaction ask once. A failure is logged, not raised into the
    caller's response; the timers' tick routes again within seconds."""
    on_commit_once(routing_request, robust=True)


def routing_request() -> None:
    """Make sure a routing round starts after this moment.

    SQLite has one writer at a time: route here. PostgreSQL: count the request
    and, in the same round trip, try to become the router; if another process is
    routing, it will see the count move when it lets go, and route again for us.
    The router notes the count as it takes the lock, routes a round, and reads the
    count again as it lets go; if it moved meanwhile, it takes the lock again (or
    leaves it to whoever has it now, who reads the count after taking it).
    """
    if connection.vendor != "postgresql":
        route()
        return
    deadline = time.monotonic() + SERVE_S
    taken, latest = queries.router_take(count=True)
    while taken:
        served, handover = latest, time.monotonic() > deadline
        try:
            if not handover:
                route()
        finally:
            latest = queries.router_release()
        if handover:
            task_enqueue("routing.tasks.route", task_name=f"routing-{latest}")
            return
        if latest == served:
            return
        taken, latest = queries.router_take(count=False)


# --- Routing state -------------------------------------------------------------------


def _states_create(*, conversations: list[Conversation], new: bool = False) -> None:
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
        _states_create(conversations=list(Conversation.objects.filter(pk=conversation.pk).select_related("customer")))
        state = RoutingState.objects.get(pk=conversation.pk)
    return state


@transaction.atomic(savepoint=False)
def handoff_received(*, conversation: Conversation) -> None:
    """A conversation entered the queue (its customer loaded with it): work out the
    skills it needs here, in the handoff's transaction, so the one router has less
    to do; route once the handoff has committed (after the priority and SLA
    receivers of the same transaction have run)."""
    _states_create(conversations=[conversation], new=True)
    routing_schedule()


# --- The queue ----------------------------------------------------------------


@dataclass
class _Waiting:
    """A conversation at the head of the queue, as one routing round read it."""

    conversation_id: int
    queued_recorded: bool
    required: dict[int, str] = field(default_factory=dict)  # skill id → name; none once relaxed
    tried: set[int] = field(default_factory=set)  # agents offered it before


def _queue_window(*, offering: bool) -> list[_Waiting]:
    """The first waiting conversations nobody is being offered, in queue order, with
    the skills each needs and (when offering) who had it offered before; read
    without locks, in two or three queries however long the queue."""
    rows = queries.queue_window_rows(limit=QUEUE_SCAN)
    if not rows:
        return []
    new = [pk for pk, state, _relaxed, _queued in rows if state is None]
    if new:  # handed off before routing was there to hear it
        _states_create(conversations=list(Conversation.objects.filter(pk__in=new).select_related("customer")))
    window = {pk: _Waiting(conversation_id=pk, queued_recorded=bool(queued)) for pk, _state, _relaxed, queued in rows}
    needing = [pk for pk, _state, relaxed, _queued in rows if relaxed is None]
    for state_id, skill_id, name in queries.required_skills_rows(state_ids=needing):
        window[state_id].required[skill_id] = name
    if offering:
        for conversation_id, agent_id in Offer.objects.filter(conversation_id__in=list(window)).values_list(
            "conversation_id", "agent_id"
        ):
            window[conversation_id].tried.add(agent_id)
    return list(window.values())


def _record(candidates: list[selectors.Candidate], busy: dict[int, int], required: set[int], ranked=()) -> list[dict]:
    """A decision's record of the agents considered: those who could take the
    conversation, best first (the first of ``ranked`` chosen), then those who could
    not, the ones with the skills (at capacity) before the others; at most
    ``CANDIDATES_RECORDED`` lines. The reason says how many were considered."""
    lines = [
        c.line(
            busy=busy[c.user_id],
            eligible=True,
            why=f"chosen (load {busy[c.user_id]}/{c.capacity})" if i == 0 else "higher load or busier",
        )
        for i, c in enumerate(ranked[:CANDIDATES_RECORDED])
    ]
    chosen = {c.user_id for c in ranked}
    full = [c for c in candidates if c.user_id not in chosen and required <= c.skills]
    unskilled = [c for c in candidates if not required <= c.skills]
    for c in full + unskilled:
        if len(lines) == CANDIDATES_RECORDED:
            break
        lines.append(c.assess(busy=busy[c.user_id], required=required))
    return lines


@dataclass
class _Placement:
    """One line of a routing plan: the conversation, the agents who may take it
    best first (the first is chosen), and the record of who was considered."""

    waiting: _Waiting
    ranked: list[selectors.Candidate]
    load: str  # the chosen agent's, as the plan saw it
    record: list[dict]
    online: int

    @property
    def chosen(self) -> selectors.Candidate:
        return self.ranked[0]

    @property
    def considered(self) -> str:
        return f"{len(self.ranked)} of {self.online} online agents could take it"


def _plan(
    window: list[_Waiting], candidates: list[selectors.Candidate], *, now: datetime
) -> tuple[list[_Placement], dict[int, list[dict]]]:
    """Who takes what, in queue order: each conversation goes to an eligible agent
    (room, all required skills) not offered it before, with the lowest load, then
    idle longest; each placement counts against the agent for the ones after it.
    A conversation no free agent may take is passed over, so one behind it whose
    skills someone has still gets placed. Returns the plan, and for each
    passed-over conversation that has not yet said why it waits, the record."""
    busy = {c.user_id: c.active + c.offered for c in candidates}
    idle_since = {c.user_id: c.last_assigned_at or EPOCH for c in candidates}
    plan, waits = [], {}
    for waiting in window:
        required = set(waiting.required)
        eligible = [c for c in candidates if busy[c.user_id] < c.capacity and required <= c.skills]
        if not eligible:
            if not waiting.queued_recorded:
                waits[waiting.conversation_id] = _record(candidates, busy, required)
            continue
        eligible.sort(
            key=lambda c: (c.user_id in waiting.tried, busy[c.user_id] / c.capacity, idle_since[c.user_id], c.user_id)
        )
        chosen = eligible[0]
        plan.append(
            _Placement(
                waiting=waiting,
                ranked=eligible,
                load=f"{busy[chosen.user_id]}/{chosen.capacity}",
                record=_record(candidates, busy, required, eligible),
                online=len(candidates),
            )
        )
        busy[chosen.user_id] += 1
        idle_since[chosen.user_id] = now
    return plan, waits


def _queued_record(*, window: list[_Waiting], waits: dict[int, list[dict]], online: int, now: datetime) -> bool:
    """Say once, for each conversation that has just started to wait, why it waits.
    True if any did (the queue grew: its customers' places are pushed)."""
    new = [w for w in window if w.conversation_id in waits]
    ids = [w.conversation_id for w in new]
    if not ids or not RoutingState.objects.filter(pk__in=ids, queued_recorded=False).update(queued_recorded=True):
        return False
    entries = []
    for waiting in new:
        record = waits[waiting.conversation_id]
        if not record:
            reason = "Queued: no agent is online."
        elif waiting.required:
            names = ", ".join(sorted(waiting.required.values()))
            reason = f"Queued: none of the {online} online agents with skills {names} has room."
        else:
            reason = f"Queued: all {online} online agents are at capacity."
        entries.append(
            {"conversation_id": waiting.conversation_id, "kind": Kind.QUEUED, "reason": reason, "candidates": record}
        )
    decisions_record(entries=entries, now=now)
    return True


def _offers_make(*, plan: list[_Placement], settings: RoutingSettings, now: datetime) -> int:
    """Offer each planned conversation to its chosen agent; in the caller's
    transaction. Returns how many were offered."""
    claimed = set(
        Conversation.objects.select_for_update(skip_locked=True)
        .filter(pk__in=[p.waiting.conversation_id for p in plan], status=Status.PENDING_HANDOFF)
        .values_list("pk", flat=True)
    )
    # Offered by someone routing before this plan was read? Then it is not ours to offer.
    claimed -= set(
        Offer.objects.filter(conversation_id__in=claimed, state=Offer.State.OPEN).values_list(
            "conversation_id", flat=True
        )
    )
    plan = [p for p in plan if p.waiting.conversation_id in claimed]
    if not plan:
        return 0
    users = {p.chosen.user_id: p.chosen.user for p in plan}
    rows = _slots_lock(users)
    _slots_take(
        rows=rows, need=Counter(p.chosen.user_id for p in plan), users=users, offered=True, online=True, now=now
    )
    expires_at = now + timedelta(seconds=settings.offer_timeout_s)
    offers = Offer.objects.bulk_create(
        [
            Offer(
                conversation_id=p.waiting.conversation_id,
                agent_id=p.chosen.user_id,
                created_at=now,
                expires_at=expires_at,
            )
            for p in plan
        ]
    )
    offers_by_id = {o.pk: o for o in offers}
    for offer in Offer.objects.filter(pk__in=list(offers_by_id)).select_related("conversation__customer"):
        broadcast.notify_offer(offer, now=now)
    broadcast.notify_agents([rows[user_id].payload for user_id in users])
    conversation_broadcast.notify_queue_positions()  # still waiting, now for an answer: they learn their place
    decisions_record(
        entries=[
            {
                "conversation_id": p.waiting.conversation_id,
                "kind": Kind.OFFERED,
                "agent_id": p.chosen.user_id,
                "reason": (
                    f"Offered to {p.chosen.name}: lowest load ({p.load}), {settings.offer_timeout_s} s to accept;"
                    f" {p.considered}"
                ),
                "candidates": p.record,
            }
            for p in plan
        ],
        now=now,
    )
    return len(plan)


def _place(*, plan: list[_Placement], settings: RoutingSettings, now: datetime) -> int:
    """Place a plan in one transaction: assign (or offer) each conversation to its
    chosen agent. Conversations another transaction holds are passed over (SKIP
    LOCKED); if an agent no longer has room (or went offline) since the plan was
    read, nothing is placed. Returns how many were placed."""
    try:
        with transaction.atomic():
            if settings.mode == RoutingSettings.Mode.OFFER:
                return _offers_make(plan=plan, settings=settings, now=now)
            why = {
                p.waiting.conversation_id: (
                    f"Assigned to {p.chosen.name}: lowest load ({p.load}); {p.considered}",
                    p.record,
                )
                for p in plan
            }
            return len(
                conversation_services.conversations_assign(
                    assignments={p.waiting.conversation_id: p.chosen.user for p in plan},
                    skip_locked=True,
                    reasons={"routed": True, "why": why},
                )
            )
    except AgentAtCapacity:
        return 0


def route(*, now_fn=None) -> int:
    """Place waiting conversations with agents who have room, until nothing more fits.

    A round reads the head of the queue and the online agents (no locks), plans
    who takes what, and places the plan. If concurrency spoiled part of it (a
    conversation taken or locked meanwhile, an agent filled or gone), the next
    round plans again from fresh reads; otherwise what did not fit waits for the
    next change that frees room or adds an agent, which routes again. Returns
    the number of conversations placed.
    """
    now_fn = now_fn or timezone.now
    settings = selectors.routing_settings()
    placed = 0
    for _round in range(ROUNDS_PER_CALL):
        now = now_fn()
        window = _queue_window(offering=settings.mode == RoutingSettings.Mode.OFFER)
        if not window:
            break
        candidates = selectors.online_candidates(with_skills=any(w.required for w in window))
        plan, waits = _plan(window, candidates, now=now)
        if _queued_record(window=window, waits=waits, online=len(candidates), now=now):
            conversation_broadcast.notify_queue_positions()
        if not plan:
            break
        done = _place(plan=plan, settings=settings, now=now)
        placed += done
        if done == len(plan):
            break
    return placed


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
    queue"): {"routed": bool, "why": {conversation id: (reason, candidates)}, "actor": user}.
    """
    context = reasons or {}
    agent_of = {conversation.pk: agent for conversation, agent in assigned}
    offers = queries.open_offers_of(conversation_ids=list(agent_of))
    users = {agent.pk: agent for agent in agent_of.values()}
    rows = _slots_lock({**users, **{o.agent_id: get_user_model()(pk=o.agent_id) for o in offers}})
    own_offers = set()
    for offer in offers:
        if offer.agent_id == agent_of[offer.conversation_id].pk:
            own_offers.add(offer.conversation_id)
            _close_offer(offer=offer, state=Offer.State.ACCEPTED, now=now)
        else:
            _close_offer(offer=offer, state=Offer.State.WITHDRAWN, now=now)
        rows[offer.agent_id].offered -= 1
    _slots_take(
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
            _lock_profiles([offer.agent_id])
            _close_offer(offer=offer, state=Offer.State.WITHDRAWN, now=now)
            broadcast.notify_agent(user_id=offer.agent_id)
    else:
        row = _slots_lock({agent_id: get_user_model()(pk=agent_id)})[agent_id]
        if row.active > 0:
            queries.profile_load_decrement(user_id=agent_id)
            row.active -= 1
        broadcast.notify_agents([row.payload])
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
    # picked up here (a few cheap reads when there is nothing to place).
    routing_request()
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
    rows = _slots_lock({current.pk: current, **({to_agent.pk: to_agent} if to_agent else {})})
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
    reason = f"Transferred by {display_name(by)} to {target}" + (f": {note}" if note else "")
    decision_record(conversation=conversation, kind=Kind.TRANSFERRED, agent=to_agent, actor=by, reason=reason, now=now)
    if to_skill is not None:
        state = routing_state_for(conversation=conversation)
        state.required_skills.set([to_skill])
        RoutingState.objects.filter(pk=state.pk).update(skills_since=now, relaxed_at=None, queued_recorded=False)
    else:
        conversation_services.conversation_accept(
            conversation_id=conversation.pk,
            agent=to_agent,
            reasons={"why": {conversation.pk: (reason, [])}, "actor": by},
        )
    routing_schedule()
    conversation.refresh_from_db()
    return conversation

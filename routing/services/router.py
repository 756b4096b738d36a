"""Asking for routing, and the one router: a round reads the queue, plans, and places the plan
(as assignments, or as offers) in one transaction."""

import time
from collections import Counter
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from conversations import broadcast as conversation_broadcast
from conversations import services as conversation_services
from conversations.models import Conversation
from core.db import on_commit_once
from core.tasks import task_enqueue
from routing import broadcast, queries, selectors
from routing.models import Offer, RoutingDecision, RoutingSettings
from routing.services.capacity import AgentAtCapacity, slots_lock, slots_take
from routing.services.decisions import decisions_record
from routing.services.queue import Placement, placements_plan, queue_window, queued_record

Kind = RoutingDecision.Kind
Status = Conversation.Status


# Rounds per routing call when concurrency spoils a plan (a conversation taken or
# locked meanwhile, an agent filled); past them, the next request routes again.
ROUNDS_PER_CALL = 5


# A process routes for others at most this long before a task takes over, so a
# web request that became the router under sustained load is not held up.
SERVE_S = 1.0


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


def _offers_make(*, plan: list[Placement], settings: RoutingSettings, now: datetime) -> int:
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
    rows = slots_lock(users)
    slots_take(rows=rows, need=Counter(p.chosen.user_id for p in plan), users=users, offered=True, online=True, now=now)
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
    for offer in selectors.with_question(Offer.objects.filter(pk__in=list(offers_by_id))):
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


def _place(*, plan: list[Placement], settings: RoutingSettings, now: datetime) -> int:
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
        window = queue_window(offering=settings.mode == RoutingSettings.Mode.OFFER)
        if not window:
            break
        candidates = selectors.online_candidates(with_skills=any(w.required for w in window))
        plan, waits = placements_plan(window, candidates, now=now)
        if queued_record(window=window, waits=waits, online=len(candidates), now=now):
            conversation_broadcast.notify_queue_positions()
        if not plan:
            break
        done = _place(plan=plan, settings=settings, now=now)
        placed += done
        if done == len(plan):
            break
    return placed

"""Routing races between real threads on real database connections (both databases)."""

import threading

import pytest
from django.db import connection

from conversations import services as conversation_services
from conversations.models import Conversation, Message
from routing import services
from routing.models import AgentProfile, Offer, RoutingDecision, RoutingSettings
from routing.selectors import routing_settings
from routing.services import router as routing_router
from tests.conversations.test_concurrency import _race
from tests.factories import ConversationFactory, CustomerFactory, UserFactory
from tests.routing.conftest import make_online

pytestmark = pytest.mark.django_db(transaction=True)

Status = Conversation.Status
# Threads firing the handoffs: enough to collide constantly, few enough for a
# PostgreSQL shared with other test runs (each thread holds a connection).
WORKERS = 20


def _mode(mode: str) -> None:
    row = routing_settings()
    row.mode = mode
    row.save()


def _assert_counters_match_the_rows() -> None:
    """The per-agent counters equal what the conversation and offer rows say."""
    for profile in AgentProfile.objects.all():
        assigned = Conversation.objects.filter(status=Status.ASSIGNED, assigned_agent_id=profile.user_id).count()
        offered = Offer.objects.filter(agent_id=profile.user_id, state=Offer.State.OPEN).count()
        assert (profile.active_count, profile.offered_count) == (assigned, offered), profile
        assert assigned + offered <= profile.capacity, profile


def _fire(jobs: list) -> list:
    """Run the jobs from WORKERS threads released together; results in job order."""
    results = [None] * len(jobs)
    barrier = threading.Barrier(WORKERS)

    def worker(k):
        try:
            barrier.wait(timeout=30)
            for i in range(k, len(jobs), WORKERS):
                try:
                    results[i] = jobs[i]()
                except Exception as e:
                    results[i] = e
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results


@pytest.mark.parametrize("mode", [RoutingSettings.Mode.AUTO_ASSIGN, RoutingSettings.Mode.OFFER])
def test_200_simultaneous_handoffs_onto_10_agents(mode):
    _mode(mode)
    agents = [UserFactory(username=f"agent-{i}") for i in range(10)]
    for user in agents:
        make_online(user, capacity=5)
    customers = CustomerFactory.create_batch(200)
    results = _fire([lambda c=c: conversation_services.customer_request_handoff(customer=c) for c in customers])
    assert all(isinstance(r, Conversation) for r in results), [r for r in results if not isinstance(r, Conversation)]

    _assert_counters_match_the_rows()
    placed = RoutingDecision.objects.filter(kind__in=["assigned", "offered"])
    assert placed.count() == 50  # every slot filled exactly once: none lost, none doubled
    assert placed.values("conversation").distinct().count() == 50
    if mode == RoutingSettings.Mode.AUTO_ASSIGN:
        assert Conversation.objects.filter(status=Status.ASSIGNED).count() == 50
        assert Message.objects.filter(body__endswith="joined the conversation.").count() == 50
    else:
        assert Offer.objects.filter(state=Offer.State.OPEN).count() == 50
    assert Conversation.objects.filter(status=Status.PENDING_HANDOFF).count() == 200 - (
        50 if mode == RoutingSettings.Mode.AUTO_ASSIGN else 0
    )
    # Fair: every agent got exactly their capacity.
    assert (
        sorted(AgentProfile.objects.values_list("active_count", "offered_count"))
        == [(5, 0) if mode == RoutingSettings.Mode.AUTO_ASSIGN else (0, 5)] * 10
    )

    if mode == RoutingSettings.Mode.AUTO_ASSIGN:
        # Capacity frees up everywhere at once: the queue refills every slot, once.
        first = list(Conversation.objects.filter(status=Status.ASSIGNED).select_related("assigned_agent"))
        results = _fire(
            [
                lambda c=c: conversation_services.conversation_resolve(conversation_id=c.pk, agent=c.assigned_agent)
                for c in first
            ]
        )
        assert all(isinstance(r, Conversation) for r in results), results
        _assert_counters_match_the_rows()
        assert Conversation.objects.filter(status=Status.ASSIGNED).count() == 50
        assert Conversation.objects.filter(status=Status.PENDING_HANDOFF).count() == 100


@pytest.mark.parametrize("round_", range(3))
def test_two_agents_accepting_the_same_offer_exactly_one_wins(round_):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    make_online(alice)
    make_online(bob, capacity=1)
    conversation = ConversationFactory(pending=True)
    services.route()
    assert Offer.objects.filter(conversation=conversation, state=Offer.State.OPEN).count() == 1
    results = _race(
        [
            lambda: services.conversation_take(conversation_id=conversation.pk, agent=alice),
            lambda: services.conversation_take(conversation_id=conversation.pk, agent=bob),
        ]
    )
    winners = [r for r in results if isinstance(r, Conversation)]
    losers = [r for r in results if isinstance(r, conversation_services.ConversationAlreadyTaken)]
    assert len(winners) == 1 and len(losers) == 1, results
    conversation.refresh_from_db()
    assert conversation.assigned_agent_id == winners[0].assigned_agent_id
    assert RoutingDecision.objects.filter(conversation=conversation, kind="assigned").count() == 1
    assert not Offer.objects.filter(state=Offer.State.OPEN).exists()
    _assert_counters_match_the_rows()


@pytest.mark.parametrize("round_", range(5))
def test_an_agent_going_offline_while_an_offer_is_being_made(round_):
    alice = UserFactory(username="alice")
    make_online(alice)
    conversations = ConversationFactory.create_batch(3, pending=True)
    results = _race(
        [
            services.route,
            lambda: services.presence_set(user=alice, status=AgentProfile.Presence.OFFLINE, now=_now()),
        ]
    )
    assert not any(isinstance(r, Exception) for r in results), results
    # Whatever the order, no offer is left open to an agent who is offline.
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.OFFLINE
    assert not Offer.objects.filter(state=Offer.State.OPEN).exists()
    _assert_counters_match_the_rows()
    assert Conversation.objects.filter(pk__in=[c.pk for c in conversations], status=Status.PENDING_HANDOFF).count() == 3


@pytest.mark.parametrize("round_", range(3))
def test_resolve_racing_a_new_assignment_keeps_capacity_and_loses_nothing(round_):
    _mode(RoutingSettings.Mode.AUTO_ASSIGN)
    alice = UserFactory(username="alice")
    make_online(alice, capacity=1)
    current = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=current.pk, agent=alice)
    queued = ConversationFactory(pending=True)
    newcomer = CustomerFactory()
    results = _race(
        [
            lambda: conversation_services.conversation_resolve(conversation_id=current.pk, agent=alice),
            lambda: conversation_services.customer_request_handoff(customer=newcomer),
            lambda: services.conversation_take(conversation_id=queued.pk, agent=alice),
        ]
    )
    assert all(
        isinstance(r, Conversation | services.AgentAtCapacity | conversation_services.ConversationAlreadyTaken)
        for r in results
    ), results
    _assert_counters_match_the_rows()
    mine = Conversation.objects.filter(status=Status.ASSIGNED, assigned_agent=alice)
    assert mine.count() == 1  # the freed slot is filled, once
    waiting = Conversation.objects.filter(status=Status.PENDING_HANDOFF)
    assert waiting.count() == 1  # the other one waits for the next free slot


def test_a_request_made_while_another_process_routes_is_served_by_that_router(monkeypatch):
    """PostgreSQL: one router at a time; a request that finds the router busy only
    counts itself, and the router routes again for it. SQLite (one writer at a
    time): every request routes at once."""
    _mode(RoutingSettings.Mode.AUTO_ASSIGN)
    alice = UserFactory(username="alice")
    make_online(alice, capacity=5)
    if connection.vendor != "postgresql":
        conversation = conversation_services.customer_request_handoff(customer=CustomerFactory())
        conversation.refresh_from_db()
        assert conversation.assigned_agent == alice
        return

    routing, counted, rounds = threading.Event(), threading.Event(), []
    real_route = services.route

    def route(**kwargs):
        rounds.append(threading.current_thread().name)
        if len(rounds) == 1:  # the router's first round is under way
            routing.set()
            assert counted.wait(timeout=30)
        return real_route(**kwargs)

    monkeypatch.setattr(routing_router, "route", route)

    def router():
        try:
            services.routing_request()
        finally:
            connection.close()

    thread = threading.Thread(target=router, name="router")
    thread.start()
    assert routing.wait(timeout=30)
    conversation = conversation_services.customer_request_handoff(customer=CustomerFactory())
    counted.set()  # this request found the lock taken and returned without routing
    thread.join(timeout=60)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == alice
    assert set(rounds) == {"router"} and len(rounds) == 2  # the router routed again, for it


def test_a_router_that_has_routed_long_enough_leaves_the_rest_to_a_task(monkeypatch):
    _mode(RoutingSettings.Mode.AUTO_ASSIGN)
    alice = UserFactory(username="alice")
    make_online(alice, capacity=5)
    queued = []
    monkeypatch.setattr(routing_router, "SERVE_S", 0.0)
    monkeypatch.setattr(routing_router, "task_enqueue", lambda func, **kwargs: queued.append(func))
    ConversationFactory(pending=True)
    services.routing_request()
    if connection.vendor == "postgresql":
        assert queued == ["routing.tasks.route"]  # time was up before the first round: a task routes
        assert Conversation.objects.filter(status=Status.PENDING_HANDOFF).count() == 1
        services.route()  # what the task does
    assert Conversation.objects.filter(status=Status.ASSIGNED, assigned_agent=alice).count() == 1


def _now():
    from django.utils import timezone

    return timezone.now()

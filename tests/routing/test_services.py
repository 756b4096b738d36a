from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from conversations import services as conversation_services
from conversations import signals
from conversations.models import Conversation, ConversationEvent
from knowledge.models import Entry
from routing import services
from routing.models import AgentProfile, Offer, PresenceLog, RoutingDecision, RoutingRule, RoutingSettings, Skill
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory, UserFactory
from tests.routing.conftest import NOW, make_online

Presence = AgentProfile.Presence
Kind = RoutingDecision.Kind


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _handoff(django_capture_on_commit_callbacks, customer=None, **fields) -> Conversation:
    """A real handoff through conversations, with routing's after-commit work run."""
    customer = customer or CustomerFactory(**fields)
    with django_capture_on_commit_callbacks(execute=True):
        conversation = conversation_services.customer_request_handoff(customer=customer)
    conversation.refresh_from_db()
    return conversation


def _profile(user) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


def test_a_profile_is_made_on_demand_offline_with_capacity_five(agent):
    profile = services.agent_profile_for(agent)
    assert (profile.presence, profile.capacity, profile.active_count) == (Presence.OFFLINE, 5, 0)
    assert services.agent_profile_for(agent).pk == profile.pk


def test_the_database_refuses_more_active_conversations_than_capacity(agent):
    make_online(agent, capacity=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        AgentProfile.objects.filter(user=agent).update(active_count=2, offered_count=1)


def test_a_handoff_is_offered_to_the_online_agent_and_recorded(agent, other_agent, django_capture_on_commit_callbacks):
    make_online(agent)
    services.presence_set(user=other_agent, status=Presence.AWAY, now=NOW)
    conversation = _handoff(django_capture_on_commit_callbacks)
    offer = Offer.objects.get(conversation=conversation)
    assert (offer.agent, offer.state, offer.expires_at) == (agent, Offer.State.OPEN, NOW + timedelta(seconds=60))
    assert conversation.status == Conversation.Status.PENDING_HANDOFF
    assert (_profile(agent).offered_count, _profile(agent).active_count) == (1, 0)
    decision = RoutingDecision.objects.get(conversation=conversation, kind=Kind.OFFERED)
    assert decision.agent == agent
    assert [c["agent"] for c in decision.candidates] == [agent.pk]  # bob is away: not a candidate
    assert decision.candidates[0]["eligible"] is True
    event = ConversationEvent.objects.get(conversation=conversation, kind="routing.offered")
    assert "Alice" in event.text and event.data["decision"] == decision.pk


def test_auto_assign_picks_the_lowest_load_then_the_longest_idle(auto_assign, django_capture_on_commit_callbacks):
    busy, idle_long, idle_short = (UserFactory(username=n) for n in ("busy", "idlelong", "idleshort"))
    make_online(busy, capacity=2, last_assigned_at=NOW - timedelta(hours=3))
    make_online(idle_long, capacity=4, last_assigned_at=NOW - timedelta(hours=2))
    make_online(idle_short, capacity=4, last_assigned_at=NOW - timedelta(minutes=1))
    first = _handoff(django_capture_on_commit_callbacks)
    assert first.status == Conversation.Status.ASSIGNED
    assert first.assigned_agent == busy  # all at load 0: idle longest wins
    second = _handoff(django_capture_on_commit_callbacks)
    assert second.assigned_agent == idle_long  # busy is at 1/2 now
    third = _handoff(django_capture_on_commit_callbacks)
    assert third.assigned_agent == idle_short
    assert [_profile(u).active_count for u in (busy, idle_long, idle_short)] == [1, 1, 1]
    assert RoutingDecision.objects.filter(kind=Kind.ASSIGNED).count() == 3


def test_priority_comes_before_arrival_in_the_queue(auto_assign, agent, django_capture_on_commit_callbacks):
    early = _handoff(django_capture_on_commit_callbacks)
    late = _handoff(django_capture_on_commit_callbacks)
    Conversation.objects.filter(pk=late.pk).update(priority=Conversation.Priority.P1)  # set by an SLA rule
    make_online(agent, capacity=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.route()
    late.refresh_from_db()
    early.refresh_from_db()
    assert late.assigned_agent == agent
    assert early.status == Conversation.Status.PENDING_HANDOFF


def test_an_agent_at_capacity_gets_nothing_and_the_wait_is_recorded_once(
    auto_assign, agent, django_capture_on_commit_callbacks
):
    make_online(agent, capacity=1)
    taken = _handoff(django_capture_on_commit_callbacks)
    waiting = _handoff(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.route()
    assert taken.assigned_agent == agent
    assert waiting.status == Conversation.Status.PENDING_HANDOFF
    queued = RoutingDecision.objects.filter(conversation=waiting, kind=Kind.QUEUED)
    assert queued.count() == 1
    assert queued.get().candidates == [
        {"agent": agent.pk, "name": "Alice", "load": "1/1", "eligible": False, "why": "at capacity"}
    ]
    assert _profile(agent).active_count == 1


def test_resolving_frees_capacity_and_pulls_the_next_conversation(
    auto_assign, agent, django_capture_on_commit_callbacks
):
    make_online(agent, capacity=1)
    first = _handoff(django_capture_on_commit_callbacks)
    second = _handoff(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_services.conversation_resolve(conversation_id=first.pk, agent=agent)
    second.refresh_from_db()
    assert second.assigned_agent == agent
    assert _profile(agent).active_count == 1


def test_language_rule_requires_the_skill_and_relaxes_after_the_wait(
    auto_assign, agent, other_agent, django_capture_on_commit_callbacks, frozen
):
    rule = RoutingRule.objects.create(name="German", language="de")
    rule.skills.set([Skill.objects.create(name="de")])
    make_online(agent, capacity=1, skills=["de"])
    make_online(other_agent)
    german = _handoff(django_capture_on_commit_callbacks, language="de")
    assert german.assigned_agent == agent  # bob, though idle, lacks the skill
    waiting = _handoff(django_capture_on_commit_callbacks, language="de")
    assert waiting.status == Conversation.Status.PENDING_HANDOFF  # alice is full, bob lacks "de"
    assert RoutingDecision.objects.get(conversation=waiting, kind=Kind.QUEUED).candidates[1]["why"] == "missing skills"

    frozen.move_to(NOW + timedelta(seconds=119))
    for user in (agent, other_agent):  # their inboxes are open
        services.presence_heartbeat(user=user, now=NOW + timedelta(seconds=119))
    with django_capture_on_commit_callbacks(execute=True):
        services.tick(now=NOW + timedelta(seconds=119))
    waiting.refresh_from_db()
    assert waiting.status == Conversation.Status.PENDING_HANDOFF
    frozen.move_to(NOW + timedelta(seconds=120))
    with django_capture_on_commit_callbacks(execute=True):
        figures = services.tick(now=NOW + timedelta(seconds=120))
    waiting.refresh_from_db()
    assert figures["relaxed"] == 1
    assert waiting.assigned_agent == other_agent
    assert RoutingDecision.objects.filter(conversation=waiting, kind=Kind.RELAXED).count() == 1


def test_rules_match_the_questions_category_keywords_and_segment(db):
    billing, vip = Skill.objects.create(name="billing"), Skill.objects.create(name="vip")
    by_category = RoutingRule.objects.create(name="Billing questions", category="Billing")
    by_category.skills.set([billing])
    by_keyword = RoutingRule.objects.create(name="Refunds", keywords="refund, chargeback")
    by_keyword.skills.set([billing])
    by_segment = RoutingRule.objects.create(name="VIPs", segment="vip")
    by_segment.skills.set([vip])
    RoutingRule.objects.create(name="Off", segment="vip", is_active=False).skills.set([billing])
    Entry.objects.create(external_id="invoices", title="Invoices", body="...", category="billing")
    conversation = ConversationFactory(
        pending=True, customer=CustomerFactory(segment="vip"), handoff_sources=[{"id": "invoices", "title": "Invoices"}]
    )
    MessageFactory(conversation=conversation, body="I want a REFUND now")
    from routing.selectors import rules_matching

    assert {r.name for r in rules_matching(conversation=conversation)} == {"Billing questions", "Refunds", "VIPs"}
    state = services.routing_state_for(conversation=conversation)
    assert set(state.required_skills.values_list("name", flat=True)) == {"billing", "vip"}
    assert conversation.events.get(kind="routing.skills").data["skills"] == ["billing", "vip"]


def test_accepting_an_offer_assigns_and_moves_the_slot_from_offered_to_active(
    agent, django_capture_on_commit_callbacks
):
    make_online(agent)
    conversation = _handoff(django_capture_on_commit_callbacks)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent
    assert Offer.objects.get(conversation=conversation).state == Offer.State.ACCEPTED
    assert (_profile(agent).active_count, _profile(agent).offered_count) == (1, 0)
    assert RoutingDecision.objects.get(conversation=conversation, kind=Kind.ASSIGNED).reason == (
        "Alice accepted the offer"
    )


def test_pulling_a_conversation_offered_to_someone_else_withdraws_their_offer(
    agent, other_agent, django_capture_on_commit_callbacks
):
    make_online(agent)
    conversation = _handoff(django_capture_on_commit_callbacks)
    services.conversation_take(conversation_id=conversation.pk, agent=other_agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == other_agent
    assert Offer.objects.get(conversation=conversation).state == Offer.State.WITHDRAWN
    assert _profile(agent).offered_count == 0
    assert _profile(other_agent).active_count == 1


def test_pulling_by_hand_respects_capacity(agent):
    make_online(agent, capacity=1)
    first, second = ConversationFactory(pending=True), ConversationFactory(pending=True)
    services.conversation_take(conversation_id=first.pk, agent=agent)
    with pytest.raises(services.AgentAtCapacity):
        services.conversation_take(conversation_id=second.pk, agent=agent)
    second.refresh_from_db()
    assert second.status == Conversation.Status.PENDING_HANDOFF
    assert not second.messages.exists()
    assert _profile(agent).active_count == 1


def test_a_declined_offer_goes_to_the_next_agent(agent, other_agent, django_capture_on_commit_callbacks):
    make_online(agent, last_assigned_at=NOW - timedelta(hours=1))
    make_online(other_agent, last_assigned_at=NOW)
    conversation = _handoff(django_capture_on_commit_callbacks)
    first = Offer.objects.get(conversation=conversation)
    assert first.agent == agent
    with django_capture_on_commit_callbacks(execute=True):
        assert services.offer_decline(offer_id=first.pk, agent=agent, now=NOW) is True
    first.refresh_from_db()
    assert first.state == Offer.State.DECLINED
    assert Offer.objects.get(conversation=conversation, state=Offer.State.OPEN).agent == other_agent
    assert _profile(agent).offered_count == 0
    kinds = list(
        RoutingDecision.objects.filter(conversation=conversation).order_by("pk").values_list("kind", flat=True)
    )
    assert kinds == [Kind.OFFERED, Kind.DECLINED, Kind.OFFERED]


def test_only_the_offered_agent_can_decline(agent, other_agent, django_capture_on_commit_callbacks):
    from django.core.exceptions import PermissionDenied

    make_online(agent)
    conversation = _handoff(django_capture_on_commit_callbacks)
    offer = Offer.objects.get(conversation=conversation)
    with pytest.raises(PermissionDenied):
        services.offer_decline(offer_id=offer.pk, agent=other_agent, now=NOW)
    assert Offer.objects.get(pk=offer.pk).state == Offer.State.OPEN


def test_an_unanswered_offer_expires_and_goes_to_the_next_agent(
    agent, other_agent, django_capture_on_commit_callbacks, frozen
):
    make_online(agent, last_assigned_at=NOW - timedelta(hours=1))
    make_online(other_agent, last_assigned_at=NOW)
    conversation = _handoff(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.tick(now=NOW + timedelta(seconds=59))["expired"] == 0
    frozen.move_to(NOW + timedelta(seconds=60))
    services.presence_heartbeat(user=other_agent, now=NOW + timedelta(seconds=60))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.tick(now=NOW + timedelta(seconds=60))["expired"] == 1
    states = dict(Offer.objects.filter(conversation=conversation).values_list("agent__username", "state"))
    assert states == {"alice": Offer.State.EXPIRED, "bob": Offer.State.OPEN}
    assert _profile(agent).offered_count == 0
    assert conversation.events.filter(kind="routing.expired").count() == 1


def test_going_away_returns_open_offers_at_once_and_keeps_assigned_conversations(
    agent, other_agent, django_capture_on_commit_callbacks
):
    make_online(agent, capacity=2)
    kept = _handoff(django_capture_on_commit_callbacks)
    services.conversation_take(conversation_id=kept.pk, agent=agent)
    offered = _handoff(django_capture_on_commit_callbacks)
    assert Offer.objects.get(conversation=offered, state=Offer.State.OPEN).agent == agent
    make_online(other_agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.presence_set(user=agent, status=Presence.AWAY, now=NOW)
    kept.refresh_from_db()
    assert kept.assigned_agent == agent
    assert Offer.objects.get(conversation=offered, agent=agent).state == Offer.State.WITHDRAWN
    assert Offer.objects.get(conversation=offered, state=Offer.State.OPEN).agent == other_agent
    assert (_profile(agent).active_count, _profile(agent).offered_count) == (1, 0)


def test_requeue_on_offline_puts_assigned_conversations_back(
    auto_assign, agent, other_agent, django_capture_on_commit_callbacks
):
    auto_assign.requeue_on_offline = True
    auto_assign.save()
    make_online(agent)
    conversation = _handoff(django_capture_on_commit_callbacks)
    assert conversation.assigned_agent == agent
    make_online(other_agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.presence_set(user=agent, status=Presence.OFFLINE, now=NOW)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == other_agent
    assert _profile(agent).active_count == 0
    assert RoutingDecision.objects.filter(conversation=conversation, kind=Kind.REQUEUED).count() == 1


def test_presence_intervals_are_logged_one_open_at_a_time(agent):
    services.presence_set(user=agent, status=Presence.ONLINE, now=NOW)
    services.presence_set(user=agent, status=Presence.AWAY, now=NOW + timedelta(minutes=5))
    assert services.presence_set(user=agent, status=Presence.AWAY, now=NOW + timedelta(minutes=6)) is False
    logs = list(PresenceLog.objects.filter(agent=agent).order_by("started_at").values_list("status", "ended_at"))
    assert logs == [(Presence.ONLINE, NOW + timedelta(minutes=5)), (Presence.AWAY, None)]


def test_silent_agents_go_offline_after_the_grace_period_but_a_heartbeat_keeps_them(agent, other_agent, routing_config):
    make_online(agent)
    make_online(other_agent)
    services.presence_heartbeat(user=other_agent, now=NOW + timedelta(seconds=30))
    assert services.presence_sweep(now=NOW + timedelta(seconds=59), settings=routing_config) == 0
    assert services.presence_sweep(now=NOW + timedelta(seconds=61), settings=routing_config) == 1
    assert _profile(agent).presence == Presence.OFFLINE
    assert _profile(agent).presence_manual is False
    assert _profile(other_agent).presence == Presence.ONLINE


def test_a_heartbeat_after_the_sweep_read_keeps_the_agent_online(agent, routing_config):
    make_online(agent)
    services.presence_heartbeat(user=agent, now=NOW + timedelta(seconds=70))
    # The sweep decided from an older read: the conditional update refuses.
    assert not services.presence_set(
        user=agent,
        status=Presence.OFFLINE,
        now=NOW + timedelta(seconds=61),
        manual=False,
        stale_before=NOW + timedelta(seconds=1),
    )
    assert _profile(agent).presence == Presence.ONLINE


def test_transfer_to_an_agent_moves_the_conversation_and_its_slot(
    agent, other_agent, django_capture_on_commit_callbacks
):
    make_online(agent)
    make_online(other_agent)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    before = list(conversation.events.values_list("pk", flat=True))
    services.conversation_transfer(
        conversation_id=conversation.pk, by=agent, to_agent=other_agent, note="Needs a refund", now=NOW
    )
    conversation.refresh_from_db()
    assert conversation.assigned_agent == other_agent
    assert (_profile(agent).active_count, _profile(other_agent).active_count) == (0, 1)
    # One timeline line for the transfer; the assignment it made is a decision without one.
    [event] = conversation.events.exclude(pk__in=before)
    assert (event.kind, event.text) == ("routing.transferred", "Transferred by Alice to Bob: Needs a refund")
    assert event.actor == agent
    assert list(conversation.routing_decisions.values_list("kind", flat=True).order_by("pk")) == [
        Kind.ASSIGNED,
        Kind.TRANSFERRED,
        Kind.ASSIGNED,
    ]


def _taken_by(agent, *others) -> Conversation:
    """A conversation ``agent`` has taken, with ``others`` online to receive it."""
    for user in (agent, *others):
        make_online(user)
    conversation = ConversationFactory(pending=True, customer=CustomerFactory(name="Anna"))
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    return conversation


def test_an_admin_transferring_says_from_whom_in_the_one_line(agent, other_agent, admin_user):
    conversation = _taken_by(agent, other_agent)
    services.conversation_transfer(
        conversation_id=conversation.pk, by=admin_user, to_agent=other_agent, note="", now=NOW
    )
    [event] = conversation.events.filter(kind__startswith="routing.", actor=admin_user)
    assert event.text == "Transferred by Ada from Alice to Bob"
    assert conversation.events.count() == 2  # Alice taking it, and the transfer


def test_the_receiving_agent_hears_of_a_transfer_after_commit_only(
    agent, other_agent, django_capture_on_commit_callbacks, layer_listener
):
    conversation = _taken_by(agent, other_agent)
    channels = layer_listener.listen(f"agent.{other_agent.pk}", f"agent.{agent.pk}")
    # A second listener of the receiving agent's group for the check before commit:
    # nothing_for must be a channel's last use (the pub/sub layer unsubscribes it).
    early = layer_listener.listen(f"agent.{other_agent.pk}")[f"agent.{other_agent.pk}"]
    with django_capture_on_commit_callbacks() as callbacks:
        services.conversation_transfer(
            conversation_id=conversation.pk, by=agent, to_agent=other_agent, note="Needs a refund", now=NOW
        )
        assert layer_listener.nothing_for(early, 0.2)  # not committed yet
    for callback in callbacks:
        callback()
    [event] = layer_listener.receive(channels[f"agent.{other_agent.pk}"], 1)
    assert event == {
        "type": "routing.transferred",
        "transfer": {"conversation": conversation.pk, "customer": "Anna", "by": "Alice", "note": "Needs a refund"},
    }
    assert layer_listener.nothing_for(channels[f"agent.{agent.pk}"], 0.2)


def test_a_transfer_rolled_back_tells_nobody(agent, other_agent, django_capture_on_commit_callbacks, layer_listener):
    conversation = _taken_by(agent, other_agent)
    channel = layer_listener.listen(f"agent.{other_agent.pk}")[f"agent.{other_agent.pk}"]
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.conversation_transfer(
            conversation_id=conversation.pk, by=agent, to_agent=other_agent, note="", now=NOW
        )
        raise RuntimeError("a later step of the same transaction failed")
    assert layer_listener.nothing_for(channel, 0.3)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent
    assert not conversation.events.filter(kind="routing.transferred").exists()


def test_a_failed_broadcast_does_not_fail_the_transfer(
    agent, other_agent, django_capture_on_commit_callbacks, monkeypatch
):
    conversation = _taken_by(agent, other_agent)

    def layer_down(messages):
        raise ConnectionError("channel layer down")

    monkeypatch.setattr("conversations.broadcast._send_many", layer_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.conversation_transfer(
            conversation_id=conversation.pk, by=agent, to_agent=other_agent, note="", now=NOW
        )
    assert callbacks  # the broadcasts were tried, and raised
    conversation.refresh_from_db()
    assert conversation.assigned_agent == other_agent
    assert conversation.events.filter(kind="routing.transferred").count() == 1


def test_transfer_to_a_full_agent_is_refused_and_changes_nothing(agent, other_agent):
    make_online(agent)
    make_online(other_agent, capacity=1)
    mine, theirs = ConversationFactory(pending=True), ConversationFactory(pending=True)
    services.conversation_take(conversation_id=mine.pk, agent=agent)
    services.conversation_take(conversation_id=theirs.pk, agent=other_agent)
    with pytest.raises(services.AgentAtCapacity):
        services.conversation_transfer(conversation_id=mine.pk, by=agent, to_agent=other_agent, note="", now=NOW)
    mine.refresh_from_db()
    assert mine.assigned_agent == agent
    assert (_profile(agent).active_count, _profile(other_agent).active_count) == (1, 1)


@pytest.mark.parametrize("presence", [Presence.AWAY, Presence.OFFLINE])
def test_transfer_to_an_agent_who_is_not_online_is_refused_and_changes_nothing(agent, other_agent, presence):
    make_online(agent)
    make_online(other_agent)
    services.presence_set(user=other_agent, status=presence, now=NOW)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    with pytest.raises(ValidationError, match=f"Bob is {presence}: transfer to someone online"):
        services.conversation_transfer(
            conversation_id=conversation.pk, by=agent, to_agent=other_agent, note="", now=NOW
        )
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent
    assert (_profile(agent).active_count, _profile(other_agent).active_count) == (1, 0)
    assert not conversation.events.filter(kind="routing.transferred").exists()


def test_only_the_handling_agent_or_an_admin_can_transfer(agent, other_agent, admin_user):
    from django.core.exceptions import PermissionDenied

    make_online(agent)
    make_online(other_agent)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    with pytest.raises(PermissionDenied):
        services.conversation_transfer(
            conversation_id=conversation.pk, by=other_agent, to_agent=other_agent, note="", now=NOW
        )
    services.conversation_transfer(
        conversation_id=conversation.pk, by=admin_user, to_agent=other_agent, note="", now=NOW
    )
    conversation.refresh_from_db()
    assert conversation.assigned_agent == other_agent


def test_transfer_to_a_skill_group_requeues_it_for_that_skill(agent, other_agent, django_capture_on_commit_callbacks):
    make_online(agent)
    make_online(other_agent, skills=["technical"])
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_transfer(
            conversation_id=conversation.pk, by=agent, to_skill=Skill.objects.get(name="technical"), note="", now=NOW
        )
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING_HANDOFF
    assert Offer.objects.get(conversation=conversation, state=Offer.State.OPEN).agent == other_agent
    assert _profile(agent).active_count == 0
    assert "the technical team" in conversation.events.get(kind="routing.transferred").text


def test_resolving_a_pending_conversation_withdraws_its_offer(agent, admin_user, django_capture_on_commit_callbacks):
    make_online(agent)
    conversation = _handoff(django_capture_on_commit_callbacks)
    conversation_services.conversation_resolve(conversation_id=conversation.pk, agent=admin_user)
    assert Offer.objects.get(conversation=conversation).state == Offer.State.WITHDRAWN
    assert _profile(agent).offered_count == 0


def test_mode_setting_is_a_choice_of_offer_or_auto_assign(routing_config):
    assert routing_config.mode == RoutingSettings.Mode.OFFER
    assert set(RoutingSettings.Mode.values) == {"offer", "auto_assign"}


def test_routing_says_why_it_assigned_through_the_signal(agent, auto_assign, django_capture_on_commit_callbacks):
    make_online(agent)
    heard = []

    def listen(sender, *, reasons=None, **kwargs):
        heard.append(reasons)

    signals.conversations_assigned.connect(listen)
    try:
        conversation = _handoff(django_capture_on_commit_callbacks)
    finally:
        signals.conversations_assigned.disconnect(listen)
    assert conversation.assigned_agent == agent
    assert heard[0]["routed"] is True
    decision = RoutingDecision.objects.get(conversation=conversation, kind=Kind.ASSIGNED)
    assert decision.reason.startswith("Assigned to Alice: lowest load (0/5)")
    assert decision.reason == heard[0]["why"][conversation.pk][0]
    assert conversation.events.get(kind="routing.assigned").actor is None


def test_an_assignment_by_transfer_keeps_the_transfers_reason_and_actor(agent, other_agent):
    make_online(agent)
    make_online(other_agent)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    services.conversation_transfer(conversation_id=conversation.pk, by=agent, to_agent=other_agent, note="", now=NOW)
    assigned = RoutingDecision.objects.filter(conversation=conversation, kind=Kind.ASSIGNED).order_by("pk")
    assert [d.reason for d in assigned] == ["Alice took it from the queue", "Transferred by Alice to Bob"]
    assert conversation.events.filter(kind="routing.assigned").order_by("pk").last().actor == agent

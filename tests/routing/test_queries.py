"""Each hand-written statement of routing against its ORM twin, on the same data:
the same rows back, the same rows written."""

from datetime import timedelta

import pytest
from django.db import connection, transaction

from conversations.models import Conversation
from routing import queries, services
from routing.models import AgentProfile, Offer, RoutingState, Skill
from routing.services import router
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.routing.conftest import NOW, make_online

pytestmark = pytest.mark.django_db


def _loads() -> list[tuple]:
    return list(
        AgentProfile.objects.order_by("user_id").values_list(
            "user_id", "active_count", "offered_count", "last_assigned_at"
        )
    )


def _both(write, twin, read):
    """Run ``write`` and read what it left, roll it back, then the same for ``twin``."""
    with transaction.atomic():
        before = read()
        savepoint = transaction.savepoint()
        written = (write(), read())
        transaction.savepoint_rollback(savepoint)
        assert read() == before
        return written, (twin(), read())


def test_profiles_lock_reads_the_same_rows_in_user_id_order(agent, other_agent):
    make_online(other_agent, capacity=3)
    make_online(agent)
    nobody = UserFactory(username="no-profile")
    ids = [other_agent.pk, nobody.pk, agent.pk]
    with transaction.atomic():
        rows = queries.profiles_lock(user_ids=ids)
        assert rows == queries.profiles_lock_orm(user_ids=ids)
    assert [row[0] for row in rows] == sorted([agent.pk, other_agent.pk])
    assert rows[0][1:] == ("alice", "Alice", AgentProfile.Presence.ONLINE, 5, 0, 0)


@pytest.mark.parametrize("offered", [True, False])
def test_profiles_take_counts_the_same_slots(agent, other_agent, offered):
    make_online(agent)
    make_online(other_agent)
    need = {agent.pk: 2, other_agent.pk: 1}
    sql, orm = _both(
        lambda: queries.profiles_take(need=need, offered=offered, now=NOW),
        lambda: queries.profiles_take_orm(need=need, offered=offered, now=NOW),
        _loads,
    )
    assert sql == orm
    taken = (0, 2) if offered else (2, 0)
    assert sql[0] == 2 and sql[1][0][:3] == (agent.pk, *taken)
    assert sql[1][0][3] == (None if offered else NOW)


def test_profile_load_decrement_frees_one_and_never_goes_below_zero(agent, other_agent):
    make_online(agent)
    make_online(other_agent)
    AgentProfile.objects.filter(user=agent).update(active_count=1)

    def twice(decrement):
        return lambda: [decrement(user_id=agent.pk), decrement(user_id=agent.pk), decrement(user_id=other_agent.pk)]

    sql, orm = _both(twice(queries.profile_load_decrement), twice(queries.profile_load_decrement_orm), _loads)
    assert sql == orm
    assert sql[0] == [1, 0, 0]
    assert [row[1] for row in sql[1]] == [0, 0]


def test_the_router_lock_and_its_count_match_the_separate_statements(monkeypatch):
    if connection.vendor != "postgresql":
        # No advisory locks: a request routes in place, never through the lock.
        routed = []
        monkeypatch.setattr(queries, "router_take", lambda **kw: pytest.fail("SQLite took the router lock"))
        monkeypatch.setattr(router, "route", lambda **kw: routed.append(1) or 0)
        services.routing_request()
        assert routed == [1]
        return
    taken, count = queries.router_take(count=True)
    assert (taken, queries.router_release()) == (True, count)
    taken_orm, count_orm = queries.router_take_orm(count=True)
    assert (taken_orm, queries.router_release_orm()) == (True, count_orm)
    assert count_orm == count + 1
    assert queries.router_take(count=False) == (True, count_orm)
    assert queries.router_release() == count_orm
    assert queries.router_take_orm(count=False) == (True, count_orm)
    assert queries.router_release_orm() == count_orm


def test_queue_window_rows_read_the_same_queue_in_order(agent):
    later = ConversationFactory(pending=True, handed_off_at=NOW + timedelta(seconds=5))
    urgent = ConversationFactory(pending=True, handed_off_at=NOW + timedelta(seconds=9), priority=1)
    first = ConversationFactory(pending=True, handed_off_at=NOW)
    offered = ConversationFactory(pending=True, handed_off_at=NOW - timedelta(seconds=1))
    Offer.objects.create(conversation=offered, agent=agent, created_at=NOW, expires_at=NOW + timedelta(minutes=1))
    ConversationFactory()  # with the bot
    RoutingState.objects.create(conversation=later, skills_since=NOW, relaxed_at=NOW, queued_recorded=True)
    for limit in (10, 2):
        rows = queries.queue_window_rows(limit=limit)
        assert rows == queries.queue_window_rows_orm(limit=limit)
    assert queries.queue_window_rows(limit=10) == [
        (urgent.pk, None, None, None),
        (first.pk, None, None, None),
        (later.pk, later.pk, NOW, True),
    ]


def test_required_skills_rows_read_the_same_skills():
    one, two = ConversationFactory(pending=True), ConversationFactory(pending=True)
    billing, french = Skill.objects.create(name="billing"), Skill.objects.create(name="french")
    for conversation, skills in ((one, [billing, french]), (two, [french])):
        RoutingState.objects.create(conversation=conversation, skills_since=NOW).required_skills.set(skills)
    ids = [one.pk, two.pk]
    rows = sorted(queries.required_skills_rows(state_ids=ids))
    assert rows == sorted(queries.required_skills_rows_orm(state_ids=ids))
    assert rows == sorted(
        [(one.pk, billing.pk, "billing"), (one.pk, french.pk, "french"), (two.pk, french.pk, "french")]
    )
    assert queries.required_skills_rows(state_ids=[]) == queries.required_skills_rows_orm(state_ids=[]) == []


def test_open_offers_of_read_the_same_offers(agent, other_agent):
    one, two, three = (ConversationFactory(pending=True) for _ in range(3))
    expires = NOW + timedelta(minutes=1)
    open_ = Offer.objects.create(conversation=one, agent=agent, created_at=NOW, expires_at=expires)
    Offer.objects.create(
        conversation=one, agent=other_agent, created_at=NOW, expires_at=expires, state=Offer.State.DECLINED
    )
    Offer.objects.create(conversation=three, agent=other_agent, created_at=NOW, expires_at=expires)

    def read(offers):
        return sorted((o.pk, o.agent_id, o.conversation_id) for o in offers)

    ids = [one.pk, two.pk]
    assert read(queries.open_offers_of(conversation_ids=ids)) == read(queries.open_offers_of_orm(conversation_ids=ids))
    assert read(queries.open_offers_of(conversation_ids=ids)) == [(open_.pk, agent.pk, one.pk)]


def test_online_candidate_rows_and_their_skills_read_the_same(agent, other_agent):
    make_online(agent, capacity=3, skills=["billing", "french"], last_assigned_at=NOW)
    make_online(other_agent)
    gone = UserFactory(username="gone", is_active=False)
    make_online(gone)
    services.agent_profile_for(UserFactory(username="offline"))
    rows = queries.online_candidate_rows()
    assert rows == queries.online_candidate_rows_orm()
    assert [row[1:] for row in rows] == [
        (agent.pk, "alice", "Alice", 0, 0, 3, NOW),
        (other_agent.pk, "bob", "Bob", 0, 0, 5, None),
    ]
    profiles = [row[0] for row in rows]
    skills = sorted(queries.profile_skill_rows(profile_ids=profiles))
    assert skills == sorted(queries.profile_skill_rows_orm(profile_ids=profiles))
    assert [name for _p, name in ((p, Skill.objects.get(pk=s).name) for p, s in skills)] == ["billing", "french"]


def test_customer_message_bodies_read_the_same_messages_in_order(agent):
    one, two = ConversationFactory(), ConversationFactory()
    MessageFactory(conversation=one, seq=2, body="second")
    MessageFactory(conversation=one, seq=1, body="first")
    MessageFactory(conversation=one, seq=3, body="from the bot", sender="bot")
    MessageFactory(conversation=two, seq=1, body="other")
    ids = [two.pk, one.pk]
    rows = queries.customer_message_bodies(conversation_ids=ids)
    assert rows == queries.customer_message_bodies_orm(conversation_ids=ids)
    assert [body for _c, body in rows] == (
        ["first", "second", "other"] if one.pk < two.pk else ["other", "first", "second"]
    )


def test_routing_states_insert_writes_only_the_new_states():
    known, new = ConversationFactory(pending=True), ConversationFactory(pending=True)
    RoutingState.objects.create(conversation=known, skills_since=NOW - timedelta(minutes=1))
    states = {known.pk: NOW, new.pk: NOW}

    def read():
        return sorted(RoutingState.objects.values_list("pk", "skills_since", "relaxed_at", "queued_recorded"))

    sql, orm = _both(
        lambda: queries.routing_states_insert(states=states),
        lambda: queries.routing_states_insert_orm(states=states),
        read,
    )
    assert sql == orm
    assert sql[0] == {new.pk}
    assert sql[1] == sorted([(known.pk, NOW - timedelta(minutes=1), None, False), (new.pk, NOW, None, False)])
    assert Conversation.objects.filter(routing_state__isnull=False).count() == 2

"""Sweepers racing each other and agents, on real database connections in real threads."""

from datetime import timedelta

import pytest
import time_machine

from conversations import services as conversation_services
from sla import services
from sla.models import Breach, Notification, SLATimer
from tests.conversations.test_concurrency import _race
from tests.factories import UserFactory
from tests.sla.conftest import T0, handoff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("policy")]


@pytest.mark.parametrize("round_", range(3))
def test_two_sweeps_at_once_record_each_breach_and_notification_exactly_once(round_):
    admins = [UserFactory(username=f"admin{i}", is_staff=True) for i in range(2)]
    conversations = [handoff(at=T0 + timedelta(seconds=i), priority=1) for i in range(60)]
    now = T0 + timedelta(hours=2)  # both kinds of every conversation are past due
    results = _race([lambda: services.sla_sweep(now=now, batch=25) for _ in range(3)])
    assert all(isinstance(r, services.SweepResult) for r in results), results
    assert sum(r.breached for r in results) == 120
    assert Breach.objects.count() == 120
    assert Notification.objects.count() == 120 * len(admins)
    assert set(SLATimer.objects.values_list("state", flat=True)) == {SLATimer.State.BREACHED}
    for conversation in conversations:
        assert conversation.events.filter(kind="sla.breached").count() == 2


def test_a_sweep_racing_the_first_reply_records_the_breach_once():
    conversations = [handoff(priority=1) for _ in range(10)]
    agents = {}
    for i, conversation in enumerate(conversations):
        agents[conversation.pk] = UserFactory(username=f"agent{i}")
        conversation_services.conversation_accept(conversation_id=conversation.pk, agent=agents[conversation.pk])
    late = T0 + timedelta(minutes=6)

    def replies():
        with time_machine.travel(late, tick=False):
            for conversation in conversations:
                conversation_services.message_post_from_agent(
                    conversation_id=conversation.pk, agent=agents[conversation.pk], body="Sorry for the wait"
                )

    results = _race([replies, lambda: services.sla_sweep(now=late)])
    assert not any(isinstance(r, Exception) for r in results), results
    first = SLATimer.objects.filter(kind=SLATimer.Kind.FIRST_RESPONSE)
    assert set(first.values_list("state", flat=True)) == {SLATimer.State.BREACHED}
    assert Breach.objects.count() == 10
    assert not first.filter(stopped_at__isnull=True).exists()

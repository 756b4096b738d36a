"""Timers, the sweep, breaches and notifications, with time-machine as the clock."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from conversations import services as conversation_services
from conversations.models import ConversationEvent
from sla import services
from sla.models import DEFAULT_TARGETS, Breach, BusinessHours, Holiday, Notification, SLATimer
from tests.factories import UserFactory
from tests.sla.conftest import T0, handoff

State = SLATimer.State
Kind = SLATimer.Kind
pytestmark = pytest.mark.usefixtures("policy")


def _timer(conversation, kind=Kind.FIRST_RESPONSE) -> SLATimer:
    return SLATimer.objects.get(conversation=conversation, kind=kind)


def _sweep(at):
    with time_machine.travel(at, tick=False):
        return services.sla_sweep(now=at)


@pytest.mark.parametrize("priority", [1, 2, 3, 4])
def test_each_priority_runs_against_its_targets(priority):
    conversation = handoff(priority=priority)
    first_response, resolution = DEFAULT_TARGETS[priority]
    first = _timer(conversation)
    assert (first.state, first.priority, first.started_at) == (State.RUNNING, priority, T0)
    assert first.due_at == T0 + timedelta(seconds=first_response)
    assert first.at_risk_at == T0 + timedelta(seconds=first_response * 0.8)
    assert _timer(conversation, Kind.RESOLUTION).due_at == T0 + timedelta(seconds=resolution)
    assert conversation.events.filter(kind="sla.started").count() == 1


def test_a_timer_turns_at_risk_at_80_percent_and_not_before():
    conversation = handoff(priority=1)  # 5 min: at risk after 4 min
    assert _sweep(T0 + timedelta(seconds=239)).at_risk == 0
    assert _timer(conversation).state == State.RUNNING
    assert _sweep(T0 + timedelta(seconds=240)).at_risk == 1
    assert _timer(conversation).state == State.AT_RISK
    event = conversation.events.get(kind="sla.at_risk")
    assert event.created_at == T0 + timedelta(seconds=240)
    assert _sweep(T0 + timedelta(seconds=250)).at_risk == 0  # once


def test_a_breach_is_recorded_once_at_its_true_deadline_and_every_admin_is_notified(admin_user, agent):
    UserFactory(username="root", is_staff=True, email="root@example.com")
    conversation = handoff(priority=1)
    conversation_services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    assert _sweep(T0 + timedelta(seconds=299)).breached == 0
    result = _sweep(T0 + timedelta(seconds=303))
    assert result.breached == 1
    breach = Breach.objects.get()
    assert breach.deadline == T0 + timedelta(seconds=300)
    assert breach.detected_at == T0 + timedelta(seconds=303)
    assert (breach.kind, breach.priority, breach.target_seconds, breach.agent) == (Kind.FIRST_RESPONSE, 1, 300, agent)
    timer = _timer(conversation)
    assert (timer.state, timer.breached_at, timer.stopped_at) == (State.BREACHED, breach.deadline, None)
    assert sorted(Notification.objects.values_list("user__username", flat=True)) == ["admin", "root"]
    assert not Notification.objects.filter(user=agent).exists()
    assert conversation.events.get(kind="sla.breached").created_at == breach.deadline
    assert _sweep(T0 + timedelta(seconds=310)).breached == 0
    assert (Breach.objects.count(), Notification.objects.count()) == (1, 2)


def test_breach_email_goes_to_admins_only_when_enabled(admin_user, settings, django_capture_on_commit_callbacks):
    admin_user.email = "ada@example.com"
    admin_user.save()
    handoff(priority=1)
    with django_capture_on_commit_callbacks(execute=True):
        _sweep(T0 + timedelta(seconds=300))
    assert mail.outbox == []
    settings.BATON_SLA_BREACH_EMAIL = True
    handoff(priority=1)
    with django_capture_on_commit_callbacks(execute=True):
        _sweep(T0 + timedelta(seconds=300))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    assert "1 SLA breach" in mail.outbox[0].subject


def test_priority_change_mid_timer_recomputes_deadlines_from_the_original_start(agent):
    conversation = handoff(priority=3)  # first response 1 h
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        assert conversation_services.conversation_priority_set(conversation=conversation, priority=1, actor=agent)
    timer = _timer(conversation)
    assert (timer.priority, timer.target_seconds, timer.started_at) == (1, 300, T0)
    assert timer.due_at == T0 + timedelta(minutes=5)  # already past: the next sweep breaches it
    event = conversation.events.get(kind="priority.changed")
    assert (event.actor, event.data["from"], event.data["to"]) == (agent, 3, 1)
    assert event.text == "Priority P3 → P1"
    assert _sweep(T0 + timedelta(minutes=10, seconds=1)).breached == 1
    assert Breach.objects.get().deadline == T0 + timedelta(minutes=5)


def test_lowering_priority_takes_an_at_risk_timer_back_to_running(agent):
    conversation = handoff(priority=1)
    _sweep(T0 + timedelta(minutes=4))
    assert _timer(conversation).state == State.AT_RISK
    with time_machine.travel(T0 + timedelta(minutes=4, seconds=30), tick=False):
        conversation_services.conversation_priority_set(conversation=conversation, priority=4, actor=agent)
    timer = _timer(conversation)
    assert (timer.state, timer.due_at) == (State.RUNNING, T0 + timedelta(hours=4))
    assert _sweep(T0 + timedelta(minutes=6)).breached == 0


def test_the_first_reply_stops_the_first_response_timer_as_met(agent):
    conversation = handoff(priority=2)
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        conversation_services.conversation_accept(conversation_id=conversation.pk, agent=agent)
        conversation_services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="Hi!")
    timer = _timer(conversation)
    assert (timer.state, timer.stopped_at) == (State.MET, T0 + timedelta(minutes=3))
    assert _timer(conversation, Kind.RESOLUTION).state == State.RUNNING
    assert _sweep(T0 + timedelta(hours=1)).breached == 0
    assert not Breach.objects.exists()


def test_a_late_first_reply_records_the_breach_itself_when_no_sweep_did(agent):
    conversation = handoff(priority=1)
    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        conversation_services.conversation_accept(conversation_id=conversation.pk, agent=agent)
        conversation_services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="Sorry!")
    timer = _timer(conversation)
    assert (timer.state, timer.stopped_at) == (State.BREACHED, T0 + timedelta(minutes=7))
    breach = Breach.objects.get()
    assert (breach.deadline, breach.agent) == (T0 + timedelta(minutes=5), agent)
    assert _sweep(T0 + timedelta(minutes=8)).breached == 0
    assert Breach.objects.count() == 1


def test_a_reply_after_the_sweep_found_the_breach_only_notes_when_it_stopped(agent):
    conversation = handoff(priority=1)
    _sweep(T0 + timedelta(minutes=6))
    with time_machine.travel(T0 + timedelta(minutes=9), tick=False):
        conversation_services.conversation_accept(conversation_id=conversation.pk, agent=agent)
        conversation_services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="Here")
    timer = _timer(conversation)
    assert (timer.state, timer.stopped_at) == (State.BREACHED, T0 + timedelta(minutes=9))
    assert Breach.objects.count() == 1


def test_resolving_stops_both_timers(agent):
    conversation = handoff(priority=3)
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        conversation_services.conversation_accept(conversation_id=conversation.pk, agent=agent)
        conversation_services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    assert {t.kind: t.state for t in SLATimer.objects.filter(conversation=conversation)} == {
        Kind.FIRST_RESPONSE: State.MET,
        Kind.RESOLUTION: State.MET,
    }


def test_business_hours_across_a_weekend_and_a_holiday(policy):
    policy.uses_business_hours = True
    policy.time_zone = "Europe/Berlin"
    policy.save()
    for day in range(5):
        BusinessHours.objects.create(policy=policy, weekday=day, start="09:00", end="17:00")
    Holiday.objects.create(policy=policy, date="2026-03-09", name="Staff day")
    friday_1630 = T0.replace(day=6, hour=15, minute=30)  # 16:30 in Berlin (UTC+1)
    conversation = handoff(at=friday_1630, priority=3)  # 1 business hour
    timer = _timer(conversation)
    # 30 min on Friday; Saturday, Sunday and the Monday holiday do not count.
    assert timer.due_at == T0.replace(day=10, hour=8, minute=30)  # Tuesday 09:30 Berlin
    assert timer.at_risk_at == T0.replace(day=10, hour=8, minute=18)
    assert _sweep(T0.replace(day=9, hour=15)).breached == 0
    assert _sweep(T0.replace(day=10, hour=8, minute=30)).breached == 1


def test_catch_up_after_ten_minutes_of_downtime_records_every_breach_once(admin_user):
    conversations = [handoff(at=T0 + timedelta(seconds=15 * i), priority=1) for i in range(20)]
    # Workers down from T0 + 4 min to T0 + 14 min: every first-response deadline
    # (T0 + 5:00 … T0 + 9:45) passes unseen.
    _sweep(T0 + timedelta(minutes=4))
    result = _sweep(T0 + timedelta(minutes=14))
    assert result.breached == 20
    deadlines = {b.conversation_id: b.deadline for b in Breach.objects.all()}
    assert deadlines == {c.pk: c.handed_off_at + timedelta(minutes=5) for c in conversations}
    assert Notification.objects.filter(user=admin_user).count() == 20
    assert _sweep(T0 + timedelta(minutes=14, seconds=1)).breached == 0
    assert Notification.objects.count() == 20


def test_a_sweep_that_dies_midway_rolls_back_and_the_next_records_each_breach_once(admin_user, monkeypatch):
    for i in range(5):
        handoff(at=T0 + timedelta(seconds=i), priority=1)
    real = conversation_services.timeline_record_many

    def worker_killed(**kwargs):
        raise SystemExit("worker killed mid-sweep")

    monkeypatch.setattr(conversation_services, "timeline_record_many", worker_killed)
    with pytest.raises(SystemExit):
        _sweep(T0 + timedelta(minutes=6))
    assert not Breach.objects.exists()
    assert not Notification.objects.exists()
    assert set(SLATimer.objects.filter(kind=Kind.FIRST_RESPONSE).values_list("state", flat=True)) == {State.RUNNING}
    monkeypatch.setattr(conversation_services, "timeline_record_many", real)
    assert _sweep(T0 + timedelta(minutes=6, seconds=1)).breached == 5
    assert Breach.objects.count() == 5
    assert Notification.objects.count() == 5
    assert ConversationEvent.objects.filter(kind="sla.breached").count() == 5


def test_a_catch_up_larger_than_a_batch_loops_until_done():
    for i in range(7):
        handoff(at=T0 + timedelta(seconds=i), priority=1)
    assert services.sla_sweep(now=T0 + timedelta(hours=2), batch=3).breached == 14  # both kinds


def test_marking_notifications_read(admin_user):
    for i in range(3):
        handoff(at=T0 + timedelta(seconds=i), priority=1)
    _sweep(T0 + timedelta(minutes=6))
    first = Notification.objects.order_by("pk").first()
    assert services.notifications_mark_read(user=admin_user, ids=[first.pk], now=T0) == 1
    assert Notification.objects.filter(read_at__isnull=True).count() == 2
    other = UserFactory(username="mallory", is_staff=True)
    assert services.notifications_mark_read(user=other, ids=[first.pk + 1], now=T0) == 0
    assert services.notifications_mark_read(user=admin_user, ids=None, now=T0) == 2


def test_no_default_policy_means_no_timers(policy):
    policy.is_default = False
    policy.save()
    conversation = handoff(priority=1)
    assert not SLATimer.objects.filter(conversation=conversation).exists()

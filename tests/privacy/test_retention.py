"""BATON_RETENTION_DAYS: resolved conversations older than that go, daily, in batches."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_q.models import Schedule

from conversations import services as conversation_services
from conversations.models import Attachment, Conversation, ConversationEvent, Customer, Message
from privacy import services, tasks
from sla.models import Breach, SLATimer
from tests.analytics.scenario import standard_policy
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory
from tests.uploads import pdf_bytes, upload

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _conversation(*, resolved_days_ago=None, created_days_ago=100, customer=None):
    with time_machine.travel(NOW - timedelta(days=created_days_ago), tick=False):
        conversation = ConversationFactory(customer=customer or CustomerFactory())
        MessageFactory(conversation=conversation, seq=1)
        ConversationEvent.objects.create(conversation=conversation, kind="priority.changed", text="P3", created_at=NOW)
    if resolved_days_ago is not None:
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.Status.RESOLVED, resolved_at=NOW - timedelta(days=resolved_days_ago)
        )
    return conversation


def test_it_deletes_only_conversations_resolved_before_the_cutoff_in_batches():
    old = [_conversation(resolved_days_ago=31) for _ in range(5)]
    kept_recent = _conversation(resolved_days_ago=29)
    kept_open = _conversation()  # open for 100 days: not resolved, never purged
    timer = SLATimer.objects.create(
        conversation=old[0],
        kind=SLATimer.Kind.FIRST_RESPONSE,
        policy=standard_policy(),
        priority=3,
        target_seconds=60,
        started_at=NOW - timedelta(days=40),
        at_risk_at=NOW - timedelta(days=40),
        due_at=NOW - timedelta(days=40),
        state=SLATimer.State.BREACHED,
        breached_at=NOW - timedelta(days=40),
    )
    Breach.objects.create(
        timer=timer,
        conversation=old[0],
        kind=timer.kind,
        priority=3,
        policy=timer.policy,
        target_seconds=60,
        deadline=timer.due_at,
        detected_at=timer.due_at,
    )
    assert services.conversations_purge(now=NOW, days=30, batch=2) == 5
    assert set(Conversation.objects.values_list("pk", flat=True)) == {kept_recent.pk, kept_open.pk}
    assert set(Message.objects.values_list("conversation", flat=True)) == {kept_recent.pk, kept_open.pk}
    assert set(ConversationEvent.objects.values_list("conversation", flat=True)) == {kept_recent.pk, kept_open.pk}
    assert not SLATimer.objects.exists() and not Breach.objects.exists()
    # Their customers have nothing left and go too; the others stay.
    assert set(Customer.objects.all()) == {kept_recent.customer, kept_open.customer}


def test_a_customer_with_a_newer_conversation_stays():
    customer = CustomerFactory()
    _conversation(resolved_days_ago=60, customer=customer)
    _conversation(resolved_days_ago=1, customer=customer)
    assert services.conversations_purge(now=NOW, days=30) == 1
    assert Customer.objects.get() == customer


def test_zero_days_keeps_everything(settings):
    _conversation(resolved_days_ago=3650)
    settings.BATON_RETENTION_DAYS = 0
    assert tasks.retention_sweep() == 0
    assert Conversation.objects.count() == 1


def test_the_daily_task_uses_the_setting_and_the_clock(settings):
    _conversation(resolved_days_ago=8)
    _conversation(resolved_days_ago=6)
    settings.BATON_RETENTION_DAYS = 7
    with time_machine.travel(NOW, tick=False):
        assert tasks.retention_sweep() == 1
    assert Conversation.objects.count() == 1


def test_migrate_schedules_it_daily():
    schedule = Schedule.objects.get(name=tasks.SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "privacy.tasks.retention_sweep",
        Schedule.DAILY,
        -1,
    )


def test_the_setting_is_parsed_strictly(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from core.env import envint

    monkeypatch.setenv("BATON_RETENTION_DAYS", "thirty")
    with pytest.raises(ImproperlyConfigured, match="BATON_RETENTION_DAYS"):
        envint("BATON_RETENTION_DAYS", 0, minimum=0)


def test_the_files_of_deleted_conversations_go_too(media, django_capture_on_commit_callbacks):
    old, recent = _conversation(resolved_days_ago=40), _conversation(resolved_days_ago=10)
    stored = {}
    for conversation in (old, recent):
        # Open again for a moment, to take the file (its one message is numbered 1).
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.Status.BOT, resolved_at=None, last_seq=1
        )
        message = conversation_services.message_post_file_from_customer(
            customer=conversation.customer, upload=upload("a.pdf", pdf_bytes()), caption="see"
        )
        stored[conversation.pk] = media / message.attachment.file.name
    Conversation.objects.filter(pk=old.pk).update(
        status=Conversation.Status.RESOLVED, resolved_at=NOW - timedelta(days=40)
    )
    Conversation.objects.filter(pk=recent.pk).update(
        status=Conversation.Status.RESOLVED, resolved_at=NOW - timedelta(days=10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.conversations_purge(now=NOW, days=30) == 1
    assert not stored[old.pk].exists()
    assert stored[recent.pk].exists()
    assert list(Attachment.objects.values_list("message__conversation_id", flat=True)) == [recent.pk]

"""Two ASGI processes and two django-q2 clusters on one database: the timers run
once (one leader), and breaches are detected within 5 s of their deadline (p99),
each recorded and notified exactly once."""

import time
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from bench.clients import percentile
from conversations import services as conversation_services
from conversations.models import Conversation
from sla.models import Breach, Notification, SLAPolicy, SLATarget
from tests.factories import ConversationFactory, UserFactory

TARGET_S = 3
HANDOFFS = 40


def test_two_servers_and_two_clusters_detect_each_breach_once_within_five_seconds(processes):
    policy = SLAPolicy.objects.create(name="Fast", is_default=True, is_active=True, uses_business_hours=False)
    for priority in (1, 2, 3, 4):
        SLATarget.objects.create(
            policy=policy, priority=priority, first_response_seconds=TARGET_S, resolution_seconds=3600
        )
    admins = UserFactory.create_batch(2, is_staff=True, is_superuser=True)
    for name in ("asgi-1", "asgi-2"):
        processes.asgi(name)
    for name in ("qcluster-1", "qcluster-2"):
        processes.qcluster(name)

    conversations = []
    for i in range(HANDOFFS):  # spread over 20 s: deadlines keep coming while the servers run
        conversation = ConversationFactory(priority=1 + i % 4)
        conversation_services.conversation_handoff(
            conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST
        )
        conversations.append(conversation.pk)
        time.sleep(0.5)  # the load's pace, not synchronisation
    deadline = time.monotonic() + 60
    while Breach.objects.filter(conversation_id__in=conversations).count() < HANDOFFS:
        assert time.monotonic() < deadline, "breaches not detected within 60 s"
        time.sleep(0.2)

    breaches = list(Breach.objects.filter(conversation_id__in=conversations))
    lags = [(b.detected_at - b.deadline).total_seconds() for b in breaches]
    assert len(breaches) == HANDOFFS
    assert min(lags) >= 0
    assert percentile(lags, 0.99) <= 5.0, sorted(lags)
    assert all(b.deadline > timezone.now() - timedelta(minutes=5) for b in breaches)
    # Each breach notified once to each admin, however many processes ran the sweep.
    per_admin = (
        Notification.objects.filter(kind=Notification.Kind.SLA_BREACH)
        .values("user_id", "breach_id")
        .annotate(n=Count("id"))
    )
    assert sorted({row["n"] for row in per_admin}) == [1]
    assert {row["user_id"] for row in per_admin} == {a.pk for a in admins}
    assert len(per_admin) == HANDOFFS * len(admins)

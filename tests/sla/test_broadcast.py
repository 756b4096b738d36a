"""What a sweep pushes through the real channel layer, and to whom."""

from datetime import timedelta

import pytest

from sla import services
from tests.sla.conftest import T0, handoff

pytestmark = pytest.mark.usefixtures("policy")


def test_a_breach_reaches_the_agents_pages_and_each_admin(
    admin_user, agent, django_capture_on_commit_callbacks, layer_listener
):
    conversation = handoff(priority=1)
    channels = layer_listener.listen("inbox", f"agent.{admin_user.pk}", f"agent.{agent.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_sweep(now=T0 + timedelta(minutes=6))

    events = {e["type"]: e for e in layer_listener.receive(channels["inbox"], 2)}
    [timer] = events["sla.changed"]["timers"]
    assert (timer["conversation"], timer["kind"], timer["state"]) == (conversation.pk, "first_response", "breached")
    assert timer["due_at"] == timer["breached_at"] == (T0 + timedelta(minutes=5)).isoformat()
    # Timeline entries a sweep records go out batched, to the inbox socket every agent page has.
    [entry] = events["conversation.timeline_batch"]["events"]
    assert (entry["conversation"], entry["kind"]) == (conversation.pk, "sla.breached")
    assert entry["created_at"] == (T0 + timedelta(minutes=5)).isoformat()

    [notification] = layer_listener.receive(channels[f"agent.{admin_user.pk}"], 1)
    assert notification["type"] == "notification.new"
    assert notification["unread"] == 1
    assert [n["url"] for n in notification["notifications"]] == [f"/inbox/c/{conversation.pk}/"]

    # Agents who are not admins get no breach notification.
    assert layer_listener.nothing_for(channels[f"agent.{agent.pk}"], 0.3)


def test_marking_read_tells_the_users_other_tabs(admin_user, django_capture_on_commit_callbacks, layer_listener):
    handoff(priority=1)
    services.sla_sweep(now=T0 + timedelta(minutes=6))
    channels = layer_listener.listen(f"agent.{admin_user.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        services.notifications_mark_read(user=admin_user, ids=None, now=T0)
    assert layer_listener.receive(channels[f"agent.{admin_user.pk}"], 1) == [{"type": "notification.read", "unread": 0}]


def test_a_mention_reaches_the_mentioned_agents_pages_with_their_unread_count(
    agent, other_agent, django_capture_on_commit_callbacks, layer_listener
):
    from conversations.services import note_add
    from tests.factories import ConversationFactory

    conversation = ConversationFactory()
    channels = layer_listener.listen(f"agent.{agent.pk}", f"agent.{other_agent.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        note_add(conversation_id=conversation.pk, author=agent, body="@bob please take this one")
    [event] = layer_listener.receive(channels[f"agent.{other_agent.pk}"], 1)
    assert event["type"] == "notification.new" and event["unread"] == 1
    [notification] = event["notifications"]
    assert notification["kind"] == "mention" and notification["conversation"] == conversation.pk
    assert notification["title"] == f"Alice mentioned you on conversation #{conversation.pk}"
    assert notification["url"] == f"/inbox/c/{conversation.pk}/"
    # The author is told nothing.
    assert layer_listener.nothing_for(channels[f"agent.{agent.pk}"], 0.2)

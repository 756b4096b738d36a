"""The SLA endpoints behind the countdowns, the priority pickers and the bell."""

from datetime import timedelta

import pytest
from django.test import Client

from sla import services
from sla.models import Notification
from tests.sla.conftest import T0, handoff

pytestmark = pytest.mark.usefixtures("policy")


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/sla/timers/"),
        ("get", "/notifications/"),
        ("post", "/notifications/read/"),
        ("post", "/inbox/c/1/priority/"),
    ],
)
def test_it_requires_login(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_timers_come_with_the_server_clock(agent_client):
    conversation = handoff(priority=1)
    response = agent_client.get(f"/sla/timers/?conversations={conversation.pk},x,999")
    data = response.json()
    assert "now" in data
    first = next(t for t in data["timers"] if t["kind"] == "first_response")
    assert first == {
        "id": first["id"],
        "conversation": conversation.pk,
        "kind": "first_response",
        "state": "running",
        "priority": 1,
        "target_seconds": 300,
        "started_at": T0.isoformat(),
        "at_risk_at": (T0 + timedelta(seconds=240)).isoformat(),
        "due_at": (T0 + timedelta(seconds=300)).isoformat(),
        "stopped_at": None,
        "breached_at": None,
    }


def test_an_agent_sets_the_priority(agent_client, agent):
    conversation = handoff(priority=3)
    response = agent_client.post(
        f"/inbox/c/{conversation.pk}/priority/", {"priority": "2"}, HTTP_ACCEPT="application/json"
    )
    assert response.json() == {"conversation": {"id": conversation.pk, "priority": 2}}
    conversation.refresh_from_db()
    assert conversation.priority == 2
    assert conversation.events.get(kind="priority.changed").actor == agent


@pytest.mark.parametrize("value", ["0", "5", "urgent", ""])
def test_a_bad_priority_is_refused(agent_client, value):
    conversation = handoff(priority=3)
    response = agent_client.post(
        f"/inbox/c/{conversation.pk}/priority/", {"priority": value}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_priority"
    conversation.refresh_from_db()
    assert conversation.priority == 3


def test_the_bell_lists_only_my_notifications_and_marks_them_read(admin_client, admin_user, agent_client):
    for i in range(2):
        handoff(at=T0 + timedelta(seconds=i), priority=1)
    services.sla_sweep(now=T0 + timedelta(minutes=6))
    data = admin_client.get("/notifications/").json()
    assert data["unread"] == 2
    assert all(n["title"].startswith("SLA breached: conversation #") for n in data["notifications"])
    assert agent_client.get("/notifications/").json() == {"unread": 0, "notifications": []}
    first = data["notifications"][0]["id"]
    assert agent_client.post("/notifications/read/", {"id": first}).json() == {"unread": 0}
    assert Notification.objects.get(pk=first).read_at is None
    assert admin_client.post("/notifications/read/", {"id": first}).json() == {"unread": 1}
    assert admin_client.post("/notifications/read/", {"all": "1"}).json() == {"unread": 0}


def test_the_pages_carry_the_bell_the_sla_column_and_the_priority_panel(agent_client):
    conversation = handoff(priority=2)
    inbox = agent_client.get("/inbox/?view=open").content.decode()
    assert 'data-testid="bell"' in inbox and "baton/sla.js" in inbox
    assert f'data-sla-conversation="{conversation.pk}"' in inbox
    page = agent_client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert f'data-priority-url="/inbox/c/{conversation.pk}/priority/"' in page
    assert 'data-priority="2"' in page

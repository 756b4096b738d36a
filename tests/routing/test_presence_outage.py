"""Presence through an outage (issue #13): heartbeats that stopped with Redis took
every agent offline, and coming back did not restore them."""

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.urls import reverse

from routing import selectors, services
from routing.models import AgentProfile
from tests.routing.conftest import NOW

Presence = AgentProfile.Presence


def _gone_silent(agent, status, *, for_):
    services.presence_set(user=agent, status=status, now=NOW)
    services.presence_heartbeat(user=agent, now=NOW)
    settings = selectors.routing_settings()
    swept_at = NOW + timedelta(seconds=settings.presence_grace_s + 1)
    assert services.presence_sweep(now=swept_at, settings=settings) == 1
    return swept_at + for_


@pytest.mark.parametrize("status", [Presence.ONLINE, Presence.AWAY])
def test_heartbeats_coming_back_soon_restore_the_presence_from_before(agent, status):
    back_at = _gone_silent(agent, status, for_=timedelta(seconds=30))
    assert AgentProfile.objects.get(user=agent).presence == Presence.OFFLINE
    services.presence_heartbeat(user=agent, now=back_at)
    assert AgentProfile.objects.get(user=agent).presence == status


def test_heartbeats_after_a_long_absence_leave_the_agent_offline(agent):
    back_at = _gone_silent(agent, Presence.ONLINE, for_=services.PRESENCE_RESTORE + timedelta(minutes=1))
    services.presence_heartbeat(user=agent, now=back_at)
    assert AgentProfile.objects.get(user=agent).presence == Presence.OFFLINE


def test_an_agent_who_went_offline_themselves_stays_offline(agent):
    services.presence_set(user=agent, status=Presence.OFFLINE, now=NOW, manual=True)
    services.presence_heartbeat(user=agent, now=NOW + timedelta(seconds=5))
    assert AgentProfile.objects.get(user=agent).presence == Presence.OFFLINE


def test_the_http_heartbeat_keeps_an_agent_whose_socket_is_down_present(agent, agent_client):
    services.presence_set(user=agent, status=Presence.ONLINE, now=NOW)
    response = agent_client.post(reverse("routing-heartbeat"))
    assert response.status_code == 204
    assert AgentProfile.objects.get(user=agent).last_heartbeat_at is not None


def test_the_http_heartbeat_needs_a_login(client):
    response = client.post(reverse("routing-heartbeat"))
    assert response.status_code == 302


def test_a_database_error_answers_json_503_with_retry_after(agent, agent_client, monkeypatch):
    def down(**kwargs):
        raise DatabaseError("connection to server failed")

    monkeypatch.setattr(services, "presence_heartbeat", down)
    agent_client.raise_request_exception = False
    response = agent_client.post(reverse("routing-heartbeat"), headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "unavailable"

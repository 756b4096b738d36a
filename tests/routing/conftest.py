"""Routing fixtures: agents online with a capacity and skills, and the settings row."""

from datetime import UTC, datetime

import pytest

from routing import services
from routing.models import AgentProfile, RoutingSettings, Skill
from routing.selectors import routing_settings

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def make_online(user, *, capacity=5, skills=(), now=NOW, last_assigned_at=None) -> AgentProfile:
    """An agent who is online now, with these skills (created by name as needed)."""
    profile = services.agent_profile_for(user)
    AgentProfile.objects.filter(pk=profile.pk).update(capacity=capacity, last_assigned_at=last_assigned_at)
    profile.skills.set([Skill.objects.get_or_create(name=name)[0] for name in skills])
    services.presence_set(user=user, status=AgentProfile.Presence.ONLINE, now=now)
    profile.refresh_from_db()
    return profile


@pytest.fixture
def routing_config(db) -> RoutingSettings:
    return routing_settings()


@pytest.fixture
def auto_assign(routing_config) -> RoutingSettings:
    routing_config.mode = RoutingSettings.Mode.AUTO_ASSIGN
    routing_config.save()
    return routing_config

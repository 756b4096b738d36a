"""What every agent page needs from routing: the agent's own presence."""

from django.http import HttpRequest

from routing.models import AgentProfile
from routing.selectors import routing_settings

# Heartbeats come at least this often, and at least three times per grace period.
HEARTBEAT_MAX_MS = 15_000


def routing(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    presence = AgentProfile.objects.filter(user=user).values_list("presence", flat=True).first()
    return {
        "routing_presence": presence or AgentProfile.Presence.OFFLINE,
        "routing_presence_choices": AgentProfile.Presence.choices,
        "routing_heartbeat_ms": min(HEARTBEAT_MAX_MS, max(500, routing_settings().presence_grace_s * 1000 // 3)),
    }

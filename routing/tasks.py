"""django-q2 entry points: thin wrappers over services."""

from django.utils import timezone

from routing import services


def tick() -> dict:
    """The scheduled backstop of the timers (every minute); the per-process ticker
    and inbox heartbeats give them their seconds-level precision."""
    return services.tick(now=timezone.now())


def route() -> None:
    """Routing taken over from a process that routed for others as long as it should."""
    services.routing_request()

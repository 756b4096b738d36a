"""django-q2 entry points: thin wrappers over services."""

from django.utils import timezone

from routing import services


def route() -> int:
    return services.route()


def route_handoff(conversation_id: int) -> None:
    services.route()
    services.queued_check(conversation_id=conversation_id, now=timezone.now())


def tick() -> dict:
    """The scheduled backstop of the timers (every minute); the per-process ticker
    and inbox heartbeats give them their seconds-level precision."""
    return services.tick(now=timezone.now())

"""django-q2 entry points: thin wrappers over services."""

from routing import services


def route() -> None:
    """Routing taken over from a process that routed for others as long as it should."""
    services.routing_request()

"""django-q2 entry points: thin wrappers over services."""

from conversations import services


def bot_turn(message_id: int) -> None:
    services.bot_turn(message_id=message_id)

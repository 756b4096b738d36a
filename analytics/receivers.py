"""analytics listens to the conversations app's hooks; each receiver calls a service."""

from analytics import services


def on_handed_off(sender, *, conversation, **kwargs) -> None:
    services.handoff_question_record(conversation=conversation)

"""The write paths of analytics: an admin's own reporting preferences, and the
handoff questions it keeps for the reports."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from analytics.models import HandoffQuestion, Preference
from conversations import services as conversation_services
from conversations.models import Conversation


@transaction.atomic
def preference_set(*, user: AbstractBaseUser, time_zone: str) -> Preference:
    """Set the time zone reports use for ``user``; ValidationError if it is not a zone."""
    preference = Preference.objects.select_for_update().filter(user=user).first() or Preference(user=user)
    preference.time_zone = time_zone.strip()
    preference.full_clean()
    preference.save()
    return preference


def question_normalise(body: str) -> str:
    """Questions that differ only in case and spacing count as one."""
    return " ".join(body.split()).lower()[:200]


@transaction.atomic(savepoint=False)
def handoff_question_record(*, conversation: Conversation) -> HandoffQuestion | None:
    """Keep the question the bot could not answer, if it handed off for that (once per conversation)."""
    message = conversation_services.handoff_question(conversation=conversation)
    if message is None:
        return None
    question = HandoffQuestion(
        conversation=conversation, text=question_normalise(message.body), handed_off_at=conversation.handed_off_at
    )
    question.full_clean(exclude=["conversation"])
    HandoffQuestion.objects.bulk_create([question], ignore_conflicts=True)
    return question

"""A conversation's priority, set by an agent or a priority rule."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations import broadcast, signals
from conversations.models import Conversation
from conversations.services.timeline import timeline_record

Status = Conversation.Status


@transaction.atomic
def conversation_priority_set(
    *, conversation: Conversation, priority: int, actor: AbstractBaseUser | None = None, rule: str = ""
) -> bool:
    """Change an open conversation's priority, by an agent (``actor``) or a priority
    rule (its name); recorded on the timeline. False if it already had that priority."""
    try:
        priority = Conversation.Priority(priority)
    except ValueError:
        raise ValidationError("Priority must be 1, 2, 3 or 4.", code="invalid_priority") from None
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if not locked.is_open:
        raise ValidationError("A resolved conversation's priority cannot change.", code="resolved")
    old = locked.priority
    if old == priority:
        return False
    updated = Conversation.objects.filter(pk=locked.pk, priority=old).update(
        priority=priority, updated_at=timezone.now(), version=F("version") + 1
    )
    if not updated:
        return False
    conversation.priority = priority
    # The timeline shows the actor beside the text; a rule is named in it.
    timeline_record(
        conversation=conversation,
        kind="priority.changed",
        text=f"Priority P{old} → P{priority.value}" + (f" by rule “{rule}”" if rule else ""),
        actor=actor,
        data={"from": old, "to": priority.value, "rule": rule},
    )
    signals.conversation_priority_changed.send(
        sender=Conversation, conversation=conversation, old=old, new=priority.value, actor=actor, rule=rule
    )
    locked.refresh_from_db()
    broadcast.notify_conversation(locked, event="priority_changed")
    if locked.status == Status.PENDING_HANDOFF:
        broadcast.notify_queue_positions()
    return True

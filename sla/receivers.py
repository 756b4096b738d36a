"""What the SLA app does when a conversation changes (hooks from conversations.signals).

Each receiver runs inside the conversation service's transaction and delegates to
a service here, so its writes commit or roll back with the change that caused them.
"""

from django.utils import timezone

from sla import services
from sla.models import SLATimer


def on_handed_off(sender, *, conversation, **kwargs):
    services.priority_rules_apply(conversation=conversation, now=timezone.now())
    services.timers_start(conversation=conversation, now=timezone.now())


def on_priority_changed(sender, *, conversation, new, **kwargs):
    services.timers_reprioritise(conversation=conversation, priority=new, now=timezone.now())


def on_agent_replied(sender, *, conversation, first_reply, **kwargs):
    if first_reply:
        services.timers_stop(conversation=conversation, kinds=[SLATimer.Kind.FIRST_RESPONSE], now=timezone.now())


def on_resolved(sender, *, conversation, **kwargs):
    # Resolved without any reply: nothing is owed any more, so first response stops too.
    services.timers_stop(conversation=conversation, kinds=list(SLATimer.Kind), now=timezone.now())


def on_note_added(sender, *, note, mentioned, **kwargs):
    services.mentions_notify(note=note, users=mentioned, now=timezone.now())

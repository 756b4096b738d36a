from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"

    def ready(self):
        from conversations import signals
        from helpdesk import config
        from sla import receivers, tasks
        from sla.models import BusinessHours, Holiday, PriorityRule, SLAPolicy, SLATarget

        config.clear_on_change(SLAPolicy, SLATarget, BusinessHours, Holiday, PriorityRule)

        signals.conversation_handed_off.connect(receivers.on_handed_off, dispatch_uid="sla.handed_off")
        signals.conversation_priority_changed.connect(receivers.on_priority_changed, dispatch_uid="sla.priority")
        signals.agent_replied.connect(receivers.on_agent_replied, dispatch_uid="sla.replied")
        signals.conversation_resolved.connect(receivers.on_resolved, dispatch_uid="sla.resolved")
        signals.inbox_connected.connect(receivers.on_inbox_connected, dispatch_uid="sla.ticker")
        post_migrate.connect(tasks.schedule_ensure, sender=self, dispatch_uid="sla.schedule")

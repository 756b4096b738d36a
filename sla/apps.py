from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"

    def ready(self):
        from conversations import signals
        from core import config, timers
        from sla import receivers, services
        from sla.models import BusinessHours, Holiday, PriorityRule, SLAPolicy, SLATarget

        config.clear_on_change(SLAPolicy, SLATarget, BusinessHours, Holiday, PriorityRule)

        signals.conversation_handed_off.connect(receivers.on_handed_off, dispatch_uid="sla.handed_off")
        signals.conversation_priority_changed.connect(receivers.on_priority_changed, dispatch_uid="sla.priority")
        signals.agent_replied.connect(receivers.on_agent_replied, dispatch_uid="sla.replied")
        signals.conversation_resolved.connect(receivers.on_resolved, dispatch_uid="sla.resolved")
        signals.note_added.connect(receivers.on_note_added, dispatch_uid="sla.mentions")
        timers.every("sla-sweep")(services.sla_sweep)

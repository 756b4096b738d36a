from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"

    def ready(self):
        from conversations import signals
        from conversations.consumers import inbox_frame_handler
        from core import config, timers
        from routing import receivers, services
        from routing.models import RoutingRule, RoutingSettings, Skill

        config.clear_on_change(RoutingSettings, RoutingRule, Skill)

        signals.conversation_handed_off.connect(receivers.on_handed_off, dispatch_uid="routing.handed_off")
        signals.conversations_assigned.connect(receivers.on_assigned, dispatch_uid="routing.assigned")
        signals.conversation_resolved.connect(receivers.on_resolved, dispatch_uid="routing.resolved")
        signals.inbox_connected.connect(receivers.on_inbox_connected, dispatch_uid="routing.inbox_connected")
        inbox_frame_handler("presence.heartbeat")(receivers.presence_heartbeat_frame)
        inbox_frame_handler("presence.set")(receivers.presence_set_frame)
        inbox_frame_handler("routing.decline")(receivers.offer_decline_frame)
        timers.every("routing")(services.tick)

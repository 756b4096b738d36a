from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self):
        from analytics import receivers
        from conversations import signals

        signals.conversation_handed_off.connect(receivers.on_handed_off, dispatch_uid="analytics.handed_off")

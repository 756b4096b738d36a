from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self):
        from conversations import services
        from helpdesk import timers

        timers.every("bot-turns", seconds=2)(services.bot_turns_recover)
        # The timers' backstop schedule: declared here, the lowest app, once for all.
        post_migrate.connect(timers.schedule_ensure, sender=self, dispatch_uid="helpdesk.timers.schedule")

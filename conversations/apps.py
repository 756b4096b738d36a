from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_migrate


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self):
        from conversations import services
        from conversations.models import EmbedSite
        from core import config, timers

        config.clear_on_change(EmbedSite)

        timers.every("bot-turns", seconds=2)(services.bot_turns_recover)
        # The timers' backstop schedule: declared here, the lowest app, once for all.
        post_migrate.connect(timers.schedule_ensure, sender=self, dispatch_uid="core.timers.schedule")
        user_logged_out.connect(_logged_out, dispatch_uid="conversations.sockets-close-on-logout")


def _logged_out(sender, request, user, **kwargs):
    """An agent who logs out stops receiving on the sockets that session opened."""
    from conversations import broadcast

    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        broadcast.session_ended(session_key=key)

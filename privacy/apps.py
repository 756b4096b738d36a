from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PrivacyConfig(AppConfig):
    """One customer's data out (export) or gone (erase), and the retention sweep.
    Sits above every app it reads; adds no tables."""

    name = "privacy"

    def ready(self):
        from privacy import tasks

        post_migrate.connect(tasks.schedule_ensure, sender=self, dispatch_uid="privacy.retention.schedule")

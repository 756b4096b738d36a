from django.apps import AppConfig


class CannedConfig(AppConfig):
    name = "canned"
    verbose_name = "Canned responses"

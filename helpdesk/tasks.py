"""Queueing work for the django-q2 cluster."""

from django.conf import settings
from django_q.tasks import async_task


def channel_layer_is_process_local() -> bool:
    return settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def task_enqueue(func: str, *args, task_name: str | None = None) -> None:
    """Queue ``func`` for the cluster; in embedded mode, run it here instead.

    A task that broadcasts must run where its channel layer reaches the browsers.
    With the in-memory layer (no REDIS_URL) that is only this process, so the
    task runs inline, after the commit that scheduled it.
    """
    options = {"task_name": task_name} if task_name else {}
    if channel_layer_is_process_local():
        options["sync"] = True
    async_task(func, *args, **options)

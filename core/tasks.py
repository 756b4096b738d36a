"""Queueing work for the django-q2 cluster."""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.tasks import async_task

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_broker = None
_local: ThreadPoolExecutor | None = None


def channel_layer_is_process_local() -> bool:
    return settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def _process_broker():
    """One broker (one Redis connection pool) per process: django-q2 makes a new
    one, and a new connection, for every ``async_task`` it is not given one."""
    global _broker
    with _lock:
        if _broker is None:
            _broker = get_broker()
        return _broker


def _local_executor() -> ThreadPoolExecutor:
    global _local
    with _lock:
        if _local is None:
            _local = ThreadPoolExecutor(max_workers=2, thread_name_prefix="baton-task")
        return _local


def _run_here(func: str, args: tuple) -> None:
    close_old_connections()
    try:
        import_string(func)(*args)
    except Exception:
        logger.exception("task %s failed", func)
    finally:
        close_old_connections()


def task_enqueue(func: str, *args, task_name: str | None = None) -> None:
    """Queue ``func`` for the cluster; in embedded mode, run it in this process.

    A task that broadcasts must run where its channel layer reaches the browsers.
    With the in-memory layer (no REDIS_URL) that is only this process: the task
    runs on a thread of this process's own, so the request that queued it does
    not wait for it (``BATON_Q_SYNC``: right here, after the commit, for tests).
    """
    if settings.Q_CLUSTER.get("sync"):
        async_task(func, *args, sync=True, **({"task_name": task_name} if task_name else {}))
    elif channel_layer_is_process_local():
        _local_executor().submit(_run_here, func, args)
    else:
        async_task(func, *args, broker=_process_broker(), **({"task_name": task_name} if task_name else {}))


def _forget_after_fork() -> None:
    # A forked child (django-q2's workers) must not share the parent's sockets or threads.
    global _broker, _local
    _broker = None
    _local = None


os.register_at_fork(after_in_child=_forget_after_fork)

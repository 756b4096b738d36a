"""Business configuration read on every handoff and edited rarely: routing and
priority rules, SLA targets, the routing settings.

Each process keeps what it read for ``BATON_CONFIG_CACHE_S`` seconds (the
database stays the only source). A change saved through the ORM in this process
(Django admin, a service, a test) clears it at once; other processes see the
change within those seconds. 0 turns the cache off.
"""

import threading
from collections.abc import Callable
from time import monotonic
from typing import TypeVar

from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save

T = TypeVar("T")

_lock = threading.Lock()
_values: dict[str, tuple[float, object]] = {}


def cached(key: str, load: Callable[[], T]) -> T:
    """``load()``'s value, read again once it is older than the cache's life."""
    now = monotonic()
    hit = _values.get(key)
    if hit is not None and now < hit[0]:
        return hit[1]
    value = load()
    if settings.BATON_CONFIG_CACHE_S > 0:
        with _lock:
            _values[key] = (now + settings.BATON_CONFIG_CACHE_S, value)
    return value


def clear(*args, **kwargs) -> None:
    """Forget everything cached (a receiver for any change to configuration)."""
    with _lock:
        _values.clear()


def clear_on_change(*models) -> None:
    """Clear the cache whenever a row of these models, or of their many-to-many
    tables, is saved or deleted in this process."""
    for model in models:
        uid = f"core.config.{model._meta.label}"
        post_save.connect(clear, sender=model, weak=False, dispatch_uid=f"{uid}.save")
        post_delete.connect(clear, sender=model, weak=False, dispatch_uid=f"{uid}.delete")
        for m2m in model._meta.local_many_to_many:
            m2m_changed.connect(clear, sender=m2m.remote_field.through, weak=False, dispatch_uid=f"{uid}.{m2m.name}")

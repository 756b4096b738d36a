"""The SLA sweep as django-q2 work, and the schedule that runs it (declared here,
created idempotently after every migrate: no admin step).

django-q2's scheduler looks at schedules only every 30 s, and a schedule's finest
period is a minute, so the scheduled task is a loop: it sweeps every
``SWEEP_TICK_SECONDS`` for ``LOOP_SECONDS``, a little longer than the period, and
the next run takes over through the lease (the old loop stops at its next tick).
Sweeps are idempotent, so the brief overlap at a handover is harmless. See docs/sla.md.
"""

import logging
import time
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone

from helpdesk.tasks import channel_layer_is_process_local
from sla import services

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "sla-sweep"
LEASE_NAME = "sla-sweep"
SWEEP_TICK_SECONDS = 1.0
# The schedule fires every 60 s (+ up to 30 s scheduler lag, constant per cluster);
# the loop outlives that, and django-q2 allows it TASK_TIMEOUT.
LOOP_SECONDS = 85
TASK_TIMEOUT = 95
# Embedded mode: the ASGI process's ticker sweeps (only it reaches the browsers);
# the cluster only sweeps up what is this late, in case no ASGI process is running.
BACKSTOP_GRACE = timedelta(seconds=30)


def sla_sweep_once() -> services.SweepResult:
    return services.sla_sweep(now=timezone.now())


def sla_sweep_loop(*, seconds: float = LOOP_SECONDS, tick: float = SWEEP_TICK_SECONDS) -> int:
    """Sweep every ``tick`` seconds until ``seconds`` pass or a newer loop takes over.
    Returns the number of sweeps run."""
    if channel_layer_is_process_local():
        services.sla_sweep(now=timezone.now(), grace=BACKSTOP_GRACE)
        return 1
    generation = services.sweep_lease_take(name=LEASE_NAME, now=timezone.now())
    end = time.monotonic() + seconds
    sweeps = 0
    next_tick = time.monotonic()
    while time.monotonic() < end and services.sweep_lease_held(name=LEASE_NAME, generation=generation):
        try:
            sla_sweep_once()
        except Exception:
            # A failed sweep rolled back; the next tick redoes its work (on a fresh
            # connection if this one broke, e.g. the database restarted).
            logger.exception("SLA sweep failed")
            close_old_connections()
        sweeps += 1
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.monotonic()))
    return sweeps


def schedule_ensure(**kwargs) -> None:
    """Create or update the django-q2 schedule (post_migrate: idempotent)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "sla.tasks.sla_sweep_loop",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "kwargs": repr({"q_options": {"timeout": TASK_TIMEOUT}}),
        },
    )

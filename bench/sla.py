"""SLA benchmark: sweep cost at 10,000 and 100,000 open timers, and detection lag
with the real django-q2 cluster running.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.sla --open 100000 --json

Use a scratch database: it adds customers "bench-sla-…" with one open
conversation and timer each, and removes them when it ends (and, after a run that
was cut short, when the next one starts): they wait in the queue, where another
benchmark's handoffs would find them.

1. Sweep cost. Open timers have deadlines hours away; for each measured sweep
   1 % of them are moved to cross a threshold right now (half turn at risk, half
   breach), then one ``sla_sweep(now=…)`` is timed, on-commit pushes included.
   Median of ``--repeats`` sweeps, at 10,000 and at ``--open`` timers.
2. Detection lag. Two uvicorn processes (one leads the timers, which sweep every
   second: core/timers.py) and ``manage.py qcluster`` start; once they
   answer, ``--lag`` timers get deadlines spread over the next ``--lag-window``
   seconds. Lag = the moment this process receives the breach's
   ``sla.changed`` push through Redis minus the deadline. ``missed``: timers past
   their deadline without a breach record at the end; ``duplicates``: breach
   records or notifications beyond one per timer (and admin).

The last line printed is one JSON object of figures.
"""

import argparse
import asyncio
import json
import os
import random
import threading
import time
from datetime import timedelta

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

PREFIX = "bench-sla-"
BATCH = 5000


def _cleanup():
    from django.db import connection

    bench = (
        "SELECT c.id FROM conversations_conversation c"
        " JOIN conversations_customer u ON u.id = c.customer_id WHERE u.external_id LIKE %s"
    )
    with connection.cursor() as cursor:
        for table in [
            "sla_notification",
            "sla_breach",
            "sla_slatimer",
            "conversations_conversationevent",
            "conversations_message",
            "routing_routingdecision",
            "routing_offer",
        ]:
            cursor.execute(f"DELETE FROM {table} WHERE conversation_id IN ({bench})", [PREFIX + "%"])
        # Routing states, and the skills they need, that a routing round gave these (pending) conversations.
        cursor.execute(
            f"DELETE FROM routing_routingstate_required_skills WHERE routingstate_id IN ({bench})", [PREFIX + "%"]
        )
        cursor.execute(f"DELETE FROM routing_routingstate WHERE conversation_id IN ({bench})", [PREFIX + "%"])
        cursor.execute(f"DELETE FROM conversations_conversation WHERE id IN ({bench})", [PREFIX + "%"])
        cursor.execute("DELETE FROM conversations_customer WHERE external_id LIKE %s", [PREFIX + "%"])


def _add_open_timers(n, *, start, now, policy, rng, far=True):
    """``n`` pending conversations with an open first-response timer each; deadlines
    1-24 h ahead (``far``), spread over the priorities."""
    from conversations.models import Conversation, Customer
    from sla.models import SLATimer

    made = 0
    while made < n:
        size = min(BATCH, n - made)
        customers = Customer.objects.bulk_create(
            [Customer(external_id=f"{PREFIX}{start + made + i}", name="Bench") for i in range(size)]
        )
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(
                    customer=c,
                    status=Conversation.Status.PENDING_HANDOFF,
                    priority=rng.randint(1, 4),
                    handed_off_at=now,
                )
                for c in customers
            ]
        )
        timers = []
        for c in conversations:
            due = now + timedelta(seconds=rng.uniform(3600, 24 * 3600))
            timers.append(
                SLATimer(
                    conversation=c,
                    kind=SLATimer.Kind.FIRST_RESPONSE,
                    policy=policy,
                    priority=c.priority,
                    target_seconds=int((due - now).total_seconds()),
                    started_at=now,
                    at_risk_at=now + (due - now) * 0.8,
                    due_at=due,
                )
            )
        SLATimer.objects.bulk_create(timers)
        made += size
    return made


class _PushClock:
    """Time spent in the on-commit pushes to the channel layer, to report it apart
    from the sweep's database work: handing the events over, and (with Redis) the
    process's sender delivering them (``outbox.flush``)."""

    def __init__(self):
        from conversations import broadcast
        from core import outbox

        self.ms = 0.0
        broadcast._send_many = self._timed(broadcast._send_many)
        self.flush = self._timed(outbox.flush)

    def _timed(self, func):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.ms += (time.perf_counter() - started) * 1000

        return timed


def _timed_sweeps(*, repeats, rng, clock):
    """Median and max ms of sweeps where 1 % of the open timers cross a threshold:
    (whole sweep, database part, on-commit pushes)."""
    from django.utils import timezone

    from sla import services
    from sla.models import SLATimer

    ms, db_ms, push_ms = [], [], []
    for _ in range(repeats):
        now = timezone.now()
        open_ids = list(
            SLATimer.objects.filter(
                state=SLATimer.State.RUNNING, conversation__customer__external_id__startswith=PREFIX
            ).values_list("pk", flat=True)
        )
        crossing = rng.sample(open_ids, k=max(2, len(open_ids) // 100))
        half = len(crossing) // 2
        # Started a minute ago: a run whose setup took under two seconds has them
        # started after the thresholds set here (check constraint: start <= at risk <= due).
        started_at = now - timedelta(minutes=1)
        SLATimer.objects.filter(pk__in=crossing[:half]).update(
            started_at=started_at, at_risk_at=now - timedelta(seconds=1)
        )
        SLATimer.objects.filter(pk__in=crossing[half:]).update(
            started_at=started_at, at_risk_at=now - timedelta(seconds=2), due_at=now - timedelta(seconds=1)
        )
        clock.ms = 0.0
        started = time.perf_counter()
        result = services.sla_sweep(now=now)
        clock.flush()
        ms.append((time.perf_counter() - started) * 1000)
        push_ms.append(clock.ms)
        db_ms.append(ms[-1] - clock.ms)
        assert (result.at_risk, result.breached) == (half, len(crossing) - half), result
    return {
        "total": round(float(np.median(ms)), 1),
        "db": round(float(np.median(db_ms)), 1),
        "db_max": round(max(db_ms), 1),
        "push": round(float(np.median(push_ms)), 1),
        "crossing": len(crossing),
    }


class _Listener(threading.Thread):
    """Receives the inbox group's events through the real channel layer, and notes
    when each timer's breach push arrives (wall clock, seconds)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.breached_at: dict[int, float] = {}
        self.pushes = 0
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self):
        asyncio.run(self._listen())

    async def _listen(self):
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("inbox", channel)
        self.ready.set()

        async def pump():
            # One receive that is never cancelled: the pub/sub layer unsubscribes a
            # channel whose receive is cancelled (a timeout), and its groups with it.
            while True:
                event = await layer.receive(channel)
                if event.get("type") != "sla.changed":
                    continue
                now = time.time()
                for timer in event["timers"]:
                    if timer["state"] == "breached":
                        self.pushes += 1
                        self.breached_at.setdefault(timer["id"], now)

        pumping = asyncio.get_running_loop().create_task(pump())
        while not self.stop.is_set():
            await asyncio.sleep(0.2)
        pumping.cancel()


def _detection_lag(*, n, window, policy, rng, servers_n=2):
    """Breach detection with the real processes running: ``servers_n`` uvicorn
    processes (one leads the timers) and a django-q2 cluster, as in production."""
    from django.conf import settings
    from django.db import connections
    from django.db.models import Count
    from django.utils import timezone

    from bench import servers
    from sla.models import Breach, Notification, SLATimer

    listener = _Listener()
    listener.start()
    listener.ready.wait(10)
    connections.close_all()
    logs = servers.Logs()
    env = servers.server_env(
        database_url=settings.DATABASE_URL,
        redis_url=settings.REDIS_URL,
        prefix=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    )
    procs = [servers.asgi(env=env, logs=logs, name=f"asgi-{i}") for i in range(servers_n)]
    procs.append(servers.qcluster(env=env, logs=logs))
    try:
        started = time.monotonic()
        for proc in procs[:servers_n]:
            servers.wait_http(f"http://127.0.0.1:{proc.port}/login/", proc=proc)
        scheduler_start_s = time.monotonic() - started
        now = timezone.now()
        before = SLATimer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        _add_open_timers(n, start=10_000_000, now=now, policy=policy, rng=rng)
        lag_timers = list(
            SLATimer.objects.filter(pk__gt=before, conversation__customer__external_id__startswith=PREFIX)
        )
        for timer in lag_timers:
            due = now + timedelta(seconds=5 + rng.uniform(0, window))
            timer.due_at, timer.at_risk_at, timer.target_seconds = due, due - timedelta(seconds=1), 6
        SLATimer.objects.bulk_update(lag_timers, ["due_at", "at_risk_at", "target_seconds"], batch_size=BATCH)
        deadlines = {t.pk: t.due_at.timestamp() for t in lag_timers}
        last = max(deadlines.values())
        while time.time() < last + 15 and len(listener.breached_at.keys() & deadlines.keys()) < len(deadlines):
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.stop()
        listener.stop.set()
        listener.join(timeout=5)
    lags = [listener.breached_at[pk] - due for pk, due in deadlines.items() if pk in listener.breached_at]
    recorded = dict(Breach.objects.filter(timer_id__in=deadlines).values_list("timer_id", "deadline"))
    record_lags = [(b.detected_at - b.deadline).total_seconds() for b in Breach.objects.filter(timer_id__in=deadlines)]
    duplicates = (
        Breach.objects.values("timer_id").annotate(n=Count("pk")).filter(n__gt=1).count()
        + Notification.objects.exclude(breach=None)
        .values("breach_id", "user_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    missed = (
        len(deadlines)
        - len(recorded)
        + SLATimer.objects.filter(
            state__in=SLATimer.OPEN_STATES, due_at__lt=timezone.now() - timedelta(seconds=10)
        ).count()
    )
    wrong_deadline = sum(1 for pk, deadline in recorded.items() if abs(deadline.timestamp() - deadlines[pk]) > 1e-3)
    return {
        "lag_timers": len(deadlines),
        "lag_window_s": window,
        "servers": servers_n,
        "servers_start_s": round(scheduler_start_s, 1),
        "detection_lag_p50_s": round(float(np.percentile(lags, 50)), 2) if lags else None,
        "detection_lag_p99_s": round(float(np.percentile(lags, 99)), 2) if lags else None,
        "detection_lag_max_s": round(max(lags), 2) if lags else None,
        "record_lag_p99_s": round(float(np.percentile(record_lags, 99)), 2) if record_lags else None,
        "pushes_received": len(lags),
        "duplicates": duplicates,
        "missed": missed,
        "wrong_deadline": wrong_deadline,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=100_000, help="open timers for the large sweep")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lag", type=int, default=300, help="timers whose breach detection is timed (0: skip)")
    parser.add_argument("--lag-window", type=float, default=100.0, help="seconds their deadlines spread over")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from sla.models import SLAPolicy

    call_command("migrate", verbosity=0)
    _cleanup()
    rng = random.Random(args.seed)
    get_user_model().objects.get_or_create(username=f"{PREFIX}admin", defaults={"is_staff": True})
    policy = SLAPolicy.objects.get(is_default=True)
    now = timezone.now()

    def settle():
        # What autovacuum does soon after a bulk load: statistics, visibility map
        # and hint bits, so the timed sweeps do not pay for the load itself.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for table in ["conversations_customer", "conversations_conversation", "sla_slatimer"]:
                    cursor.execute(f"VACUUM (ANALYZE) {table}")

    clock = _PushClock()
    _add_open_timers(10_000, start=0, now=now, policy=policy, rng=rng)
    settle()
    small = _timed_sweeps(repeats=args.repeats, rng=rng, clock=clock)
    _add_open_timers(args.open - 10_000, start=10_000, now=now, policy=policy, rng=rng)
    settle()
    big = _timed_sweeps(repeats=args.repeats, rng=rng, clock=clock)
    size = f"{args.open // 1000}k"
    figures = {
        "database": connection.vendor,
        "channel_layer": django.conf.settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1],
        "open_timers": args.open,
        "sweep_ms_10k": small["db"],
        "sweep_ms_10k_max": small["db_max"],
        "sweep_push_ms_10k": small["push"],
        "sweep_with_push_ms_10k": small["total"],
        "crossing_10k": small["crossing"],
        f"sweep_ms_{size}": big["db"],
        f"sweep_ms_{size}_max": big["db_max"],
        f"sweep_push_ms_{size}": big["push"],
        f"sweep_with_push_ms_{size}": big["total"],
        f"crossing_{size}": big["crossing"],
    }
    if args.lag:
        figures.update(_detection_lag(n=args.lag, window=args.lag_window, policy=policy, rng=rng))
    _cleanup()
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()

"""Idle sockets one ASGI process holds: customers' widgets open and quiet, as on
a busy site between messages.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.connections --idle 2000 --json

Use a scratch PostgreSQL database: it adds customers "bench-conn-*" (replaced on
each run). It starts one uvicorn process on 127.0.0.1, opens ``--idle`` customer
websockets from a separate process (each one syncs once, as a widget does when
it connects), then, with every socket open and quiet, measures the server's CPU
over ``--window`` seconds. Figures: ``connected``, ``connect_s`` (all of them
open and synced), ``server_cpu_pct`` (% of one core while idle),
``server_rss_mb`` (before and with the sockets), ``rss_per_connection_kb``,
``dropped`` (sockets that closed during the window). The last line is one JSON
object.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

PREFIX = "bench-conn-"
CONNECT_AT_ONCE = 100


def _setup(n: int) -> list[str]:
    from django.conf import settings
    from django.core.management import call_command

    from conversations.identity import customer_token_make
    from conversations.models import Customer

    if not (settings.DATABASE_URL and settings.REDIS_URL):
        raise SystemExit("bench.connections measures the production set-up: set DATABASE_URL and REDIS_URL")
    call_command("migrate", verbosity=0)
    Customer.objects.filter(name__startswith=PREFIX).delete()
    customers = Customer.objects.bulk_create(Customer(name=f"{PREFIX}{i}") for i in range(n))
    return [customer_token_make(customer_id=c.pk) for c in customers]


async def _hold(base: str, tokens: list[str], ready, measured) -> dict:
    import websockets

    from bench.clients import customer_subprotocols

    sockets, failed = [], []

    async def open_one(token: str):
        try:
            ws = await websockets.connect(
                f"{base}/ws/chat/",
                origin="http://127.0.0.1",
                subprotocols=customer_subprotocols(token),
                open_timeout=60,
                max_queue=None,
            )
            await ws.send(json.dumps({"type": "sync", "conversation": 0, "after_seq": 0}))
            while json.loads(await ws.recv()).get("type") != "sync.done":
                pass
            sockets.append(ws)
        except Exception as e:
            failed.append(f"{type(e).__name__}: {e}")

    start = time.monotonic()
    for i in range(0, len(tokens), CONNECT_AT_ONCE):
        await asyncio.gather(*(open_one(t) for t in tokens[i : i + CONNECT_AT_ONCE]))
    connect_s = time.monotonic() - start
    ready.set()
    while not measured.is_set():  # the server's figures are taken meanwhile
        await asyncio.sleep(0.2)
    dropped = sum(1 for ws in sockets if ws.close_code is not None)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"connected": len(sockets), "connect_s": round(connect_s, 1), "dropped": dropped, "failed": failed[:5]}


def _load(base, tokens, ready, measured, results) -> None:
    results.put(asyncio.run(_hold(base, tokens, ready, measured)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=2000, help="customer sockets to hold open")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of idle measured")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    django.setup()
    from django.conf import settings
    from django.db import connections

    from bench import servers

    tokens = _setup(args.idle)
    connections.close_all()
    logs = servers.Logs()
    env = servers.server_env(
        database_url=settings.DATABASE_URL, redis_url=settings.REDIS_URL, prefix=f"bench-conn-{uuid.uuid4().hex[:8]}"
    )
    asgi = servers.asgi(env=env, logs=logs)
    try:
        servers.wait_http(f"http://127.0.0.1:{asgi.port}/login/", proc=asgi)
        pids = lambda: [asgi.pid, *asgi.tree()]  # noqa: E731
        rss_before, _cpu = servers.usage(pids())
        context = multiprocessing.get_context("spawn")
        ready, measured, results = context.Event(), context.Event(), context.Queue()
        load = context.Process(target=_load, args=(f"ws://127.0.0.1:{asgi.port}", tokens, ready, measured, results))
        load.start()
        if not ready.wait(600):
            raise SystemExit("the sockets did not open within 10 minutes")
        time.sleep(2)  # the last connects' work done
        _rss, cpu0 = servers.usage(pids())
        t0 = time.monotonic()
        time.sleep(args.window - 2)
        rss, cpu1 = servers.usage(pids())
        wall = time.monotonic() - t0
        measured.set()
        out = results.get(timeout=120)
        load.join(30)
    finally:
        asgi.stop()
    figures = {
        "idle": args.idle,
        "connected": out["connected"],
        "connect_s": out["connect_s"],
        "dropped": out["dropped"],
        "server_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 2),
        "server_rss_mb_before": round(rss_before, 1),
        "server_rss_mb": round(rss, 1),
        "rss_per_connection_kb": round((rss - rss_before) * 1024 / max(1, out["connected"]), 1),
        "failed": out["failed"],
    }
    servers.report(figures, only_json=args.json)


if __name__ == "__main__":
    main()

"""The live path, measured from outside as browsers see it: customers and agents on
real websockets against a real server.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.realtime \\
        --customers 200 --agents 20 --rate 50 --duration 30 --json

Use a scratch PostgreSQL database: it migrates it, imports the demo knowledge base
if it has none, and replaces its agents "bench-rt-agent-*" and customers
"bench-rt-*". It starts uvicorn (``--workers``, default 2) and a django-q2 cluster
on 127.0.0.1 with this environment, and drives the clients from a separate
process (``bench/clients.py``: the browser's protocol, over the network).

Each agent has one page (``--pages agent``, the default: the workspace's list
beside the conversation it shows, one socket, replies sent over it); ``--pages
conversation`` adds a page per assigned conversation, each checked for every
message at the end (the fault tests' model; it multiplies the sockets hearing the
list's stream by the conversations per agent).

Half the customers talk to the bot, half were handed off and assigned to the
agents (auto-assign) before the run. Every ``1/rate`` seconds a random customer
writes: the bot's customers ask a question of the demo help centre (one in
fifty asks for a person, and is routed to an agent), the others write to their
agent, who answers each message as it reaches their inbox.

Figures, each from the load process's monotonic clock:
``msg_to_inbox_*`` (a customer's message sent → it reaches each agent's inbox
socket), ``bot_reply_*`` (a question sent → the bot's answer or handoff message
reaches the customer), ``reply_to_customer_*`` (an agent's reply sent → it
reaches the customer), ``sent``/``stored`` (customers' messages sent, and found
in the database), ``received`` (message frames the clients got), ``lost``
(messages stored but missing at a client that should hold them at the end, plus
sent and never stored, plus inbox deliveries that never came), ``duplicated``
(messages stored twice; clients de-duplicate by id, so none is shown twice),
``duplicate_frames`` (frames of a message the client held already: a replay
that overlapped live events),
``server_rss_mb``/``server_cpu_pct`` (all server processes: uvicorn, its
workers, the cluster; CPU in % of one core over the run). The last line is one
JSON object.
"""

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import time
import uuid
from collections import defaultdict

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
os.environ.setdefault("BATON_Q_SYNC", "1")  # the set-up's own handoffs route in this process

AGENT_PREFIX = "bench-rt-agent-"
CUSTOMER_PREFIX = "bench-rt-"
HANDOFF_SHARE = 0.02
DRAIN_S = 20.0
# How every handoff message the customer sees ends (conversations.services).
HANDOFF_SUFFIX = "You'll see their reply here."


def _setup(args) -> dict:
    """Agents online with room, customers half with the bot and half assigned, and
    what the load process needs to be them (tokens, session cookies)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.utils import timezone

    from conversations import services as conversation_services
    from conversations.identity import customer_token_make
    from conversations.models import Conversation, Customer
    from demo.management.commands.demo_data import DEMO_KB
    from knowledge.models import Entry
    from knowledge.services import kb_import_jsonl
    from routing import services as routing_services
    from routing.models import AgentProfile, RoutingSettings

    if not (settings.DATABASE_URL and settings.REDIS_URL):
        raise SystemExit("bench.realtime measures the production set-up: set DATABASE_URL and REDIS_URL")
    User = get_user_model()
    call_command("migrate", verbosity=0)
    if not Entry.objects.exists():
        kb_import_jsonl(path=DEMO_KB)
    Customer.objects.filter(name__startswith=CUSTOMER_PREFIX).delete()
    Conversation.objects.filter(assigned_agent__username__startswith=AGENT_PREFIX).delete()
    User.objects.filter(username__startswith=AGENT_PREFIX).delete()
    others = Conversation.objects.filter(status=Conversation.Status.PENDING_HANDOFF).count()
    if others:
        raise SystemExit(f"{others} conversations wait in this database's queue: run on a scratch database")
    RoutingSettings.objects.update_or_create(
        pk=1, defaults={"mode": RoutingSettings.Mode.AUTO_ASSIGN, "skill_wait_s": 3600, "requeue_on_offline": False}
    )
    now = timezone.now()
    capacity = max(10, 2 * args.customers // max(1, args.agents) + 2)
    agents = []
    for i in range(args.agents):
        user = User.objects.create_user(username=f"{AGENT_PREFIX}{i:03d}", first_name=f"Agent {i}")
        profile = routing_services.agent_profile_for(user)
        AgentProfile.objects.filter(pk=profile.pk).update(capacity=capacity)
        routing_services.presence_set(user=user, status=AgentProfile.Presence.ONLINE, now=now)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        agents.append({"id": user.pk, "session": session.session_key})
    customers = []
    for i in range(args.customers):
        customer = conversation_services.customer_create(name=f"{CUSTOMER_PREFIX}{i}")
        kind = "bot" if i % 2 == 0 else "agent"
        if kind == "agent":
            conversation_services.customer_request_handoff(customer=customer)
        customers.append({"id": customer.pk, "token": customer_token_make(customer_id=customer.pk), "kind": kind})
    assigned = dict(
        Conversation.objects.filter(
            customer__name__startswith=CUSTOMER_PREFIX, status=Conversation.Status.ASSIGNED
        ).values_list("pk", "assigned_agent_id")
    )
    questions = []
    with open(DEMO_KB) as f:
        for line in f:
            questions += json.loads(line)["questions"]
    return {"agents": agents, "customers": customers, "assigned": assigned, "questions": questions}


async def _drive(plan: dict, *, chaos=None, settled=None) -> dict:
    """Run the load of ``plan`` and report what the clients saw.

    ``chaos(crowd)``, a coroutine, runs beside the load (the fault tests cut
    connections and kill processes with it; cancelled when the load ends);
    ``settled(crowd)``, an async predicate, replaces the drain's own test of
    "nothing more to come". ``crowd`` holds the clients: ``customers``,
    ``inboxes``, ``conversations`` (conversation id -> the agent's client)."""
    from bench.clients import ConversationClient, CustomerClient, Figures, InboxClient

    rng = random.Random(plan["seed"])
    ws_base = plan["ws_base"]  # one base URL, or a list the clients spread over
    figures = Figures()
    now = time.monotonic
    sent_at: dict[str, float] = {}  # tag -> when its customer sent it
    inbox_lat, bot_lat, reply_lat = [], [], []
    inbox_receipts: dict[str, int] = defaultdict(int)
    agent_tags: set[str] = set()  # messages of customers assigned from the start: every inbox must see them
    bot_waiting: dict[int, list[float]] = defaultdict(list)  # customer -> send times of unanswered questions
    replies_at: dict[str, float] = {}  # "re <tag>" -> when the agent sent it
    conversation_clients: dict[int, ConversationClient] = {}
    agent_of = {int(k): v for k, v in plan["assigned"].items()}
    # "agent": one page per agent, the list beside the conversation it shows, replies
    # over it (the workspace); "conversation": also a page per assigned conversation
    # (what the fault tests check every agent-side stream with).
    per_conversation = plan.get("pages", "conversation") == "conversation"

    def tag_of(body: str) -> str | None:
        start = body.find("#t")
        return body[start:].split()[0] if start >= 0 else None

    def on_customer_frame(client, frame):
        if frame.get("type") != "conversation.message":
            return
        m = frame["message"]
        handoff = m["sender"] == "system" and m["body"].endswith(HANDOFF_SUFFIX)
        if m["sender"] == "bot" or handoff:
            waiting = bot_waiting[client.customer_id]
            if waiting:
                bot_lat.append(now() - waiting.pop(0))
            if handoff:  # a person answers from now on, also what was asked meanwhile
                client.handed_off = True
                waiting.clear()
        elif m["sender"] == "agent" and m["body"] in replies_at:
            reply_lat.append(now() - replies_at.pop(m["body"]))

    def open_conversation(conversation_id: int, agent: dict):
        if not per_conversation or conversation_id in conversation_clients:
            return
        client = ConversationClient(
            conversation_id=conversation_id,
            base=ws_base,
            figures=figures,
            headers=[("Cookie", f"sessionid={agent['session']}")],
        )
        conversation_clients[conversation_id] = client
        client.start()

    agents_by_id = {a["id"]: a for a in plan["agents"]}

    def on_inbox_frame(client, frame):
        kind = frame.get("type")
        if kind == "conversation.message" and frame["message"]["sender"] == "customer":
            m = frame["message"]
            tag = tag_of(m["body"])
            if tag in sent_at:
                inbox_receipts[tag] += 1
                inbox_lat.append(now() - sent_at[tag])
            if agent_of.get(m["conversation"]) == client.agent_id and tag:
                body = f"re {tag}"
                if not per_conversation:
                    replies_at[body] = now()
                    send = client.send_message(body, conversation=m["conversation"])
                    asyncio.get_running_loop().create_task(send)
                elif (conversation := conversation_clients.get(m["conversation"])) is not None:
                    replies_at[body] = now()
                    asyncio.get_running_loop().create_task(conversation.send_message(body))
        elif kind == "conversation.changed":
            c = frame["conversation"]
            if c["status"] == "assigned" and c.get("agent_id") in agents_by_id:
                agent_of[c["id"]] = c["agent_id"]
                if c["agent_id"] == client.agent_id:
                    open_conversation(c["id"], agents_by_id[c["agent_id"]])

    inboxes = []
    for agent in plan["agents"]:
        inbox = InboxClient(
            base=ws_base,
            figures=figures,
            headers=[("Cookie", f"sessionid={agent['session']}")],
            on_frame=on_inbox_frame,
        )
        inbox.agent_id = agent["id"]
        if not per_conversation:  # the page shows one of the agent's conversations
            inbox.watch = next((c for c, a in agent_of.items() if a == agent["id"]), None)
        inboxes.append(inbox)
        inbox.start()
    for conversation_id, agent_id in agent_of.items():
        open_conversation(conversation_id, agents_by_id[agent_id])
    customers = []
    for c in plan["customers"]:
        client = CustomerClient(
            token=c["token"], customer_id=c["id"], base=ws_base, figures=figures, on_frame=on_customer_frame
        )
        client.kind = c["kind"]
        customers.append(client)
        client.start()
    everyone = [*inboxes, *customers, *conversation_clients.values()]
    await asyncio.wait_for(asyncio.gather(*(c.open.wait() for c in everyone)), timeout=120)
    heartbeats = [asyncio.get_running_loop().create_task(i.heartbeats()) for i in inboxes]
    crowd = {"customers": customers, "inboxes": inboxes, "conversations": conversation_clients}
    # Warm up: one question answered (the cluster's workers up, the model loaded),
    # and the replays of connecting settled, before the clock starts.
    first = next((c for c in customers if c.kind == "bot"), None)
    if first is not None:
        bot_waiting[first.customer_id].append(now())
        await first.send_message("How do I reset my password? (warm-up)")
        deadline = now() + 120
        while bot_waiting[first.customer_id] and now() < deadline:
            await asyncio.sleep(0.1)
        bot_lat.clear()
    await asyncio.sleep(1.0)
    chaos_task = asyncio.get_running_loop().create_task(chaos(crowd)) if chaos else None

    questions = plan["questions"]
    interval = 1.0 / plan["rate"]
    start = now()
    sent = 0
    sent_ids: dict[str, int] = {}  # client id -> customer
    while now() - start < plan["duration"]:
        target = start + sent * interval
        delay = target - now()
        if delay > 0:
            await asyncio.sleep(delay)
        client = rng.choice(customers)
        tag = f"#t{sent}"
        if client.kind == "bot" and not getattr(client, "handed_off", False):
            body = "Can I talk to a person, please?" if rng.random() < HANDOFF_SHARE else rng.choice(questions)
            body = f"{body} {tag}"
            bot_waiting[client.customer_id].append(now())
        else:
            body = f"Hello again, about my order {tag}"
            agent_tags.add(tag)
        sent_at[tag] = now()
        sent_ids[await client.send_message(body)] = client.customer_id
        sent += 1
    elapsed = now() - start
    if chaos_task is not None:
        chaos_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await chaos_task
    inbox_count = len(inboxes)

    async def drained(_crowd) -> bool:
        return (
            all(not c.pending for c in customers)
            and all(inbox_receipts[t] >= inbox_count for t in agent_tags)
            and not replies_at
            and not any(bot_waiting.values())
        )

    deadline = now() + plan.get("drain_s", DRAIN_S)
    while now() < deadline and not await (settled or drained)(crowd):
        await asyncio.sleep(0.2)
    for task in heartbeats:
        task.cancel()
    held = {c.customer_id: [m["id"] for m in c.stream.ordered()] for c in customers}
    snapshot = crowd_snapshot(crowd)
    agent_held = {k: [m["id"] for m in c.stream.ordered()] for k, c in conversation_clients.items()}
    unacked = sum(len(c.pending) for c in [*customers, *inboxes])
    await asyncio.gather(*(c.stop() for c in [*inboxes, *customers, *conversation_clients.values()]))
    return {
        "elapsed_s": elapsed,
        "sent": sent,
        "sent_ids": sent_ids,
        "unacked": unacked,
        "inbox_lat": inbox_lat,
        "bot_lat": bot_lat,
        "reply_lat": reply_lat,
        "inbox_missing": sum(max(0, inbox_count - inbox_receipts[t]) for t in agent_tags),
        "bot_unanswered": sum(len(v) for v in bot_waiting.values()),
        "replies_unseen": len(replies_at),
        "held": held,
        "agent_held": agent_held,
        "snapshot": snapshot,
        "frames": figures.frames,
        "duplicate_frames": figures.duplicate_frames,
        "late_frames": figures.late_frames,
        "reconnects": figures.reconnects,
        "errors": figures.errors[:20],
    }


def crowd_snapshot(crowd: dict) -> dict:
    """What every client holds, as plain data (another thread may read it):
    ``customers``/``conversations`` map to lists of (id, conversation, seq)."""
    return {
        "customers": {
            c.customer_id: [(m["id"], m["conversation"], m["seq"]) for m in c.stream.ordered()]
            for c in crowd["customers"]
        },
        "conversations": {
            k: [(m["id"], m["conversation"], m["seq"]) for m in c.stream.ordered()]
            for k, c in crowd["conversations"].items()
        },
        "unacked": sum(len(c.pending) for c in [*crowd["customers"], *crowd["conversations"].values()]),
    }


def _load(plan: dict, results) -> None:
    results.put(asyncio.run(_drive(plan)))


def _verify(out: dict) -> dict:
    """Compare what the clients hold with the database."""
    from django.db.models import Count

    from conversations.models import Message

    held = out["held"]
    expected = defaultdict(list)
    for customer_id, message_id in (
        Message.objects.filter(conversation__customer_id__in=list(held))
        .order_by("conversation_id", "seq")
        .values_list("conversation__customer_id", "id")
    ):
        expected[customer_id].append(message_id)
    missing_customers = sum(len(set(expected[c]) - set(held[c])) for c in held)
    order_wrong = sum(
        1
        for c in held
        if [i for i in held[c] if i in set(expected[c])] != [i for i in expected[c] if i in set(held[c])]
    )
    agent_expected = defaultdict(list)
    for conversation_id, message_id in (
        Message.objects.filter(conversation_id__in=list(out["agent_held"]))
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "id")
    ):
        agent_expected[conversation_id].append(message_id)
    missing_agents = sum(len(set(agent_expected[c]) - set(out["agent_held"][c])) for c in out["agent_held"])
    stored_bodies = Message.objects.filter(
        conversation__customer_id__in=list(held), sender="customer", body__contains="#t"
    )
    stored = stored_bodies.count()
    stored_twice = sum(
        n - 1 for n in stored_bodies.values("body").annotate(n=Count("id")).filter(n__gt=1).values_list("n", flat=True)
    )
    return {
        "stored": stored,
        "stored_twice": stored_twice,
        "missing_at_customers": missing_customers,
        "missing_at_agents": missing_agents,
        "order_wrong": order_wrong,
    }


def _ms(values: list[float], q: float) -> float:
    from bench.clients import percentile

    return round(percentile(values, q) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="customer messages per second, all customers together")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pages",
        choices=["agent", "conversation"],
        default="agent",
        help="agent: one page per agent (the workspace); conversation: also one per assigned conversation",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    django.setup()
    from django.conf import settings
    from django.db import connections

    from bench import servers

    plan = _setup(args)
    connections.close_all()
    logs = servers.Logs()
    env = servers.server_env(
        database_url=settings.DATABASE_URL,
        redis_url=settings.REDIS_URL,
        prefix=f"bench-rt-{uuid.uuid4().hex[:8]}",
    )
    asgi = servers.asgi(env=env, logs=logs, workers=args.workers)
    cluster = servers.qcluster(env=env, logs=logs)
    try:
        servers.wait_http(f"http://127.0.0.1:{asgi.port}/login/", proc=asgi)
        plan.update(
            ws_base=f"ws://127.0.0.1:{asgi.port}",
            rate=args.rate,
            duration=args.duration,
            seed=args.seed,
            pages=args.pages,
        )
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        load = context.Process(target=_load, args=(plan, results))
        pids = lambda: [asgi.pid, *asgi.tree(), cluster.pid, *cluster.tree()]  # noqa: E731
        load.start()
        # The clock of the server's figures starts with the load's.
        _rss0, cpu0 = servers.usage(pids())
        t0 = time.monotonic()
        out = results.get(timeout=args.duration + DRAIN_S + 300)
        wall = time.monotonic() - t0
        rss, cpu1 = servers.usage(pids())
        load.join(30)
        checked = _verify(out)
    finally:
        asgi.stop()
        cluster.stop()
    lost = (
        checked["missing_at_customers"]
        + checked["missing_at_agents"]
        + out["inbox_missing"]
        + max(0, out["sent"] - checked["stored"])
    )
    figures = {
        "customers": args.customers,
        "agents": args.agents,
        "rate": args.rate,
        "duration_s": args.duration,
        "workers": args.workers,
        "pages": args.pages,
        "offered_rate": round(out["sent"] / out["elapsed_s"], 1),
        "msg_to_inbox_p50_ms": _ms(out["inbox_lat"], 0.5),
        "msg_to_inbox_p99_ms": _ms(out["inbox_lat"], 0.99),
        "bot_reply_p50_ms": _ms(out["bot_lat"], 0.5),
        "bot_reply_p99_ms": _ms(out["bot_lat"], 0.99),
        "reply_to_customer_p50_ms": _ms(out["reply_lat"], 0.5),
        "reply_to_customer_p99_ms": _ms(out["reply_lat"], 0.99),
        "bot_replies": len(out["bot_lat"]),
        "agent_replies": len(out["reply_lat"]),
        "sent": out["sent"],
        "stored": checked["stored"],
        "received": out["frames"],
        "lost": lost,
        "lost_detail": {
            "never_stored": max(0, out["sent"] - checked["stored"]),
            "missing_at_customers": checked["missing_at_customers"],
            "missing_at_agents": checked["missing_at_agents"],
            "inbox_deliveries_missing": out["inbox_missing"],
            "unacked_at_end": out["unacked"],
            "bot_unanswered": out["bot_unanswered"],
            "replies_unseen": out["replies_unseen"],
        },
        "duplicated": checked["stored_twice"],
        "duplicate_frames": out["duplicate_frames"],
        "out_of_order": checked["order_wrong"],
        "late_frames": out["late_frames"],
        "reconnects": out["reconnects"],
        "server_rss_mb": round(rss, 1),
        "server_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
        "errors": out["errors"],
    }
    servers.report(figures, only_json=args.json)


if __name__ == "__main__":
    main()

"""Routing benchmark: handoffs from concurrent worker processes onto agents with
mixed capacities and skills, resolving conversations as it goes.

    DATABASE_URL=postgres://… REDIS_URL=redis://… python -m bench.routing \\
        --conversations 2000 --agents 50 --workers 8 --json

Use a scratch PostgreSQL database: it migrates it and replaces its agents
"bench-agent-*" and customers "bench-*". The workers are processes (as a
deployment's ASGI and django-q2 workers are), each with its own database
connection, started together. Each hands off its share of the conversations
through ``conversations.services.conversation_handoff``; routing runs as it does
in production, after the commit, in the process that committed (or in the one
routing at that moment). After each handoff, while agents are over ``--busy`` of
their capacity, the busiest resolves their oldest conversation (agents keep up
with what piles up; at most three per handoff), which frees capacity and routes
the queue again.
Mode ``auto_assign`` (no human in the loop to accept an offer).

Figures: ``decisions_per_s`` (routing decisions recorded per second of the run:
assigned, queued, ...), ``assign_p50_ms``/``assign_p99_ms`` (handoff committed →
assignment committed, from the two commit hooks, on the machine's monotonic
clock, which all processes share), ``double_assignments`` (conversations
assigned more than once), ``capacity_violations`` (agent·samples above capacity,
counted from the conversation rows by a monitor every 100 ms, plus counters that
disagree with the rows at the end), ``lost`` (waiting at the end although an
eligible online agent has room), ``load_spread`` (max - min active conversations
among agents with the same skills and capacity, at the end). The last line
printed is one JSON object.
"""

import argparse
import json
import multiprocessing
import os
import random
import resource
import statistics
import threading
import time
from collections import Counter, defaultdict

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
# Routing's after-commit work runs in the process that committed, as in production.
os.environ.setdefault("BATON_Q_SYNC", "1")

CAPACITIES = [3, 5, 8]
SKILL_SETS = [("billing",), ("technical",), ("billing", "de")]
AGENT_PREFIX = "bench-agent-"
# A worker resolves at most this many conversations after each handoff.
RESOLVES_PER_HANDOFF = 3
TOPICS = [
    ("My invoice shows the wrong amount", "", 0.4),
    ("The app shows an error when I log in", "", 0.4),
    ("Meine Rechnung hat einen Fehler (invoice)", "de", 0.2),
]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _cpu_busy() -> float:
    """Seconds of CPU the whole machine spent busy so far (all processes: the
    workers, PostgreSQL, Redis), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _setup(args) -> tuple[list[int], list[int]]:
    """A fresh team and a fresh set of bot conversations; returns (agent ids, conversation ids)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from conversations.models import Conversation, ConversationEvent, Customer, Message
    from routing import services
    from routing.models import AgentProfile, RoutingDecision, RoutingRule, RoutingSettings, RoutingState, Skill

    User = get_user_model()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    Customer.objects.filter(name__startswith="bench-").delete()
    others = Conversation.objects.filter(status=Conversation.Status.PENDING_HANDOFF).count()
    if others:
        raise SystemExit(
            f"{others} conversations already wait in this database's queue (another benchmark's?) and would go"
            " first: run on a scratch database whose queue is empty."
        )
    # Whatever else the last run's agents took in this scratch database (another benchmark's handoffs).
    Conversation.objects.filter(assigned_agent__username__startswith=AGENT_PREFIX).delete()
    User.objects.filter(username__startswith=AGENT_PREFIX).delete()
    RoutingSettings.objects.update_or_create(
        pk=1, defaults={"mode": RoutingSettings.Mode.AUTO_ASSIGN, "skill_wait_s": 3600, "requeue_on_offline": False}
    )
    skills = {name: Skill.objects.get_or_create(name=name)[0] for name in ("billing", "technical", "de")}
    RoutingRule.objects.filter(name__startswith="bench ").delete()
    for name, condition, skill in [
        ("bench invoices", {"keywords": "invoice"}, "billing"),
        ("bench errors", {"keywords": "error"}, "technical"),
        ("bench german", {"language": "de"}, "de"),
    ]:
        RoutingRule.objects.create(name=name, **condition).skills.set([skills[skill]])
    now = timezone.now()
    agents = []
    for i in range(args.agents):
        user = User.objects.create_user(username=f"{AGENT_PREFIX}{i:03d}", first_name=f"Agent {i}")
        profile = services.agent_profile_for(user)
        AgentProfile.objects.filter(pk=profile.pk).update(capacity=CAPACITIES[i % len(CAPACITIES)])
        profile.skills.set([skills[s] for s in SKILL_SETS[i % len(SKILL_SETS)]])
        services.presence_set(user=user, status=AgentProfile.Presence.ONLINE, now=now)
        agents.append(user.pk)

    customers, bodies = [], []
    for i in range(args.conversations):
        body, language, _ = rng.choices(TOPICS, weights=[t[2] for t in TOPICS])[0]
        customers.append(Customer(name=f"bench-{i}", language=language))
        bodies.append(body)
    Customer.objects.bulk_create(customers)
    conversations = Conversation.objects.bulk_create([Conversation(customer=c, last_seq=1) for c in customers])
    Message.objects.bulk_create(
        [Message(conversation=c, seq=1, sender="customer", body=b) for c, b in zip(conversations, bodies, strict=True)]
    )
    # Start from settled tables, not from what earlier runs left for autovacuum.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Conversation, Message, AgentProfile, RoutingState, RoutingDecision, ConversationEvent):
                cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
    return agents, [c.pk for c in conversations]


def _worker(ids: list[int], agents: list[int], busy: float, start, results) -> None:
    """One worker process: hand off its conversations one by one, and after each,
    let agents resolve while they are over ``busy`` of their capacity.
    Sends back when each of its handoffs and of the assignments it committed
    happened (monotonic clock), and any error."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from conversations import services as conversation_services
    from conversations import signals
    from conversations.models import Conversation
    from core import outbox
    from core.db import sql_for_update, sql_in
    from routing.models import AgentProfile

    User = get_user_model()

    handed, assigned_at, errors = {}, {}, []

    def on_assigned(sender, *, assigned: list, **kwargs):
        pks = [conversation.pk for conversation, _agent in assigned]
        transaction.on_commit(lambda: assigned_at.update(dict.fromkeys(pks, time.monotonic())))

    signals.conversations_assigned.connect(on_assigned, dispatch_uid="bench.routing")

    agents_by_id = User.objects.in_bulk(agents)

    conversations, profiles = Conversation._meta.db_table, AgentProfile._meta.db_table
    # The busiest agent's oldest conversation, passing over those another worker
    # holds, in one statement (the agents' side of the load, kept cheap: it is
    # not what is measured).
    pick = f"""SELECT c.id, c.assigned_agent_id FROM {conversations} c
        JOIN {profiles} p ON p.user_id = c.assigned_agent_id
        WHERE c.status = %s AND c.assigned_agent_id IN ({sql_in(agents)})
          AND p.active_count > p.capacity * %s
        ORDER BY p.active_count * 1.0 / p.capacity DESC, p.user_id, c.assigned_at, c.id LIMIT 1"""
    pick += sql_for_update(of="c", skip_locked=True)

    def resolve_while_busy():
        """While agents are over ``busy`` of their capacity, the busiest resolves
        their oldest conversation (agents keep up with what piles up), up to
        ``RESOLVES_PER_HANDOFF`` times. A conversation another worker is resolving
        is passed over (the next one, or the next busiest agent's)."""
        for _ in range(RESOLVES_PER_HANDOFF):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(pick, [Conversation.Status.ASSIGNED, *agents, busy])
                row = cursor.fetchone()
                if row is None:
                    return  # nobody over, or all their conversations being resolved already
                conversation_services.conversation_resolve(conversation_id=row[0], agent=agents_by_id[row[1]])

    start.wait()
    try:
        for pk in ids:
            conversation = Conversation.objects.get(pk=pk)
            with transaction.atomic():
                transaction.on_commit(lambda pk=pk: handed.__setitem__(pk, time.monotonic()))
                conversation_services.conversation_handoff(conversation=conversation, reason="customer_request")
            resolve_while_busy()
    except Exception as e:  # reported in the figures, not swallowed
        errors.append(repr(e))
    finally:
        outbox.flush()
        connection.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        results.put((handed, assigned_at, errors, usage.ru_utime + usage.ru_stime))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--busy", type=float, default=0.6, help="an agent over this share of their capacity resolves one"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, connections
    from django.db.models import Count, Q
    from django.utils import timezone

    from conversations.models import Conversation
    from routing import services
    from routing.models import AgentProfile, Offer, RoutingDecision, RoutingState

    agents, ids = _setup(args)
    first_decision = RoutingDecision.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    connections.close_all()  # the workers are forked: each opens its own connection

    # --- monitor: capacity read from the rows, never from the counters ---------------
    violations = 0
    stop = threading.Event()

    def monitor():
        nonlocal violations
        while not stop.is_set():
            over = (
                AgentProfile.objects.filter(user__username__startswith=AGENT_PREFIX)
                .annotate(
                    busy=Count(
                        "user__assigned_conversations",
                        filter=Q(user__assigned_conversations__status=Conversation.Status.ASSIGNED),
                        distinct=True,
                    )
                )
                .filter(busy__gt=0)
                .values_list("capacity", "busy")
            )
            violations += sum(1 for capacity, busy in over if busy > capacity)
            stop.wait(0.1)
        connection.close()

    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(ids[k :: args.workers], agents, args.busy, start, results))
        for k in range(args.workers)
    ]
    for p in processes:
        p.start()
    watcher = threading.Thread(target=monitor)
    watcher.start()
    started = time.monotonic()
    start.set()
    handed_at, assigned_at, errors, worker_cpu = {}, {}, [], 0.0
    busy_before = _cpu_busy()
    for _ in processes:
        handed, assigned, errs, cpu = results.get()
        worker_cpu += cpu
        handed_at.update(handed)
        for pk, at in assigned.items():
            assigned_at[pk] = min(at, assigned_at.get(pk, at))
        errors += errs
    elapsed = time.monotonic() - started
    machine_cpu = _cpu_busy() - busy_before
    for p in processes:
        p.join()
    stop.set()
    watcher.join()

    # --- figures from the rows -----------------------------------------------------------
    decisions = RoutingDecision.objects.filter(pk__gt=first_decision, conversation_id__in=ids)
    by_kind = Counter(decisions.values_list("kind", flat=True))
    per_conversation = Counter(decisions.filter(kind="assigned").values_list("conversation_id", flat=True))
    double = sum(1 for n in per_conversation.values() if n > 1)
    latencies = [(assigned_at[pk] - handed_at[pk]) * 1000 for pk in assigned_at if pk in handed_at]

    profiles = list(AgentProfile.objects.filter(user__in=agents).prefetch_related("skills"))
    rows = Counter(
        Conversation.objects.filter(status=Conversation.Status.ASSIGNED, assigned_agent__in=agents).values_list(
            "assigned_agent_id", flat=True
        )
    )
    open_offers = Counter(Offer.objects.filter(state="open").values_list("agent_id", flat=True))
    mismatched = sum(
        1 for p in profiles if (p.active_count, p.offered_count) != (rows[p.user_id], open_offers[p.user_id])
    )
    groups = defaultdict(list)
    for p in profiles:
        groups[(tuple(sorted(s.name for s in p.skills.all())), p.capacity)].append(rows[p.user_id])
    spread = max((max(v) - min(v) for v in groups.values()), default=0)

    lost = 0
    free = [
        ({s.pk for s in p.skills.all()}, p.capacity - rows[p.user_id] - open_offers[p.user_id])
        for p in profiles
        if p.presence == AgentProfile.Presence.ONLINE
    ]
    for state in RoutingState.objects.filter(
        conversation_id__in=ids, conversation__status=Conversation.Status.PENDING_HANDOFF
    ).prefetch_related("required_skills"):
        required = set() if state.relaxed_at else {s.pk for s in state.required_skills.all()}
        if any(room > 0 and required <= have for have, room in free):
            lost += 1

    figures = {
        "conversations": args.conversations,
        "agents": args.agents,
        "workers": args.workers,
        "mode": "auto_assign",
        "elapsed_s": round(elapsed, 2),
        "decisions": sum(by_kind.values()),
        "decisions_by_kind": dict(by_kind),
        "decisions_per_s": round(sum(by_kind.values()) / elapsed, 1),
        "assignments_per_s": round(by_kind["assigned"] / elapsed, 1),
        "handoffs_per_s": round(len(handed_at) / elapsed, 1),
        "assign_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "assign_p99_ms": round(_percentile(latencies, 0.99), 1),
        "assign_max_ms": round(max(latencies), 1) if latencies else None,
        "assigned": len(latencies),
        "waiting_at_end": Conversation.objects.filter(pk__in=ids, status=Conversation.Status.PENDING_HANDOFF).count(),
        "double_assignments": double,
        "capacity_violations": violations + mismatched,
        "lost": lost,
        "load_spread": spread,
        "cpu_ms_per_handoff": {
            "workers": round(worker_cpu * 1000 / max(1, len(handed_at)), 2),
            "machine": round(machine_cpu * 1000 / max(1, len(handed_at)), 2),
        },
        "errors": errors[:5],
        "database": connection.vendor,
    }
    # Off duty: the team must not take another benchmark's handoffs in this database.
    for user in get_user_model().objects.filter(pk__in=agents):
        services.presence_set(user=user, status=AgentProfile.Presence.OFFLINE, now=timezone.now())
    if not args.json:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Routing benchmark: handoffs from concurrent workers onto agents with mixed
capacities and skills, resolving conversations as it goes.

    python -m bench.routing --conversations 2000 --agents 50 --workers 8 --json

Runs against the configured database (use a scratch PostgreSQL one: it migrates
it and replaces its agents "bench-agent-*" and customers "bench-*"). Each worker
hands off conversations through ``conversations.services.conversation_handoff``;
routing runs as it does in production, after the commit (tasks inline, as the
django-q2 cluster would run them); then the worker resolves the oldest assigned
conversation whenever the team is more than ``--busy`` full, which frees capacity
and routes the queue again. Mode ``auto_assign`` (no human in the loop to accept).

Figures: ``decisions_per_s`` (routing decisions recorded per second of the run),
``assign_p50_ms``/``assign_p99_ms`` (handoff committed → assignment committed),
``double_assignments`` (conversations assigned more than once), ``capacity_violations``
(agent·samples above capacity, counted from the rows by a monitor thread every
100 ms, plus counters that disagree with the rows at the end), ``lost`` (waiting at
the end although an eligible online agent has room), ``load_spread`` (max - min
active conversations among agents with the same skills and capacity, at the end).
The last line printed is one JSON object.
"""

import argparse
import json
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
# Routing's after-commit tasks run in the worker that committed, as a cluster worker would.
os.environ.setdefault("BATON_Q_SYNC", "1")

CAPACITIES = [3, 5, 8]
SKILL_SETS = [("billing",), ("technical",), ("billing", "de")]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--busy", type=float, default=0.6, help="resolve when the team is fuller than this")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Count, Q
    from django.utils import timezone

    from conversations import services as conversation_services
    from conversations import signals
    from conversations.models import Conversation, Customer, Message
    from routing import services
    from routing.models import AgentProfile, Offer, RoutingDecision, RoutingRule, RoutingSettings, RoutingState, Skill

    User = get_user_model()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)

    # --- a fresh team and a fresh queue --------------------------------------------
    Customer.objects.filter(name__startswith="bench-").delete()
    User.objects.filter(username__startswith="bench-agent-").delete()
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
        user = User.objects.create_user(username=f"bench-agent-{i:03d}", first_name=f"Agent {i}")
        profile = services.agent_profile_for(user)
        AgentProfile.objects.filter(pk=profile.pk).update(capacity=CAPACITIES[i % len(CAPACITIES)])
        profile.skills.set([skills[s] for s in SKILL_SETS[i % len(SKILL_SETS)]])
        services.presence_set(user=user, status=AgentProfile.Presence.ONLINE, now=now)
        agents.append(user)
    total_capacity = sum(AgentProfile.objects.filter(user__in=agents).values_list("capacity", flat=True))

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
    ids = [c.pk for c in conversations]
    first_decision = RoutingDecision.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    # --- timing hooks: commit of the handoff, commit of the assignment ------------------
    handed_at: dict[int, float] = {}
    assigned_at: dict[int, float] = {}

    def on_assigned(sender, *, conversation, **kwargs):
        pk = conversation.pk
        transaction.on_commit(lambda: assigned_at.setdefault(pk, time.perf_counter()))

    signals.conversation_assigned.connect(on_assigned, dispatch_uid="bench.routing")

    # --- monitor: capacity read from the rows, never from the counters ---------------
    violations = 0
    stop = threading.Event()

    def monitor():
        nonlocal violations
        while not stop.is_set():
            over = (
                AgentProfile.objects.filter(user__in=agents)
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

    # --- workers ---------------------------------------------------------------------
    todo = list(ids)
    todo_lock = threading.Lock()
    errors: list[str] = []

    def resolve_oldest_if_busy():
        with transaction.atomic():
            active = Conversation.objects.filter(status=Conversation.Status.ASSIGNED)
            if active.count() <= args.busy * total_capacity:
                return
            oldest = (
                active.select_for_update(skip_locked=True, of=("self",))
                .order_by("assigned_at", "pk")
                .select_related("assigned_agent")
                .first()
            )
            if oldest is not None:
                conversation_services.conversation_resolve(conversation_id=oldest.pk, agent=oldest.assigned_agent)

    def worker():
        try:
            while True:
                with todo_lock:
                    if not todo:
                        return
                    pk = todo.pop(0)
                conversation = Conversation.objects.get(pk=pk)
                with transaction.atomic():
                    transaction.on_commit(lambda pk=pk: handed_at.__setitem__(pk, time.perf_counter()))
                    conversation_services.conversation_handoff(conversation=conversation, reason="customer_request")
                resolve_oldest_if_busy()
        except Exception as e:  # reported in the figures, not swallowed
            errors.append(repr(e))
        finally:
            connection.close()

    watcher = threading.Thread(target=monitor)
    watcher.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    signals.conversation_assigned.disconnect(dispatch_uid="bench.routing")

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
        "errors": errors[:5],
        "database": connection.vendor,
    }
    if not args.json:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

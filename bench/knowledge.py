"""Knowledge-base benchmark: import rate and per-question latency at 10,000 entries.

    python -m bench.knowledge --entries 10000 --questions 300 --json

Runs against the configured database (SQLite by default; PostgreSQL + HNSW with
DATABASE_URL) — use a scratch one: it adds entries with ids "bench-…" and removes
them at the end. The entries are synthetic help-centre articles built from a
product vocabulary; questions are re-phrased entry questions and off-topic ones.
The last line printed is one JSON object of figures.
"""

import argparse
import json
import os
import random
import time

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

OBJECTS = [
    "invoice",
    "password",
    "account",
    "folder",
    "file",
    "link",
    "plan",
    "subscription",
    "card",
    "payment",
    "device",
    "phone",
    "laptop",
    "team",
    "member",
    "backup",
    "version",
    "photo",
    "album",
    "calendar",
    "contact",
    "note",
    "project",
    "report",
    "export",
    "import",
    "printer",
    "router",
    "license",
    "seat",
    "workspace",
    "channel",
    "integration",
    "webhook",
    "token",
    "domain",
    "certificate",
    "mailbox",
    "signature",
    "template",
    "dashboard",
    "widget",
]
ACTIONS = [
    "reset",
    "change",
    "share",
    "delete",
    "restore",
    "download",
    "upload",
    "rename",
    "move",
    "sync",
    "cancel",
    "upgrade",
    "renew",
    "transfer",
    "merge",
    "archive",
    "export",
    "import",
    "verify",
    "connect",
    "disconnect",
    "schedule",
    "lock",
    "unlock",
    "recover",
    "encrypt",
]
CONTEXTS = (
    "on Android",
    "on iPhone",
    "from the web app",
    "for my whole team",
    "after a trial",
    "while travelling",
    "with two-factor on",
    "in bulk",
    "for a former employee",
    "on a shared computer",
    "offline",
    "by e-mail",
    "via the API",
    "on Linux",
    "during an outage",
    "for a child account",
    "with a custom domain",
    "on macOS",
)
OFF_TOPIC = [
    "What's the weather like on Mars tomorrow?",
    "Recommend a pasta recipe",
    "Who won the match last night?",
    "How tall is the Eiffel tower?",
    "Write me a poem about autumn",
    "What is the capital of Peru?",
]


def synthetic_entries(n: int, rng: random.Random):
    from knowledge.services import EntryData

    seen, entries = set(), []
    while len(entries) < n:
        action, obj, context = rng.choice(ACTIONS), rng.choice(OBJECTS), rng.choice(CONTEXTS)
        key = f"bench-{action}-{obj}-{context}".replace(" ", "-").lower()
        if key in seen:
            continue
        seen.add(key)
        questions = (
            f"How do I {action} my {obj} {context}?",
            f"Can I {action} a {obj} {context}?",
            f"I need to {action} the {obj} {context}",
        )
        body = (
            f"To {action} your {obj} {context}, open Settings, choose {obj.capitalize()} and select "
            f"{action.capitalize()}. Changes apply at once on every device."
        )
        entries.append(EntryData(key, f"{action.capitalize()} your {obj} {context}", body, questions))
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from knowledge import bot, retrieval, services
    from knowledge.embeddings import embed_array
    from knowledge.models import BotConfig, Entry
    from knowledge.retrieval import live_index
    from knowledge.services import entries_upsert, entry_chunks
    from knowledge.tasks import classifier_build

    call_command("migrate", verbosity=0)
    Entry.objects.filter(external_id__startswith="bench-").delete()
    rng = random.Random(args.seed)
    entries = synthetic_entries(args.entries, rng)
    chunks = sum(len(entry_chunks(e)) for e in entries)
    embed_array(["warm up the model"])
    services.task_enqueue = lambda *args, **kwargs: None  # the classifier task is timed on its own below
    started = time.perf_counter()
    entries_upsert(entries=entries)
    import_s = time.perf_counter() - started

    started = time.perf_counter()
    classifier_build()  # what the task does after an import: train the classifier and store it
    scorer_s = time.perf_counter() - started
    retrieval._matrix_cache = None  # as a new process: the stored classifier is loaded, BM25 built
    started = time.perf_counter()
    live_index().scorer  # noqa: B018
    scorer_load_s = time.perf_counter() - started

    origin = {}  # question -> the entry it was made from
    for entry in rng.sample(entries, k=args.questions):
        origin[rng.choice(entry.questions).replace("How do I", "What's the way to")] = entry.external_id
    on_topic = list(origin)
    questions = on_topic + [rng.choice(OFF_TOPIC) for _ in range(args.questions // 5)]
    threshold = BotConfig.load().confidence_threshold
    vectors = embed_array(questions)
    scoring_ms, total_ms, right = [], [], 0
    for question, vector, n in zip(questions, vectors, range(len(questions)), strict=True):
        started = time.perf_counter()
        reply = bot.answer_with(question, index=live_index(), threshold=threshold, vector=vector)
        scoring_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        bot.answer_with(question, index=live_index(), threshold=threshold)
        total_ms.append((time.perf_counter() - started) * 1000)
        if n < len(on_topic) and reply.sources and reply.sources[0]["id"] == origin.get(question):
            right += 1
    Entry.objects.filter(external_id__startswith="bench-").delete()
    figures = {
        "database": connection.vendor,
        "entries": len(entries),
        "chunks": chunks,
        "import_chunks_per_s": round(chunks / import_s, 1),
        "scorer_build_s": round(scorer_s, 2),
        "scorer_load_s": round(scorer_load_s, 2),
        "questions": len(questions),
        "p50_ms": round(float(np.percentile(scoring_ms, 50)), 2),
        "p99_ms": round(float(np.percentile(scoring_ms, 99)), 2),
        "p99_ms_with_embedding": round(float(np.percentile(total_ms, 99)), 2),
        "top1_on_topic": round(right / len(on_topic), 3),
    }
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()

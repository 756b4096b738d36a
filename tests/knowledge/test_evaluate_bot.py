import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Entry
from knowledge.scoring import FEATURES

KB = [
    {
        "id": "reset-password",
        "title": "Reset your password",
        "questions": ["I forgot my password"],
        "body": "Use the reset link.",
    },
    {
        "id": "refunds",
        "title": "Refunds",
        "questions": ["Can I get my money back?"],
        "body": "Yearly plans are refunded within 14 days.",
    },
    {
        "id": "linux-app",
        "title": "Linux app",
        "questions": ["Is there a Linux client?"],
        "body": "Yes, as .deb and .rpm.",
    },
]
CASES = [
    {"question": "How do I reset my password?", "expected": "reset-password"},
    {"question": "I want a refund", "expected": "refunds"},
    {"question": "Does it run on Ubuntu?", "expected": "linux-app"},
    {"question": "What's the weather like on Mars tomorrow?", "expected": None},
    {"question": "Recommend a good pasta recipe", "expected": None},
]


def _file(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def _run(*args):
    out = StringIO()
    call_command("evaluate_bot", *args, stdout=out, verbosity=0)
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_json_figures_on_the_last_line_and_the_live_kb_untouched(tmp_path):
    lines = _run("--kb", _file(tmp_path, "kb.jsonl", KB), "--cases", _file(tmp_path, "c.jsonl", CASES), "--json")
    figures = json.loads(lines[-1])
    assert set(figures) >= {
        "in_scope_accuracy",
        "oos_recall",
        "answered_precision",
        "threshold",
        "n_cases",
        "p50_ms",
        "p99_ms",
        "kb_entries",
    }
    assert figures["n_cases"] == 5 and figures["kb_entries"] == 3
    assert figures["in_scope_accuracy"] == 1.0
    assert figures["oos_recall"] == 1.0
    assert figures["answered_precision"] == 1.0
    assert not Entry.objects.exists()


@pytest.mark.django_db
def test_a_threshold_of_zero_answers_everything(tmp_path):
    lines = _run(
        "--kb",
        _file(tmp_path, "kb.jsonl", KB),
        "--cases",
        _file(tmp_path, "c.jsonl", CASES),
        "--threshold",
        "0",
        "--json",
    )
    figures = json.loads(lines[-1])
    assert figures["oos_recall"] == 0.0
    assert figures["answered_precision"] == pytest.approx(3 / 5)


@pytest.mark.django_db
def test_calibration_picks_the_threshold_on_the_validation_cases(tmp_path):
    kb, cases = _file(tmp_path, "kb.jsonl", KB), _file(tmp_path, "c.jsonl", CASES)
    lines = _run("--kb", kb, "--cases", cases, "--calibrate", cases, "--json", "--sweep")
    assert lines[0].startswith("Calibrated on 5 cases: confidence model fitted")
    assert lines[1].split() == ["threshold", "in_scope_accuracy", "oos_recall", "answered_precision"]
    figures = json.loads(lines[-1])
    # Scored on its own validation cases, the target recall is met by construction.
    assert figures["oos_recall"] >= 0.75
    assert figures["in_scope_accuracy"] >= 2 / 3
    assert 0 < figures["threshold"] < 1
    assert len(figures["model"]["weights"]) == len(FEATURES) + 1


@pytest.mark.parametrize(
    ("kb_rows", "case_rows", "message"),
    [
        (KB, [], "has no cases"),
        ([], CASES, "has no entries"),
        (KB, [CASES[0], "{oops"], "line 2: not valid JSON"),
        (
            KB,
            [CASES[0], {"question": "hi", "expected": "nope"}],
            "line 2: expected id 'nope' is not in the knowledge base",
        ),
        (KB, [{"question": "hi"}], "line 1: 'expected' is missing"),
        (KB, [{"question": "", "expected": None}], "line 1: expected"),
    ],
)
def test_bad_files_get_a_clear_error(tmp_path, kb_rows, case_rows, message):
    with pytest.raises(CommandError, match=message):
        _run("--kb", _file(tmp_path, "kb.jsonl", kb_rows), "--cases", _file(tmp_path, "c.jsonl", case_rows))


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CommandError, match=r"nope\.jsonl: no such file"):
        _run("--kb", str(tmp_path / "nope.jsonl"), "--cases", str(tmp_path / "c.jsonl"))


def test_the_evaluated_store_searches_like_the_live_bot_on_this_database(db):
    from django.db import connection

    from knowledge import evaluation
    from knowledge.embeddings import embed_array
    from knowledge.services import EntryData

    entries = [
        EntryData(external_id=e["id"], title=e["title"], body=e["body"], questions=tuple(e["questions"])) for e in KB
    ]
    exact = evaluation.index_from_entries(entries)
    store = evaluation.database_index(exact)
    if connection.vendor == "postgresql":
        assert isinstance(store, evaluation.PgVectorEvalIndex)  # pgvector's HNSW, as the live bot
    else:
        assert store is exact  # the exact numpy search, as the live bot
    for case in CASES:
        vector = embed_array([case["question"]])[0]
        assert [h.entry_key for h in store.search(vector, 3)] == [h.entry_key for h in exact.search(vector, 3)]
    assert not Entry.objects.exists()  # the live knowledge base was never touched

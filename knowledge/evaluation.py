"""Scoring the bot on labelled questions (format and metrics: docs/bot.md).

The knowledge base is loaded into an in-memory index that never touches the
database, and each question goes through ``bot.answer_with`` — the live bot's
own code — once; the metrics at any threshold follow from the recorded outcomes.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.bot import answer_with
from knowledge.embeddings import DIMENSIONS, embed_array
from knowledge.retrieval import EntryInfo, MatrixIndex
from knowledge.services import EntryData, KbFormatError, entry_chunks


@dataclass(frozen=True)
class Case:
    question: str
    expected: str | None


@dataclass(frozen=True)
class Outcome:
    expected: str | None
    predicted: str | None  # top source, or None when the bot handed off regardless of threshold
    confidence: float  # -1 when the bot handed off regardless of threshold (a request for a person)
    ms: float


@dataclass(frozen=True)
class Metrics:
    threshold: float
    in_scope_accuracy: float
    oos_recall: float
    answered_precision: float
    n_cases: int


def index_from_entries(entries: list[EntryData], *, progress: Callable[[int], None] | None = None) -> MatrixIndex:
    keys, kinds, shown, embedded = [], [], [], []
    for data in entries:
        for kind, text, to_embed in entry_chunks(data):
            keys.append(data.external_id)
            kinds.append(kind)
            shown.append(text)
            embedded.append(to_embed)
    vectors = []
    for start in range(0, len(embedded), 256):
        vectors.append(embed_array(embedded[start : start + 256]))
        if progress:
            progress(len(vectors[-1]))
    return MatrixIndex(
        keys=keys,
        kinds=kinds,
        texts=shown,
        matrix=np.concatenate(vectors) if vectors else np.zeros((0, DIMENSIONS), dtype=np.float32),
        entries={d.external_id: EntryInfo(d.external_id, d.title, d.body, d.url) for d in entries},
    )


def read_cases(path: Path | str, *, known_ids: set[str]) -> list[Case]:
    cases = []
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError as e:
                raise KbFormatError(f"{path} line {line_no}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not obj["question"].strip():
                raise KbFormatError(f"{path} line {line_no}: expected {{'question': str, 'expected': id or null}}")
            if "expected" not in obj:
                raise KbFormatError(f"{path} line {line_no}: 'expected' is missing (use null for out-of-scope)")
            expected = obj["expected"]
            if expected is not None and (not isinstance(expected, str) or expected not in known_ids):
                raise KbFormatError(f"{path} line {line_no}: expected id {expected!r} is not in the knowledge base")
            cases.append(Case(obj["question"], expected))
    if not cases:
        raise KbFormatError(f"{path}: the file has no cases")
    return cases


def run_cases(cases: list[Case], *, index: MatrixIndex, progress: Callable[[int], None] | None = None) -> list[Outcome]:
    outcomes = []
    for case in cases:
        started = time.perf_counter()
        reply = answer_with(case.question, index=index, threshold=0.0)
        ms = (time.perf_counter() - started) * 1000
        if reply.confidence is None or not reply.sources:
            outcomes.append(Outcome(case.expected, None, -1.0, ms))
        else:
            outcomes.append(Outcome(case.expected, reply.sources[0]["id"], reply.confidence, ms))
        if progress:
            progress(1)
    return outcomes


def metrics_at(outcomes: list[Outcome], threshold: float) -> Metrics:
    in_scope = [o for o in outcomes if o.expected is not None]
    oos = [o for o in outcomes if o.expected is None]
    answered = [o for o in outcomes if o.predicted is not None and o.confidence >= threshold]
    return Metrics(
        threshold=threshold,
        in_scope_accuracy=sum(o in answered and o.predicted == o.expected for o in in_scope) / max(len(in_scope), 1),
        oos_recall=sum(o not in answered for o in oos) / max(len(oos), 1),
        answered_precision=sum(o.predicted == o.expected for o in answered) / max(len(answered), 1),
        n_cases=len(outcomes),
    )


def calibrate(outcomes: list[Outcome]) -> Metrics:
    """The threshold that maximises in-scope accuracy + out-of-scope recall."""
    candidates = sorted({round(o.confidence, 4) for o in outcomes if o.confidence >= 0} | {0.0, 1.0})
    return max(
        (metrics_at(outcomes, t) for t in candidates), key=lambda m: (m.in_scope_accuracy + m.oos_recall, -m.threshold)
    )


def latency(outcomes: list[Outcome]) -> dict[str, float]:
    ms = np.array([o.ms for o in outcomes])
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}

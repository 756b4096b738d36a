"""Scoring the bot on labelled questions (format and metrics: docs/bot.md).

The knowledge base is loaded into an index that never touches the live knowledge
base: in memory, and on PostgreSQL also into a temporary table with the same HNSW
index as the live one, so retrieval is pgvector's there, as in production.
Calibration fits the confidence model and the threshold on validation cases;
scoring runs every question through ``bot.answer_with`` — the live bot's own
code — and the metrics at any threshold follow from the recorded outcomes.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.db import connection

from knowledge import bot, queries
from knowledge.embeddings import DIMENSIONS, embed_array
from knowledge.intents import wants_human
from knowledge.retrieval import EntryInfo, Hit, MatrixIndex
from knowledge.scoring import ConfidenceModel
from knowledge.services import EntryData, KbFormatError, entry_chunks

DEFAULT_TARGET_OOS_RECALL = 0.75


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


class PgVectorEvalIndex(MatrixIndex):
    """An evaluated knowledge base searched by pgvector's HNSW index, like the live
    bot on PostgreSQL (``knowledge.queries``: a temporary table of this connection)."""

    def search(self, vector: np.ndarray, k: int) -> list[Hit]:
        rows = queries.eval_index_search(vector, k)
        return [Hit(self.keys[i], self.kinds[i], self.texts[i], 1.0 - float(distance)) for i, distance in rows]


def database_index(index: MatrixIndex) -> MatrixIndex:
    """On PostgreSQL, the same knowledge base behind pgvector's HNSW index; elsewhere
    the exact in-memory index, which is what the live bot uses on SQLite."""
    if connection.vendor != "postgresql":
        return index
    queries.eval_index_create(index.matrix)
    return PgVectorEvalIndex(
        keys=list(index.keys), kinds=index.kinds, texts=index.texts, matrix=index.matrix, entries=index._entries
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


def run_cases(
    cases: list[Case],
    *,
    index: MatrixIndex,
    model: ConfidenceModel,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Ask the bot every question (threshold 0, so each outcome holds its confidence);
    the time of each includes embedding the question, as in the live bot."""
    outcomes = []
    for case in cases:
        started = time.perf_counter()
        reply = bot.answer_with(case.question, index=index, threshold=0.0, model=model)
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
    answered_ids = {id(o) for o in answered}
    return Metrics(
        threshold=threshold,
        in_scope_accuracy=sum(id(o) in answered_ids and o.predicted == o.expected for o in in_scope)
        / max(len(in_scope), 1),
        oos_recall=sum(id(o) not in answered_ids for o in oos) / max(len(oos), 1),
        answered_precision=sum(o.predicted == o.expected for o in answered) / max(len(answered), 1),
        n_cases=len(outcomes),
    )


def choose_threshold(outcomes: list[Outcome], *, target_oos_recall: float) -> Metrics:
    """The lowest threshold that hands off at least ``target_oos_recall`` of the
    out-of-scope questions: the most answers the bot can give at that safety level.
    Without out-of-scope cases: the threshold that maximises in-scope accuracy."""
    candidates = sorted({o.confidence for o in outcomes if o.confidence >= 0} | {0.0, 1.0})
    measured = [metrics_at(outcomes, t) for t in candidates]
    if not any(o.expected is None for o in outcomes):
        return max(measured, key=lambda m: (m.in_scope_accuracy, -m.threshold))
    return next(m for m in measured if m.oos_recall >= target_oos_recall)


def calibrate(
    cases: list[Case],
    *,
    index: MatrixIndex,
    target_oos_recall: float = DEFAULT_TARGET_OOS_RECALL,
    learn_phrasings: bool = True,
    folds: int = 5,
    progress: Callable[[int], None] | None = None,
) -> tuple[ConfidenceModel, MatrixIndex]:
    """Fit the confidence model and choose its threshold on labelled cases.

    With ``learn_phrasings``, the in-scope cases also teach the entry classifier, as
    agent-confirmed questions do in the live bot. Cross-fitting keeps that honest:
    each case is scored by a classifier trained without its fold. Returns the model
    and the index to score with (its classifier trained on every labelled case).
    """
    asked = [c for c in cases if not wants_human(c.question)]
    vectors = embed_array([c.question for c in asked])
    labelled = [i for i, c in enumerate(asked) if c.expected is not None] if learn_phrasings else []
    fold = np.arange(len(asked)) % folds if labelled else np.zeros(len(asked), dtype=int)
    scored = [None] * len(asked)
    for f in sorted(set(fold.tolist())):
        train = [i for i in labelled if fold[i] != f]
        fold_index = (
            index.with_labelled_questions([asked[i].expected for i in train], vectors[train]) if labelled else index
        )
        for i in np.flatnonzero(fold == f):
            scored[i] = bot.score(asked[i].question, index=fold_index, vector=vectors[i])
            if progress:
                progress(1)
    kept = [(case, s) for case, s in zip(asked, scored, strict=True) if s.entry_key is not None]
    correct = np.array([c.expected is not None and s.entry_key == c.expected for c, s in kept], dtype=float)
    if len(set(correct.tolist())) < 2:
        raise KbFormatError("calibration needs cases the bot gets right and cases it gets wrong")
    model = ConfidenceModel.fit(np.array([s.features for _, s in kept]), correct)
    outcomes = [Outcome(c.expected, s.entry_key, model(s.features), 0.0) for c, s in kept]
    outcomes += [Outcome(c.expected, None, -1.0, 0.0) for c in cases if wants_human(c.question)]
    threshold = choose_threshold(outcomes, target_oos_recall=target_oos_recall).threshold
    final = (
        index.with_labelled_questions([asked[i].expected for i in labelled], vectors[labelled]) if labelled else index
    )
    return replace(model, threshold=threshold), final


def latency(outcomes: list[Outcome]) -> dict[str, float]:
    ms = np.array([o.ms for o in outcomes])
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}

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
from knowledge.models import Chunk
from knowledge.retrieval import EntryInfo, Hit, MatrixIndex
from knowledge.scoring import FUSION_CHOICES, ConfidenceModel, prior_estimate, shift_confidences
from knowledge.services import EntryData, KbFormatError, entry_chunks

DEFAULT_TARGET_OOS_RECALL = 0.75


def operating_point(*, oos_recall: float | None, precision: float | None) -> tuple[str, float]:
    """(target metric, value) from what a command was given: a precision target, an
    out-of-scope recall target, or the default."""
    if precision is not None:
        return "answered_precision", precision
    return "oos_recall", DEFAULT_TARGET_OOS_RECALL if oos_recall is None else oos_recall


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


QUESTIONS_PER_BATCH = 256  # as many as the knowledge base's import embeds at once


def run_cases(
    cases: list[Case],
    *,
    index: MatrixIndex,
    model: ConfidenceModel,
    batch: int = QUESTIONS_PER_BATCH,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Ask the bot every question (threshold 0, so each outcome holds its confidence).

    Questions are embedded ``batch`` at a time, then each goes through the live
    bot's ``answer_with`` with its vector, as ``bot.answer_many`` does for
    concurrent customers; a question's time is its share of the batch's embedding
    plus its own decision."""
    outcomes = []
    for start in range(0, len(cases), batch):
        part = cases[start : start + batch]
        started = time.perf_counter()
        asked = [c.question for c in part if not wants_human(c.question)]
        vectors = iter(embed_array(asked)) if asked else iter(())
        embedding_ms = (time.perf_counter() - started) * 1000 / max(len(asked), 1)
        for case in part:
            started = time.perf_counter()
            vector = None if wants_human(case.question) else next(vectors)
            reply = bot.answer_with(case.question, index=index, threshold=0.0, model=model, vector=vector)
            ms = (time.perf_counter() - started) * 1000 + (embedding_ms if vector is not None else 0.0)
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


def _curves(outcomes: list[Outcome]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every candidate threshold (each confidence seen, and 0 and 1) with the three
    metrics at each: ``metrics_at`` for all of them at once, by counting answers
    above each threshold over the outcomes sorted by confidence."""
    confidence = np.array([o.confidence for o in outcomes], dtype=np.float64)
    right = np.array([o.predicted is not None and o.predicted == o.expected for o in outcomes])
    oos = np.array([o.expected is None for o in outcomes])
    order = np.argsort(confidence)
    confidence, right, oos = confidence[order], right[order], oos[order]
    thresholds = np.unique(np.r_[confidence[confidence >= 0], 0.0, 1.0])
    first = np.searchsorted(confidence, thresholds, side="left")  # answered: positions first..end

    def above(mask: np.ndarray) -> np.ndarray:
        tail = np.r_[np.cumsum(mask[::-1])[::-1], 0]
        return tail[first]

    answered, answered_right, answered_oos = above(np.ones(len(confidence), bool)), above(right), above(oos)
    n_in, n_oos = int((~oos).sum()), int(oos.sum())
    return thresholds, {
        "in_scope_accuracy": answered_right / max(n_in, 1),
        "oos_recall": (n_oos - answered_oos) / max(n_oos, 1),
        "answered_precision": np.where(answered > 0, answered_right / np.maximum(answered, 1), 0.0),
    }


def choose_threshold(outcomes: list[Outcome], *, target: str, value: float) -> Metrics:
    """The lowest threshold that reaches ``value`` of the ``target`` metric: the most
    answers the bot can give at that safety level. ``oos_recall``: the share of
    out-of-scope questions handed off; ``answered_precision``: the share of its
    answers that are right. Without out-of-scope cases and a recall target: the
    threshold that maximises in-scope accuracy. When no threshold reaches the
    target, the one that comes closest (the highest for precision)."""
    thresholds, curves = _curves(outcomes)
    if target == "oos_recall" and not any(o.expected is None for o in outcomes):
        at = int(np.argmax(curves["in_scope_accuracy"]))  # the first, i.e. lowest, best threshold
    elif (reached := np.flatnonzero(curves[target] >= value - 1e-12)).size:
        at = int(reached[0])
    else:
        at = len(thresholds) - 1 - int(np.argmax(curves[target][::-1]))
    return metrics_at(outcomes, float(thresholds[at]))


def expected_precision_threshold(confidences: np.ndarray, *, value: float) -> float:
    """The lowest threshold at which the answers' mean confidence is at least
    ``value``: for calibrated confidences, the expected share of right answers.
    It needs no labels, so it can be chosen on a deployment's own questions."""
    ranked = np.sort(np.asarray(confidences, dtype=np.float64))[::-1]
    mean = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    reached = np.flatnonzero(mean >= value)
    return float(ranked[reached[-1]]) if reached.size else 1.0


@dataclass(frozen=True)
class Adaptation:
    prior: float  # estimated share of right answers among the questions
    model: ConfidenceModel  # shifted to it, with the threshold for the precision target


def adapt(confidences: np.ndarray, *, model: ConfidenceModel, value: float) -> Adaptation:
    """The model moved to the share of right answers among unlabelled questions
    (estimated from their ``confidences`` under ``model``), and the threshold at
    which its answers are right ``value`` of the time by its own account. Measured
    on banking77 with the validation and test sets resampled to other shares of
    out-of-scope questions: docs/bot.md."""
    if model.prior is None:
        raise ValueError("adapting needs a model that knows the share of right answers it was fitted at")
    prior = prior_estimate(confidences, fitted_prior=model.prior)
    shifted = shift_confidences(confidences, fitted=model.prior, prior=prior)
    threshold = expected_precision_threshold(shifted, value=value)
    return Adaptation(prior, replace(model.shifted(prior), threshold=threshold))


@dataclass(frozen=True)
class Fit:
    """A calibration: the model with its threshold and fitted prior, and what it did
    on the cases it was fitted on."""

    model: ConfidenceModel
    target: str
    value: float
    metrics: Metrics
    bootstrap: dict  # metric -> [5th, 50th, 95th percentile] over resamples of the cases
    n_out_of_scope: int

    def figures(self) -> dict:
        return {
            "target": self.target,
            "target_value": self.value,
            "threshold": round(self.model.threshold, 4),
            "fitted_prior": round(self.model.prior, 4),
            "fusion": self.model.fusion,
            "in_scope_accuracy": round(self.metrics.in_scope_accuracy, 4),
            "oos_recall": round(self.metrics.oos_recall, 4),
            "answered_precision": round(self.metrics.answered_precision, 4),
            "n_cases": self.metrics.n_cases,
            "n_out_of_scope": self.n_out_of_scope,
            "bootstrap": self.bootstrap,
        }


BOOTSTRAP_RESAMPLES = 200


def bootstrap(outcomes: list[Outcome], *, target: str, value: float, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """How much the chosen operating point owes to the particular cases: the threshold
    rule re-run on resamples (with replacement) of them, as 5th, 50th and 95th
    percentiles of the threshold and of each metric at it."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(resamples):
        sample = [outcomes[i] for i in rng.integers(0, len(outcomes), len(outcomes))]
        m = choose_threshold(sample, target=target, value=value)
        rows.append((m.threshold, m.in_scope_accuracy, m.oos_recall, m.answered_precision))
    names = ("threshold", "in_scope_accuracy", "oos_recall", "answered_precision")
    table = np.percentile(np.array(rows), [5, 50, 95], axis=0)
    return {name: [round(float(v), 4) for v in table[:, j]] for j, name in enumerate(names)}


def calibrate(
    cases: list[Case],
    *,
    index: MatrixIndex,
    target: str = "oos_recall",
    value: float = DEFAULT_TARGET_OOS_RECALL,
    progress: Callable[[int], None] | None = None,
) -> Fit:
    """Fit the confidence model and choose its threshold on labelled cases.

    The cases only fit the model: the entry classifier is the knowledge base's own,
    exactly as the live bot has it, so a saved calibration scores the same there.
    """
    asked = [c for c in cases if not wants_human(c.question)]
    texts = [c.question for c in asked]
    vectors = np.zeros((0, DIMENSIONS), dtype=np.float32)
    if texts:
        batches = range(0, len(texts), QUESTIONS_PER_BATCH)
        vectors = np.concatenate([embed_array(texts[i : i + QUESTIONS_PER_BATCH]) for i in batches])
    scored = _scored_each_way(texts, vectors, index=index)
    if progress:
        progress(len(asked))
    return _fit(asked, scored, target=target, value=value, handoffs=[c for c in cases if wants_human(c.question)])


def _scored_each_way(questions: list[str], vectors: np.ndarray, *, index: MatrixIndex) -> dict[float, list]:
    """Each question scored with each of the classifier weights a calibration chooses from."""
    return {
        fusion: [bot.score(q, index=index, vector=v, fusion=fusion) for q, v in zip(questions, vectors, strict=True)]
        for fusion in FUSION_CHOICES
    }


def _fit(
    cases: list[Case], scored_by_fusion: dict[float, list], *, target: str, value: float, handoffs: list[Case] = ()
) -> Fit:
    """The model fitted on scored cases, and the threshold for the operating point.

    The classifier's weight in choosing the entry is the one that chose right most
    often among these cases (the first such in ``FUSION_CHOICES``)."""

    def right(scored: list) -> int:
        return sum(c.expected is not None and s.entry_key == c.expected for c, s in zip(cases, scored, strict=True))

    fusion = max(FUSION_CHOICES, key=lambda f: (right(scored_by_fusion[f]), -FUSION_CHOICES.index(f)))
    scored = scored_by_fusion[fusion]
    kept = [(case, s) for case, s in zip(cases, scored, strict=True) if s.entry_key is not None]
    correct = np.array([c.expected is not None and s.entry_key == c.expected for c, s in kept], dtype=float)
    if len(set(correct.tolist())) < 2:
        raise KbFormatError("calibration needs cases the bot gets right and cases it gets wrong")
    model = ConfidenceModel.fit(np.array([s.features for _, s in kept]), correct)
    outcomes = [Outcome(c.expected, s.entry_key, model(s.features), 0.0) for c, s in kept]
    outcomes += [Outcome(c.expected, None, -1.0, 0.0) for c in handoffs]
    chosen = choose_threshold(outcomes, target=target, value=value)
    return Fit(
        model=replace(model, threshold=chosen.threshold, fusion=fusion),
        target=target,
        value=value,
        metrics=chosen,
        bootstrap=bootstrap(outcomes, target=target, value=value),
        n_out_of_scope=sum(c.expected is None for c in [*cases, *handoffs]),
    )


SELF_FOLDS = 5  # a fifth of the entries out of scope in each fold
SELF_HELD_PHRASINGS = 4  # every fourth phrasing of the other entries asked as a question


def calibrate_on_entries(
    index: MatrixIndex,
    *,
    target: str = "oos_recall",
    value: float = DEFAULT_TARGET_OOS_RECALL,
    progress: Callable[[int], None] | None = None,
) -> Fit:
    """Fit the confidence model on the knowledge base's own phrasings, with no
    validation set: in each of five folds, a fifth of the entries is taken out
    (their phrasings become questions that must be handed off) and every fourth
    phrasing of the others is asked (it must find its entry), against an index and
    a classifier built without any of them. On banking77's test set this comes within
    0.015 of the validation-set calibration, with no validation set (docs/bot.md)."""
    keys, kinds = list(index.keys), index.kinds
    entry_ids = sorted(set(keys))
    asked: list[tuple[int, str | None]] = []
    scored: dict[float, list] = {}
    for fold in range(SELF_FOLDS):
        out = {key for i, key in enumerate(entry_ids) if i % SELF_FOLDS == fold}
        keep = np.zeros(len(keys), dtype=bool)
        questions: list[tuple[int, str | None]] = []
        seen: dict[str, int] = {}
        for i, (key, kind) in enumerate(zip(keys, kinds, strict=True)):
            phrasing = kind == Chunk.Kind.QUESTION
            if key in out:
                questions += [(i, None)] if phrasing else []
                continue
            if phrasing:
                seen[key] = seen.get(key, 0) + 1
                if (seen[key] + fold) % SELF_HELD_PHRASINGS == 0:
                    questions.append((i, key))
                    continue
            keep[i] = True
        rows = np.flatnonzero(keep)
        fold_index = MatrixIndex(
            keys=[keys[i] for i in rows],
            kinds=[kinds[i] for i in rows],
            texts=[index.texts[i] for i in rows],
            matrix=index.matrix[rows],
            entries=index._entries,
        )
        asked_rows = [i for i, _ in questions]
        fold_scored = _scored_each_way([index.texts[i] for i in asked_rows], index.matrix[asked_rows], index=fold_index)
        for fusion, part in fold_scored.items():
            scored.setdefault(fusion, []).extend(part)
        asked += questions
        if progress:
            progress(1)
    if not any(expected is not None for _, expected in asked):
        raise KbFormatError(
            "calibrating on the knowledge base needs entries with several phrasings; give validation questions"
        )
    cases = [Case(index.texts[i], expected) for i, expected in asked]
    return _fit(cases, scored, target=target, value=value)


def latency(outcomes: list[Outcome]) -> dict[str, float]:
    ms = np.array([o.ms for o in outcomes])
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}

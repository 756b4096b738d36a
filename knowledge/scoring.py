"""Which entry answers a question, and how sure the bot is (docs/bot.md).

Three kinds of evidence about each candidate entry, from one query embedding:
- dense: cosine similarity of the question to the entry's chunks (best, and mean
  of the best three) and how far the best entry leads the next;
- a classifier: softmax regression over the entries' own phrasings, trained when
  the knowledge base changes; it learns what *distinguishes* similar entries,
  which raw similarity cannot;
- lexical: BM25 over each entry's title, phrasings and text.
The answer is the retrieved entry with the best fused dense + classifier score;
the confidence is a logistic model over these features, fitted on labelled
validation questions (``evaluate_bot --calibrate``), never on a test set.
"""

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from knowledge.models import Chunk

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

FEATURES = (
    "classifier_p",
    "classifier_margin",
    "dense_top",
    "dense_margin",
    "dense_top3",
    "dense_top3_margin",
    "neighbour_agreement",
    "classifier_entropy",
    "classifier_agrees_with_dense",
    "bm25",
    "bm25_relative",
    "bm25_margin",
    "bm25_agrees",
    "question_tokens",
    "distinct_neighbours",
    "classifier_p_x_dense_top",
    "classifier_log_odds",
)
NEIGHBOURS = 10
# How much the classifier's log-probability counts beside the dense similarity when
# choosing the entry: the shipped default, and the weights a calibration chooses
# from by top-1 accuracy on what it is fitted on (docs/bot.md: 0 is best for
# articles without phrasings, 0.05-0.5 within 0.007 of each other on banking77).
FUSION_CLASSIFIER_WEIGHT = 0.1
FUSION_CHOICES = (0.0, 0.05, 0.1, 0.2, 0.5)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class Lexical:
    """Okapi BM25 with each entry's chunks as one document, scored only for the
    candidate entries: the cost per question does not grow with the knowledge base."""

    k1 = 1.2
    b = 0.75

    def __init__(self, keys: list[str], texts: list[str], order: dict[str, int]):
        self.docs: list[Counter] = [Counter() for _ in order]
        for key, text in zip(keys, texts, strict=True):
            self.docs[order[key]].update(tokenize(text))
        lengths = [sum(d.values()) for d in self.docs]
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        self.norms = [self.k1 * (1 - self.b + self.b * n / average) for n in lengths]
        frequency = Counter(term for doc in self.docs for term in doc)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}

    def scores(self, question: str, docs: list[int]) -> np.ndarray:
        terms = [t for t in set(tokenize(question)) if t in self.idf]
        out = np.zeros(len(docs), dtype=np.float64)
        for j, i in enumerate(docs):
            doc, norm = self.docs[i], self.norms[i]
            for term in terms:
                tf = doc.get(term)
                if tf:
                    out[j] += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return out


class EntryClassifier:
    """Softmax regression from a question embedding to the entry that answers it,
    trained on the entries' titles and phrasings (passages describe; they are not
    questions).

    The softmax runs over *candidates*, not every entry: in training, each example's
    entry and the entries whose centroids are nearest to it; when asked, the
    entries retrieval found. Confusable entries are what it must learn to tell
    apart, and it keeps training linear in the size of the knowledge base.
    """

    scale = 10.0
    candidates = 16
    batch = 2048

    def __init__(self, matrix: np.ndarray, labels: np.ndarray, classes: int, *, epochs: int = 300, l2: float = 1e-3):
        dims = matrix.shape[1] if matrix.ndim == 2 else 0
        self.w = np.zeros((classes, dims), dtype=np.float32)
        self.b = np.zeros(classes, dtype=np.float32)
        if not len(labels) or classes < 2:
            return
        centroids = np.zeros((classes, dims), dtype=np.float32)
        np.add.at(centroids, labels, matrix)
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        m = min(self.candidates, classes)
        cand = np.empty((len(labels), m), dtype=np.int64)
        for start in range(0, len(labels), self.batch):
            sims = matrix[start : start + self.batch] @ centroids.T
            sims[np.arange(len(sims)), labels[start : start + self.batch]] = np.inf  # its own entry is always in
            cand[start : start + self.batch] = np.argpartition(-sims, m - 1, axis=1)[:, :m]
        target = (cand == labels[:, None]).astype(np.float32)
        # Each batch's gradient is scattered onto its candidates' rows by sorting once
        # and summing runs (np.add.reduceat), which costs the same for any number of entries.
        batches = []
        for start in range(0, len(labels), self.batch):
            c = cand[start : start + self.batch]
            order = np.argsort(c.ravel(), kind="stable")
            uniq, first = np.unique(c.ravel()[order], return_index=True)
            batches.append((slice(start, start + self.batch), order, order // m, uniq, first))
        # Full-batch gradient descent: deterministic. Large knowledge bases get fewer
        # (and more informative) steps, so training time stays bounded.
        epochs = max(30, min(epochs, int(5e9 / (len(labels) * m * dims))))
        for _ in range(epochs):
            grad_w = np.zeros_like(self.w)
            grad_b = np.zeros_like(self.b)
            for rows, order, row_of, uniq, first in batches:
                x = matrix[rows]
                g = ((self._softmax(x, cand[rows]) - target[rows]) * (self.scale / len(labels))).ravel()[order]
                grad_w[uniq] += np.add.reduceat(g[:, None] * x[row_of], first)
                grad_b[uniq] += np.add.reduceat(g, first)
            self.w -= grad_w + l2 * self.w
            self.b -= grad_b

    @classmethod
    def from_weights(cls, w: np.ndarray, b: np.ndarray) -> "EntryClassifier":
        """A classifier trained before (``ClassifierSnapshot``), without training."""
        classifier = cls.__new__(cls)
        classifier.w, classifier.b = np.ascontiguousarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)
        return classifier

    def _softmax(self, x: np.ndarray, cand: np.ndarray) -> np.ndarray:
        z = (np.einsum("nmd,nd->nm", self.w[cand], x) + self.b[cand]) * self.scale
        z -= z.max(-1, keepdims=True)
        np.exp(z, out=z)
        return z / z.sum(-1, keepdims=True)

    def probs(self, vector: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """P(entry | question) over the candidate entries, in their order."""
        return self._softmax(vector[None, :], candidates[None, :])[0]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic regression over standardised features: P(the chosen entry is right).

    Its intercept holds the share of right answers among the questions it was
    fitted on (``prior``); ``shifted`` moves it to another share (Saerens et al.
    2002), since that share follows how many questions are out of scope, which
    differs between a validation set and a deployment.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]  # bias first
    threshold: float
    prior: float | None = None  # share of right answers in the fitting data
    fusion: float = FUSION_CLASSIFIER_WEIGHT  # the classifier's weight in choosing the entry

    def __call__(self, features: np.ndarray) -> float:
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = self.weights[0] + float(np.dot(self.weights[1:], z))
        return 1.0 / (1.0 + math.exp(-max(min(logit, 60.0), -60.0)))

    def shifted(self, prior: float) -> "ConfidenceModel":
        """The same model for questions of which a share ``prior`` gets a right answer."""
        bias = self.weights[0] + prior_shift(self.prior, prior)
        return replace(self, weights=(bias, *self.weights[1:]), prior=prior)

    def as_json(self) -> dict:
        return {
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "fusion": self.fusion,
        }

    @classmethod
    def from_json(cls, data: dict, *, threshold: float, prior: float | None) -> "ConfidenceModel":
        mean, scale, weights = (tuple(float(v) for v in data[k]) for k in ("mean", "scale", "weights"))
        if not len(mean) == len(scale) == len(weights) - 1 == len(FEATURES):
            raise ValueError(f"a confidence model has {len(FEATURES)} features; this one has {len(mean)}")
        return cls(mean, scale, weights, threshold, prior, float(data.get("fusion", FUSION_CLASSIFIER_WEIGHT)))

    @classmethod
    def fit(cls, features: np.ndarray, correct: np.ndarray, *, threshold: float = 0.5, l2: float = 1.0):
        mean = features.mean(0)
        scale = features.std(0) + 1e-6
        x = np.c_[np.ones(len(features)), (features - mean) / scale]
        w = np.zeros(x.shape[1])
        penalty = l2 * np.diag(np.r_[0.0, np.ones(x.shape[1] - 1)])
        for _ in range(50):  # Newton's method
            p = 1 / (1 + np.exp(-(x @ w)))
            hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
            w -= np.linalg.solve(hessian, x.T @ (p - correct) + penalty @ w)
        prior = float(np.clip(correct.mean(), 1e-3, 1 - 1e-3))
        return cls(tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, w)), threshold, prior)


def prior_shift(fitted: float | None, prior: float) -> float:
    """What moving from the ``fitted`` share of right answers to ``prior`` adds to
    every logit."""
    if fitted is None or not 0 < prior < 1:
        raise ValueError("a prior shift needs the fitted prior and a target prior in (0, 1)")
    return _logit(prior) - _logit(fitted)


def shift_confidences(confidences: np.ndarray, *, fitted: float, prior: float) -> np.ndarray:
    """Confidences of a model fitted at ``fitted``, as ``shifted(prior)`` gives them."""
    p = np.clip(np.asarray(confidences, dtype=np.float64), 1e-12, 1 - 1e-12)
    return 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + prior_shift(fitted, prior))))


def prior_estimate(confidences: np.ndarray, *, fitted_prior: float, iterations: int = 100) -> float:
    """The share of right answers among unlabelled questions, from the confidences a
    model fitted at ``fitted_prior`` gives them: the EM of Saerens, Latinne and
    Decaestecker (2002), which re-weighs each posterior by the prior ratio until
    the mean posterior is the prior itself."""
    p = np.clip(np.asarray(confidences, dtype=np.float64), 1e-6, 1 - 1e-6)
    if not len(p):
        return fitted_prior
    prior = fitted_prior
    for _ in range(iterations):
        up, down = prior / fitted_prior, (1 - prior) / (1 - fitted_prior)
        new = float(np.mean(up * p / (up * p + down * (1 - p))))
        new = min(max(new, 1e-3), 1 - 1e-3)
        if abs(new - prior) < 1e-6:
            return new
        prior = new
    return prior


@dataclass
class Scored:
    entry_key: str | None
    features: np.ndarray
    ranked: list[tuple[str, float]] = field(default_factory=list)  # (entry key, dense similarity), best first
    best_hit: object = None  # the chosen entry's best matching chunk (a retrieval Hit)


class Scorer:
    """Everything the bot knows about the knowledge base besides the vector index."""

    def __init__(
        self,
        *,
        keys: list[str],
        kinds: list[str],
        texts: list[str],
        matrix: np.ndarray,
        classifier: EntryClassifier | None = None,
    ):
        """``classifier``: one trained before on exactly these chunks (entries in the
        order of their first chunk), which is then not trained again."""
        self.entry_keys = list(dict.fromkeys(keys))
        self.order = {key: i for i, key in enumerate(self.entry_keys)}
        if classifier is None:
            labels = np.array([self.order[k] for k in keys], dtype=np.int64)
            phrasing = np.array([kind != Chunk.Kind.PASSAGE for kind in kinds], dtype=bool)
            classifier = EntryClassifier(matrix[phrasing], labels[phrasing], len(self.entry_keys))
        self.classifier = classifier
        self.lexical = Lexical(keys, texts, self.order)

    def score(
        self, question: str, vector: np.ndarray, hits: list, *, fusion: float = FUSION_CLASSIFIER_WEIGHT
    ) -> Scored:
        if not hits or not self.entry_keys:
            return Scored(None, np.zeros(len(FEATURES)))
        by_entry: dict[str, list[float]] = {}
        for hit in hits:
            by_entry.setdefault(hit.entry_key, []).append(hit.similarity)
        candidates = [k for k in by_entry if k in self.order]  # not entries added since the scorer was built
        if not candidates:
            return Scored(None, np.zeros(len(FEATURES)))
        best = {k: max(by_entry[k]) for k in candidates}
        top3 = {k: float(np.mean(sorted(by_entry[k])[-3:])) for k in candidates}
        # Probabilities and BM25 scores below are over the candidates, in this order.
        probs = self.classifier.probs(vector, np.array([self.order[k] for k in candidates]))
        bm25 = self.lexical.scores(question, [self.order[k] for k in candidates])
        position = {k: i for i, k in enumerate(candidates)}

        def fused(key):
            return best[key] + fusion * math.log(probs[position[key]] + 1e-9)

        chosen = max(candidates, key=fused)
        c = position[chosen]
        dense_sorted = [*sorted(best.values(), reverse=True), 0.0]
        top3_sorted = [*sorted(top3.values(), reverse=True), 0.0]
        p_sorted = np.sort(probs)[::-1]
        b_sorted = np.sort(bm25)[::-1]
        neighbours = [h.entry_key for h in hits[:NEIGHBOURS]]
        features = np.array(
            [
                probs[c],
                p_sorted[0] - (p_sorted[1] if len(p_sorted) > 1 else 0.0),
                best[chosen],
                dense_sorted[0] - dense_sorted[1],
                top3[chosen],
                top3_sorted[0] - top3_sorted[1],
                neighbours.count(chosen) / len(neighbours),
                float(-(probs * np.log(probs + 1e-12)).sum()),
                float(int(np.argmax(probs)) == position[max(best, key=best.get)]),
                bm25[c],
                bm25[c] / (b_sorted[0] + 1e-9),
                b_sorted[0] - (b_sorted[1] if len(b_sorted) > 1 else 0.0),
                float(int(np.argmax(bm25)) == c),
                math.log1p(len(tokenize(question))),
                len(set(neighbours)) / len(neighbours),
                probs[c] * best[chosen],
                math.log(probs[c] + 1e-9) - math.log(1 - probs[c] + 1e-9),
            ],
            dtype=np.float64,
        )
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        ranked.remove((chosen, best[chosen]))
        best_hit = next(h for h in hits if h.entry_key == chosen)
        return Scored(chosen, features, [(chosen, best[chosen]), *ranked], best_hit)

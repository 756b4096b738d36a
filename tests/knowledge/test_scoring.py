from dataclasses import replace

import numpy as np
import pytest

from knowledge.embeddings import embed_array
from knowledge.retrieval import EntryInfo, MatrixIndex
from knowledge.scoring import FEATURES, ConfidenceModel, EntryClassifier, Lexical, prior_estimate


def test_bm25_prefers_the_entry_with_the_rare_matching_word():
    order = {"refunds": 0, "invoices": 1}
    lexical = Lexical(
        ["refunds", "refunds", "invoices"], ["Refunds for yearly plans", "money back", "Download your invoice"], order
    )
    scores = lexical.scores("can I get my money back", [0, 1])
    assert scores[0] > 0 and scores[1] == 0


def test_the_classifier_learns_what_separates_entries():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    x = np.concatenate([c + 0.1 * rng.normal(size=(10, 8)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(3), 10)
    classifier = EntryClassifier(x / np.linalg.norm(x, axis=1, keepdims=True), y, 3)
    probe = centres[2] / np.linalg.norm(centres[2])
    probs = classifier.probs(probe.astype(np.float32), np.arange(3))
    assert probs.argmax() == 2 and probs.sum() == pytest.approx(1.0)


def test_the_confidence_model_is_a_probability_that_rises_with_the_evidence():
    rng = np.random.default_rng(1)
    evidence = rng.normal(size=(400, 1))
    correct = (evidence[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(float)
    model = ConfidenceModel.fit(evidence, correct)
    low, high = model(np.array([-2.0])), model(np.array([2.0]))
    assert 0 <= low < 0.2 < 0.8 < high <= 1
    assert model(np.array([1e9])) == pytest.approx(1.0)  # no overflow on absurd input


def _index():
    entries = {
        "refunds": ("Refunds", ["Can I get my money back?", "I want a refund"]),
        "invoices": ("Invoices", ["Where is my invoice?", "I need a receipt"]),
    }
    keys, kinds, texts = [], [], []
    for key, (title, questions) in entries.items():
        for kind, text in [("title", title), *(("question", q) for q in questions)]:
            keys.append(key)
            kinds.append(kind)
            texts.append(text)
    infos = {k: EntryInfo(k, t, f"{t} body") for k, (t, _) in entries.items()}
    return MatrixIndex(keys=keys, kinds=kinds, texts=texts, matrix=embed_array(texts), entries=infos)


def test_the_scorer_chooses_an_entry_and_describes_it_with_every_feature():
    index = _index()
    vector = embed_array(["how do I get a refund"])[0]
    scored = index.scorer.score("how do I get a refund", vector, index.search(vector, 10))
    assert scored.entry_key == "refunds"
    assert scored.features.shape == (len(FEATURES),)
    assert np.isfinite(scored.features).all()
    assert [key for key, _ in scored.ranked] == ["refunds", "invoices"]


def _two_classes(rng, n: int, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """Features of right answers and of wrong ones from two fixed distributions,
    mixed at ``prior``: only the share changes between samples (a prior shift)."""
    right = rng.random(n) < prior
    features = rng.normal(0.0, 1.0, (n, len(FEATURES))) + np.where(right, 0.8, -0.8)[:, None] * (
        np.arange(len(FEATURES)) < 3
    )
    return features, right.astype(float)


def test_a_prior_shift_moves_the_confidence_to_the_new_share_of_right_answers():
    rng = np.random.default_rng(11)
    fitted = ConfidenceModel.fit(*_two_classes(rng, 4000, 0.8))
    assert fitted.prior == pytest.approx(0.8, abs=0.02)
    features, right = _two_classes(rng, 4000, 0.3)  # many more questions out of scope

    def log_loss(model):
        p = np.clip([model(f) for f in features], 1e-9, 1 - 1e-9)
        return float(-np.mean(right * np.log(p) + (1 - right) * np.log(1 - p)))

    unshifted = float(np.mean([fitted(f) for f in features]))
    shifted = fitted.shifted(0.3)
    assert unshifted > 0.4  # the intercept still believes 0.8
    assert float(np.mean([shifted(f) for f in features])) == pytest.approx(0.3, abs=0.03)
    assert log_loss(shifted) < log_loss(fitted) - 0.05
    assert shifted.weights[1:] == fitted.weights[1:] and shifted.prior == 0.3


def test_the_share_of_right_answers_is_estimated_without_labels():
    rng = np.random.default_rng(12)
    fitted = ConfidenceModel.fit(*_two_classes(rng, 4000, 0.8))
    for share in (0.2, 0.5, 0.9):
        features, _ = _two_classes(rng, 3000, share)
        estimate = prior_estimate(np.array([fitted(f) for f in features]), fitted_prior=fitted.prior)
        assert estimate == pytest.approx(share, abs=0.04), share
    assert prior_estimate(np.array([]), fitted_prior=0.8) == 0.8


def test_a_shift_needs_a_prior_on_both_sides():
    model = ConfidenceModel((0.0,), (1.0,), (0.0, 1.0), 0.5)
    with pytest.raises(ValueError, match="fitted prior"):
        model.shifted(0.3)
    with pytest.raises(ValueError, match="target prior"):
        replace(model, prior=0.5).shifted(1.0)

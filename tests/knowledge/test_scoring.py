import numpy as np
import pytest

from knowledge.embeddings import embed_array
from knowledge.retrieval import EntryInfo, MatrixIndex
from knowledge.scoring import FEATURES, ConfidenceModel, EntryClassifier, Lexical


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


def test_labelled_questions_teach_the_classifier():
    index = _index()
    question = "the charge on my statement from you"
    vector = embed_array([question])[0]
    before = index.scorer.classifier.probs(vector, np.arange(2))[index.scorer.order["invoices"]]
    taught = index.with_labelled_questions(["invoices"] * 3, np.stack([vector] * 3))
    after = taught.scorer.classifier.probs(vector, np.arange(2))[taught.scorer.order["invoices"]]
    assert after > before

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from knowledge.embeddings import MiniLMEmbeddings, embed_array, get_embeddings

# all-MiniLM-L6-v2 through sentence-transformers 5 on torch 2.13 (CPU), first 8 dimensions.
REFERENCE = {
    "How do I reset my password?": [
        0.0069031,
        -0.0630233,
        -0.072044,
        -0.0324961,
        -0.0427093,
        0.0704294,
        0.0090738,
        0.0154077,
    ],
    "I forgot my password": [-0.0474303, -0.0311271, -0.0395009, 0.0364913, 0.0078853, 0.0593123, 0.0837609, 0.0322104],
    "What's the weather like on Mars tomorrow?": [
        0.0308595,
        0.0296926,
        0.0651297,
        0.0692328,
        0.0307143,
        -0.1105353,
        -0.0292094,
        -0.0486231,
    ],
}


def test_vectors_match_sentence_transformers():
    vectors = embed_array(list(REFERENCE))
    for vector, expected in zip(vectors, REFERENCE.values(), strict=True):
        assert vector[:8] == pytest.approx(expected, abs=1e-6)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.779752, abs=1e-5)
    assert float(vectors[0] @ vectors[2]) == pytest.approx(0.005885, abs=1e-5)


def test_vectors_are_unit_length_and_batching_does_not_change_them():
    texts = ["short", "a somewhat longer sentence about invoices and refunds", "x " * 600]
    batch = embed_array(texts)
    assert batch.shape == (3, 384)
    assert np.linalg.norm(batch, axis=1) == pytest.approx([1, 1, 1], abs=1e-5)
    one_by_one = np.stack([embed_array([t])[0] for t in texts])
    assert np.abs(batch - one_by_one).max() < 1e-5


def test_langchain_interface():
    model = get_embeddings()
    assert isinstance(model, MiniLMEmbeddings)
    assert len(model.embed_query("hello")) == 384
    assert len(model.embed_documents(["a", "b"])) == 2
    assert model.embed_documents([]) == []


class CountingEmbeddings(Embeddings):
    """Another model, as an admin would plug one in."""

    def embed_documents(self, texts):
        return [[float(len(t)), 1.0] for t in texts]

    def embed_query(self, text):
        return self.embed_documents([text])[0]


def test_the_embedding_model_is_a_setting(settings):
    settings.BATON_EMBEDDING_MODEL = "tests.knowledge.test_embeddings.CountingEmbeddings"
    assert embed_array(["abc", "hello"]).tolist() == [[3.0, 1.0], [5.0, 1.0]]
    settings.BATON_EMBEDDING_MODEL = "knowledge.embeddings.MiniLMEmbeddings"
    assert embed_array(["abc"]).shape == (1, 384)

"""The real embedding model, each batch computed once per test session.

Many tests import the demo knowledge base through the real path
(``kb_import_jsonl``), and each import embedded the same few hundred texts again
(10-18 s a test set-up on a loaded machine). The model is deterministic: the
vectors of a batch of texts are the same every time, so a batch seen before is
answered from memory. A batch never seen is computed by the model, so a test of
the model itself (other texts, other batchings) still runs it.
"""

import threading

import numpy as np

from knowledge.embeddings import MiniLMEmbeddings

_lock = threading.Lock()
_batches: dict[tuple[str, ...], np.ndarray] = {}


class SessionCachedEmbeddings(MiniLMEmbeddings):
    """all-MiniLM-L6-v2 with a session-wide memory of the batches it embedded."""

    def embed_array(self, texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        with _lock:
            vectors = _batches.get(key)
        if vectors is None:
            vectors = super().embed_array(texts)
            vectors.setflags(write=False)
            with _lock:
                _batches[key] = vectors
        return vectors.copy()  # a caller may write into what it is given


def batches_computed() -> int:
    """How many distinct batches the model has computed this session."""
    return len(_batches)

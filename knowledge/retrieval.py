"""Nearest-chunk search over the knowledge base, behind LangChain's retriever interface.

Two indexes with one interface: pgvector's HNSW index on PostgreSQL, and an exact
numpy search over an in-memory matrix on SQLite (and for evaluation runs, which
load a knowledge base that never touches the database).
"""

import threading
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, Max
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pgvector.django import CosineDistance

from knowledge.embeddings import DIMENSIONS, embed_array
from knowledge.models import Chunk, ClassifierSnapshot, Entry
from knowledge.scoring import EntryClassifier, Scorer
from knowledge.services import classifier_snapshot_save


@dataclass(frozen=True)
class Hit:
    entry_key: str
    kind: str
    text: str
    similarity: float


@dataclass(frozen=True)
class EntryInfo:
    key: str
    title: str
    body: str
    url: str = ""


class MatrixIndex:
    """Exact cosine search: one matrix product over every chunk (vectors are unit length)."""

    def __init__(self, *, keys: list[str], kinds: list[str], texts: list[str], matrix: np.ndarray, entries: dict):
        self.keys = np.asarray(keys, dtype=object)
        self.kinds = kinds
        self.texts = texts
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self._entries = entries
        self._scorer = None

    @property
    def scorer(self) -> Scorer:
        """Trained on first use: most processes never answer a question."""
        if self._scorer is None:
            self._scorer = Scorer(keys=list(self.keys), kinds=self.kinds, texts=self.texts, matrix=self.matrix)
        return self._scorer

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, vector: np.ndarray, k: int) -> list[Hit]:
        if not len(self.keys):
            return []
        sims = self.matrix @ vector
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [Hit(self.keys[i], self.kinds[i], self.texts[i], float(sims[i])) for i in top]

    def entries(self, keys: list[str]) -> dict[str, EntryInfo]:
        return {key: self._entries[key] for key in keys if key in self._entries}


class PgVectorIndex:
    """Approximate search with pgvector's HNSW index (cosine distance)."""

    def __init__(self, *, scorer: Scorer):
        self.scorer = scorer

    def search(self, vector: np.ndarray, k: int) -> list[Hit]:
        rows = (
            Chunk.objects.annotate(distance=CosineDistance("embedding", vector))
            .order_by("distance")
            .values_list("entry__external_id", "kind", "text", "distance")[:k]
        )
        return [Hit(key, kind, text, 1.0 - float(distance)) for key, kind, text, distance in rows]

    def entries(self, keys: list[str]) -> dict[str, EntryInfo]:
        return _entries_from_db(Entry.objects.filter(external_id__in=keys))


class DatabaseMatrixIndex(MatrixIndex):
    """SQLite's live index: the cached matrix for search, the database for entries,
    so an edit that changes no chunk (a new URL) is still seen at once. Its
    classifier is the one stored for this version of the chunks, when there is one
    (``ClassifierSnapshot``); else it is trained here and stored for the others."""

    def __init__(self, *, version: str, **kwargs):
        super().__init__(**kwargs)
        self.version = version

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = self._stored_scorer()
        return self._scorer

    def _stored_scorer(self) -> Scorer:
        keys = list(self.keys)
        snapshot = ClassifierSnapshot.objects.filter(version=self.version).first()
        if snapshot is not None and snapshot.entry_keys == list(dict.fromkeys(keys)):
            n = len(snapshot.entry_keys)
            values = np.frombuffer(bytes(snapshot.weights), dtype=np.float32)
            w, b = values[: n * snapshot.dims].reshape(n, snapshot.dims), values[n * snapshot.dims :]
            classifier = EntryClassifier.from_weights(w, b)
            return Scorer(keys=keys, kinds=self.kinds, texts=self.texts, matrix=self.matrix, classifier=classifier)
        scorer = Scorer(keys=keys, kinds=self.kinds, texts=self.texts, matrix=self.matrix)
        classifier_snapshot_save(version=self.version, entry_keys=scorer.entry_keys, classifier=scorer.classifier)
        return scorer

    def entries(self, keys: list[str]) -> dict[str, EntryInfo]:
        return _entries_from_db(Entry.objects.filter(external_id__in=keys))


def _entries_from_db(queryset) -> dict[str, EntryInfo]:
    return {
        key: EntryInfo(key, title, body, url)
        for key, title, body, url in queryset.values_list("external_id", "title", "body", "url")
    }


_matrix_lock = threading.Lock()
_matrix_cache: tuple[str, MatrixIndex] | None = None


def _database_matrix() -> DatabaseMatrixIndex:
    """The SQLite index, reloaded whenever the chunks changed in any process.

    Chunks are never updated in place (an edit replaces them and saves its entry),
    so (chunk count, max chunk id, latest entry save) changes with every commit;
    the timestamp also tells apart two rolled-back writes that reused the same ids.
    """
    global _matrix_cache
    n, last = Chunk.objects.aggregate(n=Count("pk"), last=Max("pk")).values()
    saved = Entry.objects.aggregate(saved=Max("updated_at"))["saved"]
    version = f"{n}:{last}:{saved.isoformat() if saved else ''}"
    cached = _matrix_cache
    if cached and cached[0] == version:
        return cached[1]
    with _matrix_lock:
        rows = list(Chunk.objects.order_by("pk").values_list("entry__external_id", "kind", "text", "embedding"))
        matrix = np.stack([r[3] for r in rows]) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
        index = DatabaseMatrixIndex(
            version=version,
            keys=[r[0] for r in rows],
            kinds=[r[1] for r in rows],
            texts=[r[2] for r in rows],
            matrix=matrix,
            entries={},
        )
        _matrix_cache = (version, index)
        return index


def live_matrix() -> MatrixIndex:
    """Every live chunk's vector in memory (what self-calibration holds entries out of)."""
    return _database_matrix()


def live_index() -> MatrixIndex | PgVectorIndex:
    if connection.vendor == "postgresql":
        # The classifier and BM25 are built from the same rows as SQLite's matrix.
        return PgVectorIndex(scorer=_database_matrix().scorer)
    return _database_matrix()


class KnowledgeRetriever(BaseRetriever):
    """The knowledge base as a LangChain retriever: one Document per entry, best first,
    with the best matching chunk as its content and the similarity in its metadata."""

    k: int = 4
    chunks: int = 40

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        index = live_index()
        ranked = rank_entries(index.search(embed_array([query])[0], self.chunks))[: self.k]
        infos = index.entries([hit.entry_key for hit in ranked])
        return [
            Document(
                page_content=hit.text,
                metadata={"id": hit.entry_key, "title": infos[hit.entry_key].title, "score": hit.similarity},
            )
            for hit in ranked
            if hit.entry_key in infos
        ]


def rank_entries(hits: list[Hit]) -> list[Hit]:
    """The best hit of each entry, best entry first: entries compete, not phrasings."""
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.entry_key not in best or hit.similarity > best[hit.entry_key].similarity:
            best[hit.entry_key] = hit
    return sorted(best.values(), key=lambda h: -h.similarity)

"""The tests' embedding model (tests/embeddings.py): the real model's vectors,
each batch computed once per session."""

import numpy as np

from demo.management.commands.demo_data import DEMO_KB
from knowledge.embeddings import MiniLMEmbeddings, embed_array, get_embeddings
from knowledge.models import Chunk, Entry
from knowledge.services import kb_import_jsonl
from tests import embeddings


def test_a_batch_seen_before_gives_the_models_vectors_without_computing_them_again():
    assert isinstance(get_embeddings(), embeddings.SessionCachedEmbeddings)
    texts = ["Where is my invoice?", "session cache check, a text no other test embeds"]
    first = embed_array(texts)
    computed = embeddings.batches_computed()
    again = embed_array(texts)
    assert embeddings.batches_computed() == computed
    assert np.array_equal(again, first)
    assert np.array_equal(again, MiniLMEmbeddings().embed_array(texts))  # the real model's own
    again[0, 0] = 7.0  # the caller's copy
    assert np.array_equal(embed_array(texts), first)


def test_importing_the_demo_knowledge_base_again_embeds_nothing_new(db):
    kb_import_jsonl(path=DEMO_KB)
    vectors = sorted((c.text, c.embedding.tobytes()) for c in Chunk.objects.all())
    computed = embeddings.batches_computed()
    Entry.objects.all().delete()
    result = kb_import_jsonl(path=DEMO_KB)
    assert result.chunks_embedded == len(vectors) > 0
    assert embeddings.batches_computed() == computed
    assert sorted((c.text, c.embedding.tobytes()) for c in Chunk.objects.all()) == vectors

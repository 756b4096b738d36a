"""Hand-written SQL of the knowledge app (docs/architecture.md): each statement named,
with its reason and what stands in for it where it cannot run.

The evaluation's scratch index: ``manage.py evaluate_bot`` scores a knowledge base
that is not the live one, searched as the live bot searches on PostgreSQL (pgvector's
HNSW index), so the figures it reports are the ones the live bot will show. The ORM
cannot declare a temporary table or its HNSW index; the ORM twin is the exact
in-memory search (``knowledge.evaluation.MatrixIndex.search``), which SQLite uses
and which ``tests/knowledge/test_evaluate_bot.py`` compares with this on PostgreSQL.
"""

from collections.abc import Sequence

import numpy as np
from django.db import connection

from knowledge.embeddings import DIMENSIONS

EVAL_TABLE = "baton_eval_chunk"


def _vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.8g}" for x in vector.tolist()) + "]"


def eval_index_create(matrix: Sequence[np.ndarray]) -> None:
    """The rows of ``matrix`` (position = row number) in a temporary table with an
    HNSW index, seen only by this connection and gone with it."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{EVAL_TABLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {EVAL_TABLE} (pos integer PRIMARY KEY, embedding vector({DIMENSIONS}))")
        cursor.executemany(
            f"INSERT INTO {EVAL_TABLE} (pos, embedding) VALUES (%s, %s::vector)",
            [(i, _vector_literal(v)) for i, v in enumerate(matrix)],
        )
        cursor.execute(f"CREATE INDEX ON {EVAL_TABLE} USING hnsw (embedding vector_cosine_ops)")
        cursor.execute(f"ANALYZE {EVAL_TABLE}")


def eval_index_search(vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(position, cosine distance) of the ``k`` nearest rows, nearest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pos, embedding <=> %s::vector AS distance FROM {EVAL_TABLE} ORDER BY distance LIMIT %s",
            [_vector_literal(vector), k],
        )
        return cursor.fetchall()

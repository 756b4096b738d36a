"""The bot's one decision: answer from the knowledge base, or hand off.

``answer()`` is what the live bot calls; ``answer_with()`` takes the index and the
threshold explicitly, so evaluation runs the very same code on an isolated store.
See docs/bot.md for how confidence is computed.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from knowledge.embeddings import embed_array
from knowledge.intents import wants_human
from knowledge.models import BotConfig
from knowledge.retrieval import Hit, MatrixIndex, PgVectorIndex, live_index, rank_entries

CHUNKS_SEARCHED = 40
SOURCES_SHOWN = 3
ANSWER_CHARS = 1200

# Confidence = sigmoid(BIAS + W_TOP * top + W_MARGIN * (top - second)), over the cosine
# similarity of the best entry and its lead over the next one. Fitted by logistic
# regression on banking77's validation cases (docs/bot.md).
CONFIDENCE_BIAS = -11.35
CONFIDENCE_W_TOP = 12.91
CONFIDENCE_W_MARGIN = 15.85


@dataclass(frozen=True)
class BotAnswer:
    text: str  # what the bot says; "" when it hands off
    confidence: float | None  # in [0, 1]; None when no answer was attempted
    sources: list[dict] = field(default_factory=list)  # best first, JSON-serialisable
    handoff_reason: str | None = None  # None: answer; "low_confidence" or "customer_request"


def confidence_from(ranked: list[Hit]) -> float:
    if not ranked:
        return 0.0
    top = ranked[0].similarity
    second = ranked[1].similarity if len(ranked) > 1 else 0.0
    z = CONFIDENCE_BIAS + CONFIDENCE_W_TOP * top + CONFIDENCE_W_MARGIN * (top - second)
    return 1.0 / (1.0 + math.exp(-z))


def answer_with(
    question: str, *, index: MatrixIndex | PgVectorIndex, threshold: float, vector: np.ndarray | None = None
) -> BotAnswer:
    if wants_human(question):
        return BotAnswer(text="", confidence=None, handoff_reason="customer_request")
    if vector is None:
        vector = embed_array([question])[0]
    ranked = rank_entries(index.search(vector, CHUNKS_SEARCHED))
    confidence = confidence_from(ranked)
    shown = ranked[:SOURCES_SHOWN]
    infos = index.entries([hit.entry_key for hit in shown])
    sources = [
        {"id": hit.entry_key, "title": infos[hit.entry_key].title, "score": round(hit.similarity, 4)}
        | ({"url": infos[hit.entry_key].url} if infos[hit.entry_key].url else {})
        for hit in shown
        if hit.entry_key in infos
    ]
    if not sources or confidence < threshold:
        return BotAnswer(text="", confidence=confidence, sources=sources, handoff_reason="low_confidence")
    best = ranked[0]
    # Extractive: the passage that matched, or the whole entry when a title or
    # question phrasing matched.
    text = best.text if best.kind == "passage" else infos[best.entry_key].body
    if len(text) > ANSWER_CHARS:
        text = text[:ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
    return BotAnswer(text=text, confidence=confidence, sources=sources)


def answer(question: str) -> BotAnswer:
    """The live bot: the database's knowledge base and the admin's threshold."""
    return answer_with(question, index=live_index(), threshold=BotConfig.load().confidence_threshold)

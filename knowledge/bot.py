"""The bot's one decision: answer from the knowledge base, or hand off.

``answer()`` is what the live bot calls; ``answer_with()`` takes the index, the
confidence model and the threshold explicitly, so evaluation runs the very same
code on an isolated store. How confidence is computed: knowledge/scoring.py and
docs/bot.md.
"""

from dataclasses import dataclass, field

import numpy as np

from knowledge.embeddings import embed_array
from knowledge.intents import wants_human
from knowledge.models import BotConfig
from knowledge.retrieval import MatrixIndex, PgVectorIndex, live_index
from knowledge.scoring import ConfidenceModel, Scored

CHUNKS_SEARCHED = 40
SOURCES_SHOWN = 3
ANSWER_CHARS = 1200

# Fitted on ../shared/eval/banking77/val_cases.jsonl by `evaluation.calibrate` with
# learn_phrasings=False (the live classifier learns only the entries' own phrasings);
# feature order: knowledge.scoring.FEATURES.
DEFAULT_MODEL = ConfidenceModel(
    mean=(
        0.7309,
        0.6174,
        0.761,
        0.1141,
        0.7233,
        0.1089,
        0.6221,
        0.8039,
        0.749,
        11.21,
        0.8894,
        3.545,
        0.6302,
        2.418,
        0.3121,
        0.5801,
        1.74,
    ),
    scale=(
        0.2545,
        0.3422,
        0.143,
        0.1034,
        0.141,
        0.09866,
        0.2911,
        0.6503,
        0.4336,
        6.864,
        0.207,
        4.047,
        0.4828,
        0.4218,
        0.1745,
        0.2615,
        1.974,
    ),
    weights=(
        0.6051,
        -0.263,
        -0.02068,
        1.771,
        0.4625,
        -0.4532,
        0.4684,
        -0.3771,
        0.6274,
        -0.08629,
        0.1598,
        0.3546,
        0.1626,
        0.07087,
        0.1805,
        0.1372,
        1.002,
        1.335,
    ),
    threshold=0.2710,
)


@dataclass(frozen=True)
class BotAnswer:
    text: str  # what the bot says; "" when it hands off
    confidence: float | None  # in [0, 1]; None when no answer was attempted
    sources: list[dict] = field(default_factory=list)  # best first, JSON-serialisable
    handoff_reason: str | None = None  # None: answer; "low_confidence" or "customer_request"


def score(question: str, *, index: MatrixIndex | PgVectorIndex, vector: np.ndarray | None = None) -> Scored:
    """The chosen entry and the confidence features for a question."""
    if vector is None:
        vector = embed_array([question])[0]
    return index.scorer.score(question, vector, index.search(vector, CHUNKS_SEARCHED))


def answer_with(
    question: str,
    *,
    index: MatrixIndex | PgVectorIndex,
    threshold: float,
    model: ConfidenceModel = DEFAULT_MODEL,
    vector: np.ndarray | None = None,
) -> BotAnswer:
    if wants_human(question):
        return BotAnswer(text="", confidence=None, handoff_reason="customer_request")
    scored = score(question, index=index, vector=vector)
    if scored.entry_key is None:
        return BotAnswer(text="", confidence=0.0, handoff_reason="low_confidence")
    confidence = model(scored.features)
    shown = scored.ranked[:SOURCES_SHOWN]
    infos = index.entries([key for key, _ in shown])
    sources = [
        {"id": key, "title": infos[key].title, "score": round(similarity, 4)}
        | ({"url": infos[key].url} if infos[key].url else {})
        for key, similarity in shown
        if key in infos
    ]
    if confidence < threshold:
        return BotAnswer(text="", confidence=confidence, sources=sources, handoff_reason="low_confidence")
    best = scored.best_hit
    # Extractive: the passage that matched, or the whole entry when its title or a
    # phrasing matched.
    text = best.text if best is not None and best.kind == "passage" else infos[scored.entry_key].body
    if len(text) > ANSWER_CHARS:
        text = text[:ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
    return BotAnswer(text=text, confidence=confidence, sources=sources)


def answer(question: str) -> BotAnswer:
    """The live bot: the database's knowledge base and the admin's threshold."""
    return answer_with(question, index=live_index(), threshold=BotConfig.load().confidence_threshold)

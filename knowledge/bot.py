"""The bot's one decision: answer from the knowledge base, or hand off.

``answer()`` is what the live bot calls; ``answer_with()`` takes the index, the
confidence model and the threshold explicitly, so evaluation runs the very same
code on an isolated store. How confidence is computed: knowledge/scoring.py and
docs/bot.md.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from knowledge import llm
from knowledge.embeddings import embed_array
from knowledge.intents import wants_human
from knowledge.models import BotConfig, Calibration
from knowledge.retrieval import MatrixIndex, PgVectorIndex, live_index
from knowledge.scoring import FUSION_CLASSIFIER_WEIGHT, ConfidenceModel, Scored

CHUNKS_SEARCHED = 40
SOURCES_SHOWN = 3
ANSWER_CHARS = 1200
LLM_SOURCE_CHARS = 2000

# Fitted on ../shared/eval/banking77/val_cases.jsonl by `evaluation.calibrate` (the
# classifier learns only the entries' own phrasings, as the live one does); feature
# order: knowledge.scoring.FEATURES. Used until an admin applies a calibration of
# their own knowledge base (`evaluate_bot --calibrate VAL --save`, docs/bot.md).
DEFAULT_MODEL = ConfidenceModel(
    mean=(
        0.7228,
        0.6079,
        0.7607,
        0.1141,
        0.723,
        0.1089,
        0.6205,
        0.8246,
        0.7459,
        11.2,
        0.8887,
        3.545,
        0.6291,
        2.418,
        0.3121,
        0.5737,
        1.66,
    ),
    scale=(
        0.2566,
        0.3431,
        0.1436,
        0.1034,
        0.1415,
        0.09866,
        0.2927,
        0.6504,
        0.4354,
        6.862,
        0.2081,
        4.047,
        0.483,
        0.4218,
        0.1745,
        0.2628,
        1.941,
    ),
    weights=(
        0.5989,
        0.07877,
        -0.09012,
        1.883,
        0.3862,
        -0.3396,
        0.5944,
        -0.4743,
        0.8101,
        -0.05831,
        0.209,
        0.297,
        0.1242,
        0.0847,
        0.1769,
        0.03418,
        0.6386,
        1.434,
    ),
    threshold=0.2710,
    prior=0.5408,  # the share of right answers among those validation cases
)


# An answer below this confidence is more likely wrong than right: two in a row
# mean the bot is not helping (reason "repeated_failure").
UNSURE = 0.5
# Consecutive questions this similar are the customer asking again.
REPEAT_SIMILARITY = 0.9


@dataclass(frozen=True)
class Turn:
    """The customer's previous question and the confidence of the bot's answer to it."""

    question: str
    confidence: float


@dataclass(frozen=True)
class BotAnswer:
    text: str  # what the bot says; "" when it hands off
    confidence: float | None  # in [0, 1]; None when no answer was attempted
    sources: list[dict] = field(default_factory=list)  # best first, JSON-serialisable
    handoff_reason: str | None = None  # None: answer; "low_confidence", "customer_request" or "repeated_failure"


def configured_model(config: BotConfig) -> ConfidenceModel:
    """The confidence model the admin applied (``Calibration``, moved to the share of
    right answers among recent questions when adapted), else the one shipped with
    Baton; with the admin's threshold."""
    if config.calibration is None:
        return replace(DEFAULT_MODEL, threshold=config.confidence_threshold)
    model = calibration_model(config.calibration, threshold=config.confidence_threshold)
    return model if config.adapted_prior is None else model.shifted(config.adapted_prior)


def calibration_model(calibration: Calibration, *, threshold: float) -> ConfidenceModel:
    """A kept calibration's model as fitted (at its fitted prior), at ``threshold``."""
    return ConfidenceModel.from_json(calibration.model, threshold=threshold, prior=calibration.fitted_prior)


def score(
    question: str,
    *,
    index: MatrixIndex | PgVectorIndex,
    vector: np.ndarray | None = None,
    fusion: float = FUSION_CLASSIFIER_WEIGHT,
) -> Scored:
    """The chosen entry and the confidence features for a question."""
    if vector is None:
        vector = embed_array([question])[0]
    return index.scorer.score(question, vector, index.search(vector, CHUNKS_SEARCHED), fusion=fusion)


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
    scored = score(question, index=index, vector=vector, fusion=model.fusion)
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
    model_llm = llm.chat_model()
    if model_llm is not None:
        # The LLM writes the answer from the retrieved entries; an answer the sources
        # do not support costs confidence, and may turn into a handoff.
        grounded = llm.grounded_answer(
            model_llm,
            question=question,
            sources=[(infos[s["id"]].title, infos[s["id"]].body[:LLM_SOURCE_CHARS]) for s in sources],
        )
        confidence *= grounded.support
        if confidence < threshold:
            return BotAnswer(text="", confidence=confidence, sources=sources, handoff_reason="low_confidence")
        cited = [sources[i] for i in grounded.cited] or sources
        return BotAnswer(text=grounded.text, confidence=confidence, sources=cited)
    best = scored.best_hit
    # Extractive: the passage that matched, or the whole entry when its title or a
    # phrasing matched.
    text = best.text if best is not None and best.kind == "passage" else infos[scored.entry_key].body
    if len(text) > ANSWER_CHARS:
        text = text[:ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
    return BotAnswer(text=text, confidence=confidence, sources=sources)


def answer(question: str, *, previous: Turn | None = None) -> BotAnswer:
    """The live bot: the database's knowledge base and the admin's threshold.

    With the previous turn of the conversation, it also hands off when the
    customer asks the same thing again, or when two answers in a row were unsure.
    """
    return answer_many([(question, previous)])[0]


def answer_many(turns: list[tuple[str, Turn | None]]) -> list[BotAnswer]:
    """``answer`` for several questions at once (concurrent customers'): one
    embedding pass for all of them and their previous questions, and none for a
    request for a person."""
    texts = []
    for question, previous in turns:
        if not wants_human(question):
            texts += [question] if previous is None else [question, previous.question]
    vectors = iter(embed_array(texts)) if texts else iter(())
    index = live_index() if texts else None
    model = configured_model(BotConfig.load()) if texts else DEFAULT_MODEL
    replies = []
    for question, previous in turns:
        if wants_human(question):
            replies.append(BotAnswer(text="", confidence=None, handoff_reason="customer_request"))
            continue
        vector = next(vectors)
        reply = answer_with(question, index=index, threshold=model.threshold, model=model, vector=vector)
        if previous is not None:
            previous_vector = next(vectors)
            if reply.handoff_reason is None:
                repeated = float(vector @ previous_vector) >= REPEAT_SIMILARITY
                if repeated or (reply.confidence < UNSURE and previous.confidence < UNSURE):
                    reply = replace(reply, text="", handoff_reason="repeated_failure")
        replies.append(reply)
    return replies

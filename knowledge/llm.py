"""An optional LLM that writes the answer from the retrieved passages.

Off unless ``BATON_LLM`` names a LangChain chat model class or factory (e.g.
``langchain_openai.ChatOpenAI``, with ``BATON_LLM_OPTIONS='{"model": "gpt-4o-mini"}'``).
The model must answer only from the numbered sources and cite them; an answer
that cites none, or says it cannot answer, lowers the bot's confidence, so an
unsupported answer is handed off like an unsure one.
"""

import json
import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

NO_ANSWER = "NO_ANSWER"
UNCITED_SUPPORT = 0.5  # an answer that names no source is worth half as much

SYSTEM_PROMPT = (
    "You are a customer-support assistant. Answer the customer's question using ONLY the numbered sources. "
    "Cite every source you use as [1], [2] ... right after the sentence that uses it. Be brief and friendly. "
    f"If the sources do not answer the question, reply with exactly {NO_ANSWER} and nothing else."
)


@dataclass(frozen=True)
class GroundedAnswer:
    text: str
    support: float  # 0: the sources do not answer it; 1: cited; UNCITED_SUPPORT: uncited
    cited: tuple[int, ...]  # 0-based indexes of the sources cited


@cache
def chat_model() -> BaseChatModel | None:
    if not settings.BATON_LLM:
        return None
    try:
        options = json.loads(settings.BATON_LLM_OPTIONS or "{}")
    except ValueError as e:
        raise ImproperlyConfigured(f"BATON_LLM_OPTIONS is not valid JSON: {e}") from None
    if not isinstance(options, dict):
        raise ImproperlyConfigured("BATON_LLM_OPTIONS must be a JSON object")
    return import_string(settings.BATON_LLM)(**options)


def grounded_answer(model: BaseChatModel, *, question: str, sources: list[tuple[str, str]]) -> GroundedAnswer:
    """``sources``: (title, passage) pairs, best first."""
    numbered = "\n\n".join(f"[{i}] {title}\n{text}" for i, (title, text) in enumerate(sources, start=1))
    reply = model.invoke(
        [SystemMessage(SYSTEM_PROMPT), HumanMessage(f"Sources:\n\n{numbered}\n\nCustomer question: {question}")]
    )
    text = str(reply.content).strip()
    if not text or NO_ANSWER in text:
        return GroundedAnswer("", 0.0, ())
    cited = tuple(sorted({int(n) - 1 for n in re.findall(r"\[(\d+)\]", text) if 1 <= int(n) <= len(sources)}))
    return GroundedAnswer(text, 1.0 if cited else UNCITED_SUPPORT, cited)

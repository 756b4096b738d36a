"""The optional LLM path, with LangChain's fake chat models standing in for a provider."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from knowledge import bot, llm

pytestmark = pytest.mark.django_db

FAKE = "langchain_core.language_models.fake_chat_models.FakeListChatModel"


@pytest.fixture
def use_llm(settings):
    def configure(*responses):
        settings.BATON_LLM = FAKE
        settings.BATON_LLM_OPTIONS = json.dumps({"responses": list(responses)})
        llm.chat_model.cache_clear()

    yield configure
    llm.chat_model.cache_clear()


def test_without_an_llm_the_answer_is_the_best_passage(demo_kb):
    assert llm.chat_model() is None
    assert "Forgot password" in bot.answer("How do I reset my password?").text


def test_a_cited_answer_is_given_with_its_sources(demo_kb, use_llm):
    extractive = bot.answer("How do I reset my password?")  # no LLM yet
    use_llm("Choose Forgot password? on the sign-in page and follow the e-mailed link [1].")
    reply = bot.answer("How do I reset my password?")
    assert reply.handoff_reason is None
    assert reply.text.endswith("[1].")
    assert [s["id"] for s in reply.sources] == ["reset-password"]
    assert reply.confidence == pytest.approx(extractive.confidence)


def test_an_answer_the_sources_do_not_support_is_handed_off(demo_kb, use_llm):
    use_llm(llm.NO_ANSWER)
    reply = bot.answer("How do I reset my password?")
    assert reply.handoff_reason == "low_confidence"
    assert reply.confidence == 0.0
    assert reply.text == ""


def test_an_uncited_answer_costs_confidence(demo_kb, use_llm):
    full = bot.answer("How do I reset my password?")  # no LLM yet
    use_llm("Just reset it.")
    reply = bot.answer("How do I reset my password?")
    assert reply.confidence == pytest.approx(full.confidence * llm.UNCITED_SUPPORT)


def test_the_prompt_holds_the_question_and_the_numbered_sources():
    class Recording(FakeListChatModel):
        def invoke(self, messages, *args, **kwargs):
            Recording.seen = messages
            return super().invoke(messages, *args, **kwargs)

    answer = llm.grounded_answer(
        Recording(responses=["See [2]."]),
        question="Refund?",
        sources=[("Plans", "Plans text"), ("Refunds", "Refunds text")],
    )
    assert answer.cited == (1,) and answer.support == 1.0
    prompt = Recording.seen[1].content
    assert "[1] Plans\nPlans text" in prompt and "[2] Refunds\nRefunds text" in prompt
    assert prompt.endswith("Customer question: Refund?")


def test_bad_llm_options_stop_with_a_clear_error(settings):
    settings.BATON_LLM = FAKE
    settings.BATON_LLM_OPTIONS = "{not json"
    llm.chat_model.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="BATON_LLM_OPTIONS is not valid JSON"):
            llm.chat_model()
    finally:
        llm.chat_model.cache_clear()

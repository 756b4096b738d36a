import pytest

from knowledge import bot
from knowledge.models import BotConfig, Entry
from knowledge.retrieval import KnowledgeRetriever

pytestmark = pytest.mark.django_db


def test_a_question_the_knowledge_base_answers(demo_kb):
    reply = bot.answer("How do I reset my password?")
    assert reply.handoff_reason is None
    assert reply.sources[0]["id"] == "reset-password"
    assert "Forgot password" in reply.text
    assert reply.confidence >= BotConfig.load().confidence_threshold


def test_a_question_it_cannot_answer_hands_off_with_its_confidence(demo_kb):
    reply = bot.answer("What's the weather like on Mars tomorrow?")
    assert reply.handoff_reason == "low_confidence"
    assert reply.text == ""
    assert 0 <= reply.confidence < BotConfig.load().confidence_threshold
    assert reply.sources  # the agent still sees what the bot considered


def test_asking_for_a_person_hands_off_before_retrieval(demo_kb):
    reply = bot.answer("can I speak to an agent please")
    assert reply.handoff_reason == "customer_request"
    assert reply.confidence is None


def test_an_empty_knowledge_base_hands_off():
    reply = bot.answer("How do I reset my password?")
    assert reply.handoff_reason == "low_confidence"
    assert reply.sources == []


def test_the_threshold_is_the_admins(demo_kb):
    BotConfig.objects.update_or_create(pk=1, defaults={"confidence_threshold": 1.0})
    assert bot.answer("How do I reset my password?").handoff_reason == "low_confidence"
    BotConfig.objects.filter(pk=1).update(confidence_threshold=0.0)
    assert bot.answer("What's the weather like on Mars tomorrow?").handoff_reason is None


def test_confidence_is_always_within_0_and_1(demo_kb):
    for question in ["refund", "asdf qwer", "How do I share a folder?", "x" * 4000]:
        assert 0.0 <= bot.answer(question).confidence <= 1.0


def test_the_knowledge_base_is_a_langchain_retriever(demo_kb):
    documents = KnowledgeRetriever(k=3).invoke("my files are not syncing")
    assert documents[0].metadata["id"] == "sync-not-working"
    assert len(documents) == 3
    assert documents[0].metadata["score"] >= documents[1].metadata["score"]


def test_a_new_entry_is_found_without_a_restart(demo_kb):
    from knowledge.services import EntryData, entries_upsert

    question = "Can I pay in bitcoin?"
    assert bot.answer(question).sources[0]["id"] != "crypto"
    entries_upsert(
        entries=[EntryData("crypto", "Paying with cryptocurrency", "We do not accept bitcoin.", (question,))]
    )
    assert bot.answer(question).sources[0]["id"] == "crypto"


def test_asking_what_the_bot_is_gets_an_honest_answer_not_a_handoff(demo_kb):
    reply = bot.answer("is this a human?")
    assert reply.handoff_reason is None
    assert reply.sources[0]["id"] == "about-this-assistant"
    assert "talk to a person" in reply.text


def test_an_edit_that_changes_no_chunk_is_seen_at_once(demo_kb):
    assert "url" not in bot.answer("How do I reset my password?").sources[0]
    Entry.objects.filter(external_id="reset-password").update(url="https://help.nimbus.example/reset")
    assert bot.answer("How do I reset my password?").sources[0]["url"] == "https://help.nimbus.example/reset"


def test_the_demo_help_centre_is_large_enough_and_phrased_many_ways(demo_kb):
    assert Entry.objects.count() >= 30
    assert all(4 <= len(questions) <= 8 for questions in Entry.objects.values_list("questions", flat=True))

import pytest

from knowledge.intents import wants_human

REQUESTS = [
    "can I speak to an agent",
    "human please",
    "Human!",
    "I want to talk to a real person",
    "talk to a human",
    "connect me with a representative",
    "transfer me to an operator",
    "I need a human",
    "let me speak to someone",
    "Can I talk to someone from customer service?",
    "get me a manager",
    "I'd like to speak with a supervisor",
    "agent",
    "representative please",
    "live agent",
    "real person pls",
    "is there a human I can talk to?",
    "I don't want to talk to a bot",
    "stop the bot and get me someone",
    "put me through to customer support",
    "Could you pass me to a person?",
    "I would prefer a human",
    "speak to customer care agent",
    "operator",
    "talk to support staff",
    "chat with a live person",
    "I need to speak to somebody now",
    "no more bot, human please",
    "can you escalate this to a supervisor",
    "I\u2019d like to talk to a person",
    "Je veux parler à un humain",
    "Puis-je parler à un conseiller ?",
    "Quiero hablar con una persona",
    "¿Puedo hablar con un agente?",
    "Necesito un humano",
    "Ich möchte mit einem Menschen sprechen",
    "Mitarbeiter bitte",
    "Kann ich mit einem Mitarbeiter sprechen?",
    "Vorrei parlare con un operatore",
    "Quero falar com um atendente",
    "Ik wil met een medewerker spreken",
    "can a human help me",
    "Could an agent call me back?",
    "I'd like a real person",
]
NOT_REQUESTS = [
    "who is your CEO",
    "how many people work there?",
    "How do I reset my password?",
    "Is my data safe?",
    "Can I share a folder with people outside my team?",
    "How do I add a team member to my plan?",
    "What happens to my files when I cancel?",
    "Who is the founder of Nimbus?",
    "Can other people see my files?",
    "How do I transfer files to a new computer?",
    "How do I transfer ownership of a shared folder?",
    "My agent app keeps crashing",
    "How do I connect my phone?",
    "Can I get a refund?",
    "How many employees does Nimbus have?",
    "Where is your team based?",
    "I want to upgrade my plan",
    "How do I give someone access to a folder?",
    "Does the desktop app work on Linux?",
    "Can I speak Spanish in the app?",
    "The person I shared with can't open the link",
    "Someone deleted my file, can I get it back?",
    "How do I talk to the API?",
    "What is the weather on Mars?",
    "How do I change my email?",
    "What's your support email address?",
    "is the sync agent running",
    "how do I pass a file to a friend",
    # Asking what the bot is: answered from the knowledge base (see knowledge/intents.py).
    "is this a human?",
    "are you a bot?",
    # Someone else, or help in general, is not a request for a person.
    "It looks like someone else used my card",
    "Can someone please assist me with activating my card?",
    "Do I need to talk to someone to cancel my plan?",
    "Can a person have two accounts?",
    "",
    "   ",
]


@pytest.mark.parametrize("text", REQUESTS)
def test_a_request_for_a_person_is_recognised(text):
    assert wants_human(text) is True


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_questions_about_people_and_ordinary_questions_are_not_requests(text):
    assert wants_human(text) is False


def test_the_table_is_large_enough_both_ways():
    assert len(REQUESTS) >= 40 and len(NOT_REQUESTS) >= 30

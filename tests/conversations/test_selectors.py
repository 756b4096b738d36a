"""The pure pick of the agent reply worth teaching the bot (``reply_to_learn``), on
realistic transcripts in English and German."""

import pytest

from conversations.selectors import LEARN_MIN_WORDS, reply_core, reply_to_learn

CUSTOMER, AGENT, BOT, SYSTEM = "customer", "agent", "bot", "system"


@pytest.mark.parametrize(
    "body",
    [
        "Hi Anna!",
        "Thanks, one moment",
        "You're welcome, have a nice day",
        "You\u2019re welcome, have a nice day!",  # a typographic apostrophe
        "Hallo Herr Müller!",
        "Gern geschehen, schönen Tag noch!",
        "Danke, einen Moment bitte.",
        "Is there anything else I can help you with?",
    ],
)
def test_greetings_acknowledgements_and_pleasantries_have_no_core(body):
    assert reply_core(body) == ""


@pytest.mark.parametrize(
    ("body", "core"),
    [
        (
            "Hi Anna! You can change the delivery address under Account > Orders until the parcel ships."
            " Hope that helps!",
            "You can change the delivery address under Account > Orders until the parcel ships.",
        ),
        (
            "Hallo Herr Müller,\nIhre Rücksendung ist angekommen, die Erstattung kommt in drei bis fünf Werktagen."
            "\n\nViele Grüße\nBob",
            "Ihre Rücksendung ist angekommen, die Erstattung kommt in drei bis fünf Werktagen.",
        ),
        (
            "Good morning Sam, open Settings > Security and choose Reset password. Does that help?",
            "open Settings > Security and choose Reset password.",
        ),
        (
            "Sehr geehrte Frau Schmidt, die Rechnung finden Sie unter Konto > Rechnungen als PDF. Kann ich sonst noch"
            " helfen?",
            "die Rechnung finden Sie unter Konto > Rechnungen als PDF.",
        ),
        # A long sentence that starts with thanks carries content: kept.
        (
            "Thank you for your patience, the refund of 20 EUR has been issued to your card.",
            "Thank you for your patience, the refund of 20 EUR has been issued to your card.",
        ),
        # "Hi" must be a word of its own, and a greeting runs to its punctuation: no content eaten.
        (
            "History of your orders is under Account > Orders, with invoices.",
            "History of your orders is under Account > Orders, with invoices.",
        ),
        (
            "Hey there we shipped your replacement yesterday by DHL, tracking follows.",
            "Hey there we shipped your replacement yesterday by DHL, tracking follows.",
        ),
        (
            "The refund went out today.\n\nBest regards,\nAlice",
            "The refund went out today.",
        ),
    ],
)
def test_the_core_of_a_reply_loses_its_greeting_sign_off_and_closing_only(body, core):
    assert reply_core(body) == core


def test_an_english_transcript_picks_the_answer_not_the_greeting_or_the_goodbye():
    transcript = [
        (CUSTOMER, "How do I change my delivery address?"),
        (BOT, "I'm not sure. Let me get a person for you."),
        (SYSTEM, "Alice joined the conversation."),
        (AGENT, "Hi Anna!"),
        (AGENT, "Thanks, one moment"),
        (CUSTOMER, "The order is 4411, it has not shipped yet"),
        (
            AGENT,
            "Hi Anna, as long as it has not shipped you can change the address under Account > Orders > Edit."
            " Hope that helps!",
        ),
        (CUSTOMER, "Perfect, thank you!"),
        (AGENT, "You're welcome, have a nice day"),
    ]
    assert reply_to_learn(transcript) == (
        6,
        "as long as it has not shipped you can change the address under Account > Orders > Edit.",
    )


def test_a_german_transcript_picks_the_answer():
    transcript = [
        (CUSTOMER, "Wo finde ich meine Rechnung?"),
        (AGENT, "Hallo Frau Schmidt, einen Moment bitte."),
        (
            AGENT,
            "Guten Tag! Ihre Rechnungen liegen unter Konto > Rechnungen, jede als PDF zum Herunterladen.\n\nViele"
            " Grüße\nBob",
        ),
        (CUSTOMER, "Danke!"),
        (AGENT, "Gern geschehen, schönen Tag noch!"),
    ]
    assert reply_to_learn(transcript) == (
        2,
        "Ihre Rechnungen liegen unter Konto > Rechnungen, jede als PDF zum Herunterladen.",
    )


def test_a_question_back_to_the_customer_is_not_an_answer_however_long():
    transcript = [
        (CUSTOMER, "My parcel never arrived"),
        (AGENT, "Hi! Could you send me the order number and the address you ordered it to, please?"),
        (CUSTOMER, "4411, Hauptstraße 1"),
        (AGENT, "Found it: the parcel is at the DHL depot and will be delivered tomorrow."),
    ]
    assert reply_to_learn(transcript) == (3, "Found it: the parcel is at the DHL depot and will be delivered tomorrow.")


def test_the_longest_substantive_reply_wins():
    short = "Your order shipped yesterday by DHL, it arrives tomorrow."
    long = "Your order shipped yesterday by DHL; the tracking number is in the e-mail we sent, it arrives tomorrow."
    assert reply_to_learn([(AGENT, short), (AGENT, long), (AGENT, short)]) == (1, long)


def test_nothing_to_learn_when_every_reply_is_short_or_a_pleasantry():
    few = " ".join(["word"] * (LEARN_MIN_WORDS - 1))
    transcript = [(AGENT, "Hi Anna!"), (AGENT, few), (AGENT, "Thanks, one moment"), (CUSTOMER, few + " " * 3 + few)]
    assert reply_to_learn(transcript) is None
    assert reply_to_learn([(AGENT, few + " more")]) == (0, few + " more")  # exactly the minimum counts
    assert reply_to_learn([]) is None

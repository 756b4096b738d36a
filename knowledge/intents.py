"""Does the customer ask for a person? Checked before retrieval, on every message.

Patterns look for a request verb near a word for a person, in English, French,
Spanish, German, Italian, Portuguese and Dutch. Questions *about* people ("who is
your CEO", "how many people work there") are not requests and do not match.

Asking *what* the bot is ("is this a human?", "are you a bot?") is not a request
either: it is answered honestly from the knowledge base (the demo help centre has
an entry saying it is an assistant and how to reach a person), or handed off as
low confidence where no entry covers it. Customers who want a person say so, and
the chat page has a "Talk to a person" button.
"""

import re
import unicodedata

_PERSON = (
    r"(?:human(?: being)?|person|people|agent|operator|representative|rep|someone|somebody|"
    r"real (?:person|human|agent)|live (?:agent|person|chat|support)|support (?:agent|staff|team)|"
    r"customer (?:service|support|care)(?: (?:agent|rep|representative|team))?|staff|manager|supervisor|"
    r"team member|advisor|adviser|employee)"
)
_ASK = r"(?:speak|talk|chat|connect|transfer|put|pass|escalate|get|give|hand|switch|let me (?:speak|talk))"

_DET = r"(?:a|an|the|some|your|real|actual|live|\s)*"
_PLEASE = r"(?:please|pls|plz|now|asap)"
_BOT = r"(?:bot|robot|machine|ai|automated)"

_PATTERNS = [
    # "can I speak to an agent", "connect me with a human", "transfer me to a representative"
    rf"\b{_ASK}\b(?:\s+\w+){{0,4}}?\s+(?:to|with|through to|me to|me with|over to)\s+{_DET}{_PERSON}\b",
    # "I want a human", "I need a real person", "i'd like an agent", "need someone to help"
    rf"\b(?:want|need|(?:would|'d) like|prefer|request|demand|get me|find me|bring me)\b\s+"
    rf"(?:to\s+(?:speak|talk)\s+to\s+)?{_DET}{_PERSON}\b",
    # "human please", "agent!", "operator", "representative" on their own
    rf"^\W*(?:a\s+|an\s+)?(?:real\s+|live\s+)?{_PERSON}\W*{_PLEASE}?\W*{_PLEASE}?\W*$",
    # ... but "can someone please assist me with my card?" asks for help, not for a person
    rf"\b(?:a|an|real|live)?\s*(?!some(?:one|body)\b){_PERSON}\s*,?\s*(?:please|pls|plz)\b",
    # "can a human help me", "could an agent call me" (not "someone": "can someone assist me
    # with activating my card?" is a question for the knowledge base)
    r"\b(?:can|could|would|will)\s+(?:a|an|one of your|your)?\s*(?:real |live )?"
    r"(?:human|person|agent|operator|representative|advisor|adviser|staff member|team member)s?\s+"
    r"(?:please\s+)?(?:help|assist|call|contact|look at|take over|get back to)\b",
    # "is there a human I can talk to", "is anyone there who is a real person"
    rf"\b(?:is there|are there|any)\s+(?:a|an|any)?\s*{_PERSON}\b.*\b(?:talk|speak|chat|help)\b",
    # "stop the bot", "not a bot", "no more bot"
    rf"\b(?:not|no more|stop|enough of|done with|hate|tired of)\s+(?:the\s+|this\s+|a\s+|talking to a\s+)?{_BOT}",
    rf"\b(?:don't|do not|dont)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?(?:a|the|this)?\s*{_BOT}",
    # Other languages: a verb of speaking and a word for a person, in either order.
    *(
        rf"(?=.*\b(?:{verbs})\b)(?=.*\b(?:{people})\b)"
        for verbs, people in [
            ("parler|discuter|mis en relation|joindre", "humain|personne|agent|conseiller|conseillere|operateur"),
            (
                "hablar|comunicar(?:me)?|pasar(?:me)?|contactar|quiero|necesito",
                "humano|persona|agente|asesor|operador|representante",
            ),
            (
                "sprechen|reden|verbinden|bitte|mochte|will",
                "mensch(?:en)?|mitarbeiter(?:in)?|echte[nm]? person|berater(?:in)?",
            ),
            ("parlare|passare|voglio", "operatore|persona|umano|agente"),
            ("falar|conversar|quero|preciso", "humano|pessoa|atendente|agente"),
            ("spreken|praten|wil", "mens|medewerker|persoon"),
        ]
    ),
]
_REQUEST = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)

# Questions about people, not requests for one; and whether a step needs a person
# ("do I need to speak to a representative to change my PIN?"), which the knowledge base answers.
_ABOUT_PEOPLE = re.compile(
    r"^\s*(?:who|how many|what|which|where|when|does|do|did|is|are|was|were)\b.*\b(?:ceo|founder|owner|"
    r"people work|employees? (?:do|does|are)|staff (?:do|does|are)|manager of|team behind|work(?:s|ing)? there)\b"
    r"|^\s*(?:do|does|will|must|should) (?:i|we|you) (?:need|have|has) to (?:speak|talk|call|see)\b",
    re.IGNORECASE,
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text.lower().replace("\u2019", "'")).strip()


def wants_human(text: str) -> bool:
    text = _normalise(text)
    if not text or _ABOUT_PEOPLE.search(text):
        return False
    return bool(_REQUEST.search(text))

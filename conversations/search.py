"""Reads for the agents' search across conversations and messages (issue #15).

On PostgreSQL, full-text search: the query is read by ``websearch_to_tsquery``
(quotes for phrases, ``-word`` to exclude, ``or``; any other punctuation is
ignored, so no text an agent types can be a syntax error), matched against each
message body's tsvector (a GIN index, migration 0007) and the customer's name,
e-mail and external id, and ranked. On SQLite (the embedded mode) a simpler
fallback: every word must appear (``icontains``) in one message, or across the
customer's fields; newest first, no rank.

One row per conversation either way; the snippets are read for the page shown only.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector, SearchVectorExact
from django.db import connection
from django.db.models import Case, F, FilteredRelation, FloatField, Max, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from conversations.models import Conversation, Customer, Message

# 'simple' lower-cases and splits words but stems nothing: customers write in
# English, German and more in the same inbox, and an English stemmer would mangle
# the others' words (and a per-message language is not known). The price: a search
# for "invoice" does not find "invoices". Migration 0007's indexes are built on
# this configuration; change both together.
SEARCH_CONFIG = "simple"
QUERY_MAX = 200
SNIPPET_CHARS = 180


def full_text() -> bool:
    """PostgreSQL's full-text search, or the fallback (which knows no "or")."""
    return connection.vendor == "postgresql"


def message_vector(prefix: str = "") -> SearchVector:
    """The body's tsvector, written exactly as the GIN index ``message_body_search_idx``
    is, through ``prefix`` from another model."""
    return SearchVector(f"{prefix}body", config=SEARCH_CONFIG)


def customer_vector(prefix: str = "") -> SearchVector:
    """The customer's name, e-mail and external id as one tsvector (index
    ``customer_search_idx``), through ``prefix`` from another model."""
    return SearchVector(f"{prefix}name", f"{prefix}email", f"{prefix}external_id", config=SEARCH_CONFIG)


def _tsquery(text: str) -> SearchQuery:
    return SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)


# --- What the text asks for -----------------------------------------------------------

_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|(\S+))')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Terms:
    """The text as websearch reads it, for the fallback and the highlighting:
    ``required`` phrases (a quoted phrase as written, its words joined by a space;
    an unquoted token's words one by one), ``excluded`` ones (``-word``), and the
    single ``words`` to highlight."""

    required: tuple[str, ...]
    excluded: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w for phrase in self.required for w in phrase.split(" "))


def terms_parse(text: str) -> Terms:
    required, excluded = [], []
    for minus, phrase, token in _TOKEN.findall(text):
        words = _WORD.findall(phrase if phrase else token)
        if not words or (not phrase and not minus and token.lower() == "or"):
            continue  # punctuation alone, or websearch's "or" (the fallback requires every word)
        found = [" ".join(words)] if phrase else words
        (excluded if minus else required).extend(w.lower() for w in found)
    return Terms(required=tuple(dict.fromkeys(required)), excluded=tuple(dict.fromkeys(excluded)))


# --- Filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the results are narrowed to; dates are whole UTC days, ``date_to`` included."""

    status: str = ""
    priority: int | None = None
    agent: object | None = None  # a user
    reason: str = ""
    date_field: str = "created"  # or "handed_off"
    date_from: date | None = None
    date_to: date | None = None

    DATE_FIELDS = {"created": "created_at", "handed_off": "handed_off_at"}

    def q(self) -> Q:
        q = Q()
        if self.status:
            q &= Q(status=self.status)
        if self.priority:
            q &= Q(priority=self.priority)
        if self.agent is not None:
            q &= Q(assigned_agent=self.agent)
        if self.reason:
            q &= Q(handoff_reason=self.reason)
        field = self.DATE_FIELDS[self.date_field]
        # Aware bounds, not a __date lookup: the column's index stays usable.
        if self.date_from:
            q &= Q(**{f"{field}__gte": datetime.combine(self.date_from, time.min, tzinfo=UTC)})
        if self.date_to:
            q &= Q(**{f"{field}__lt": datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)})
        return q

    @property
    def any(self) -> bool:
        return bool(self.status or self.priority or self.reason or self.date_from or self.date_to) or (
            self.agent is not None
        )


# --- The search ----------------------------------------------------------------------------


def _fallback_match(terms: Terms) -> tuple[Q, Q]:
    """(message match, customer match) for SQLite: each required phrase in the body
    (or in one of the customer's fields), no excluded one."""
    message, customer = Q(), Q()
    fields = ("name", "email", "external_id")
    for phrase in terms.required:
        message &= Q(**{"body__icontains": phrase})
        customer &= Q(*[Q(**{f"{f}__icontains": phrase}) for f in fields], _connector=Q.OR)
    for phrase in terms.excluded:
        message &= ~Q(**{"body__icontains": phrase})
        customer &= ~Q(*[Q(**{f"{f}__icontains": phrase}) for f in fields], _connector=Q.OR)
    return message, customer


def search_conversations(*, text: str, filters: Filters) -> QuerySet[Conversation]:
    """The conversations the text finds within the filters, one row each: best
    match first on PostgreSQL (``rank``: the best message's plus the customer's),
    newest first otherwise. With no text, the filters alone, newest first."""
    base = Conversation.objects.filter(filters.q()).select_related("customer", "assigned_agent")
    newest = ("-created_at", "-pk")
    text = text.strip()
    if not text:
        return base.order_by(*newest)
    if not terms_parse(text).required:
        # Nothing websearch would keep (punctuation, only exclusions): on PostgreSQL
        # "-x" alone would match nearly everything, which is not a search.
        return base.none()
    if full_text():
        query = _tsquery(text)
        messages = Message.objects.annotate(v=message_vector()).filter(v=query).values("conversation_id")
        customers = Customer.objects.annotate(v=customer_vector()).filter(v=query).values("pk")
        # Found: non-correlated IN subqueries, which PostgreSQL reads once each,
        # through the GIN indexes, into hashes the conversations are checked against.
        # Ranked: the matching messages alone joined back (the ON clause is the same
        # indexed match) and the best one kept; the customer's rank is added where
        # the customer matched. One pass over the matches, where a rank subquery per
        # conversation parsed every message of every match (bench/search.py).
        hit = FilteredRelation("messages", condition=Q(SearchVectorExact(message_vector("messages__"), query)))
        best_message = Max(SearchRank(message_vector("hit__"), query), filter=Q(hit__isnull=False))
        customer_rank = Max(
            Case(
                When(customer_id__in=customers, then=SearchRank(customer_vector("customer__"), query)),
                default=Value(0.0),
                output_field=FloatField(),
            )
        )
        return (
            base.filter(Q(pk__in=messages) | Q(customer_id__in=customers))
            .annotate(hit=hit)
            .annotate(rank=Coalesce(best_message, Value(0.0), output_field=FloatField()) + customer_rank)
            .order_by("-rank", *newest)
        )
    terms = terms_parse(text)
    message, customer = _fallback_match(terms)
    found = base.filter(
        Q(pk__in=Message.objects.filter(message).values("conversation_id"))
        | Q(customer_id__in=Customer.objects.filter(customer).values("pk"))
    )
    return found.order_by(*newest)


def search_snippets(*, conversation_ids: list[int], text: str) -> dict[int, SafeString]:
    """The best matching message of each of these conversations (one page of
    results), as a highlighted snippet: by rank on PostgreSQL, the latest otherwise.
    A conversation found by its customer alone has none."""
    terms = terms_parse(text)
    if not conversation_ids or not terms.required:
        return {}
    page = Message.objects.filter(conversation_id__in=conversation_ids)
    if full_text():
        query = _tsquery(text)
        rows = (
            page.annotate(v=message_vector())
            .filter(v=query)
            .annotate(r=SearchRank(F("v"), query))
            .order_by("conversation_id", "-r", "-seq")
            .distinct("conversation_id")
            .values_list("conversation_id", "body")
        )
        whole_words = True
    else:
        message, _ = _fallback_match(terms)
        rows = page.filter(message).order_by("conversation_id", "-seq").values_list("conversation_id", "body")
        whole_words = False
    best: dict[int, str] = {}
    for conversation_id, body in rows:
        best.setdefault(conversation_id, body)
    return {pk: snippet_highlight(body, terms.words, whole_words=whole_words) for pk, body in best.items()}


def snippet_highlight(body: str, words: tuple[str, ...], *, whole_words: bool, size: int = SNIPPET_CHARS) -> SafeString:
    """About ``size`` characters of ``body`` around its first matched word, every
    match wrapped in <mark>; the text is escaped piece by piece, so only the marks
    are markup. ``whole_words``: as PostgreSQL matched (tokens), else as
    ``icontains`` did (anywhere in a word)."""
    body = " ".join(body.split())  # one line: newlines and runs of spaces would not show in a row anyway
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    if not alternatives:
        return escape(body[:size])
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)" if whole_words else alternatives, re.IGNORECASE)
    first = pattern.search(body)
    start = max((first.start() if first else 0) - size // 4, 0)
    if start:
        # Start at a word: the space after the cut, if one is near.
        space = body.find(" ", start, start + 20)
        start = space + 1 if space >= 0 else start
    end = min(start + size, len(body))
    window = body[start:end]
    parts, at = [], 0
    for match in pattern.finditer(window):
        parts.append(escape(window[at : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        at = match.end()
    parts.append(escape(window[at:]))
    return mark_safe(("…" if start else "") + "".join(parts) + ("…" if end < len(body) else ""))

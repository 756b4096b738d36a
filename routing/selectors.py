"""Reads for routing: settings, the agent board, who may take a conversation."""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from conversations.models import Conversation
from conversations.selectors import last_customer_body
from core import config
from knowledge.models import Entry
from routing import queries
from routing.models import AgentProfile, Offer, RoutingRule, RoutingSettings, Skill


def routing_settings() -> RoutingSettings:
    """The settings row, created with the defaults on first use (cached: see
    core.config). Change it with ``save()``, which every process sees."""
    return config.cached("routing.settings", lambda: RoutingSettings.objects.get_or_create(pk=1)[0])


@dataclass
class Candidate:
    """An online agent as one routing round read them (no lock held)."""

    profile_id: int
    user_id: int
    username: str
    first_name: str
    active: int
    offered: int
    capacity: int
    last_assigned_at: datetime | None
    skills: set[int] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.first_name or self.username  # display_name's rule, without the user row

    @property
    def user(self):
        """The agent as a user instance for the services routing calls, built from
        what was read (they use its id and name) instead of loading the row again."""
        return get_user_model()(pk=self.user_id, username=self.username, first_name=self.first_name)

    def line(self, *, busy: int, eligible: bool, why: str) -> dict:
        """This agent's line in a routing decision's record."""
        return {
            "agent": self.user_id,
            "name": self.name,
            "load": f"{busy}/{self.capacity}",
            "eligible": eligible,
            "why": why,
        }

    def assess(self, *, busy: int, required: set[int]) -> dict:
        """May this agent, with ``busy`` conversations, take one needing ``required``?"""
        if busy >= self.capacity:
            return self.line(busy=busy, eligible=False, why="at capacity")
        if not required <= self.skills:
            return self.line(busy=busy, eligible=False, why="missing skills")
        return self.line(busy=busy, eligible=True, why="eligible")


def online_candidates(*, with_skills: bool = True) -> list[Candidate]:
    """Every online agent with their load (and skills), in one query (two), read as
    plain values: a round of routing reads this and nothing else about agents."""
    candidates = {row[0]: Candidate(*row) for row in queries.online_candidate_rows()}
    if with_skills and candidates:
        for profile_id, skill_id in queries.profile_skill_rows(profile_ids=list(candidates)):
            candidates[profile_id].skills.add(skill_id)
    return list(candidates.values())


def routing_rules() -> list[RoutingRule]:
    """The active routing rules, read with their skills in one query (cached: see
    core.config); each carries ``required``, its skills as (id, name) pairs."""
    return config.cached("routing.rules", _routing_rules_read)


def _routing_rules_read() -> list[RoutingRule]:
    rules: dict[int, RoutingRule] = {}
    fields = ["id", "name", "category", "keywords", "segment", "language"]
    for row in (
        RoutingRule.skills.through.objects.filter(routingrule__is_active=True)
        .order_by("routingrule__name", "routingrule_id", "skill_id")
        .values_list(*(f"routingrule__{f}" for f in fields), "skill_id", "skill__name")
    ):
        rule = rules.get(row[0])
        if rule is None:
            rule = rules[row[0]] = RoutingRule(**dict(zip(fields, row, strict=False)))
            rule.required = []
        rule.required.append((row[-2], row[-1]))
    return list(rules.values())


def rules_matching_many(*, conversations: list[Conversation]) -> dict[int, list[RoutingRule]]:
    """For each conversation (its customer loaded with it), the active rules whose
    every filled-in condition matches it: one query for the rules, and one each
    for what customers said and the knowledge-base categories, if a rule looks."""
    rules = routing_rules()
    if not rules:
        return {c.pk: [] for c in conversations}
    said: dict[int, str] = {}
    if any(r.keywords for r in rules):
        ids = [c.pk for c in conversations]
        for conversation_id, body in queries.customer_message_bodies(conversation_ids=ids):
            said[conversation_id] = f"{said.get(conversation_id, '')} {body.lower()}"
    categories: dict[str, str] = {}
    if any(r.category for r in rules):
        guesses = {_first_guess(c) for c in conversations} - {""}
        categories = dict(Entry.objects.filter(external_id__in=guesses).values_list("external_id", "category"))
    matching = {}
    for conversation in conversations:
        customer = conversation.customer
        category = categories.get(_first_guess(conversation), "")
        matching[conversation.pk] = [
            rule
            for rule in rules
            if not (rule.category and rule.category.lower() != category.lower())
            and not (rule.segment and rule.segment.lower() != customer.segment.lower())
            and not (rule.language and rule.language.lower() != customer.language.lower())
            and not (rule.keywords and not any(k in said.get(conversation.pk, "") for k in rule.keyword_list))
        ]
    return matching


def _first_guess(conversation: Conversation) -> str:
    """The knowledge-base entry the bot thought most likely when it handed off."""
    sources = conversation.handoff_sources or []
    if sources and isinstance(sources[0], dict):
        return str(sources[0].get("id") or "")
    return ""


def rules_matching(*, conversation: Conversation) -> list[RoutingRule]:
    return rules_matching_many(conversations=[conversation])[conversation.pk]


def agent_board(*, user) -> QuerySet[AgentProfile]:
    """The agents the inbox shows: everyone for admins, oneself for others."""
    qs = AgentProfile.objects.select_related("user").prefetch_related("skills").order_by("user__username")
    return qs if user.is_staff else qs.filter(user=user)


def with_question(offers: QuerySet[Offer]) -> QuerySet[Offer]:
    """Offers as their cards show them: the customer and what they last said."""
    return offers.select_related("conversation__customer").annotate(question=last_customer_body("conversation_id"))


def open_offers_for(*, user) -> QuerySet[Offer]:
    return with_question(Offer.objects.filter(agent=user, state=Offer.State.OPEN))


def transfer_targets(*, exclude_user_id: int | None) -> tuple[list[AgentProfile], list[Skill]]:
    agents = list(
        AgentProfile.objects.select_related("user").exclude(user_id=exclude_user_id).order_by("user__username")
    )
    return agents, list(Skill.objects.all())

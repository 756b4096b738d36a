"""Reads for routing: settings, the agent board, who may take a conversation."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from conversations.models import Conversation, display_name
from knowledge.models import Entry
from routing.models import AgentProfile, Offer, RoutingRule, RoutingSettings, RoutingState, Skill


def routing_settings() -> RoutingSettings:
    """The settings row, created with the defaults on first use."""
    return RoutingSettings.objects.get_or_create(pk=1)[0]


@dataclass
class Candidate:
    """An online agent as routing sees them at one decision."""

    profile_id: int
    user_id: int
    name: str
    active: int
    offered: int
    capacity: int
    last_assigned_at: datetime | None
    skills: set[int] = field(default_factory=set)

    @property
    def free(self) -> bool:
        return self.active + self.offered < self.capacity

    @property
    def load(self) -> float:
        return (self.active + self.offered) / self.capacity if self.capacity else 1.0

    def describe(self, *, eligible: bool, why: str) -> dict:
        return {
            "agent": self.user_id,
            "name": self.name,
            "load": f"{self.active + self.offered}/{self.capacity}",
            "eligible": eligible,
            "why": why,
        }


def online_candidates() -> list[Candidate]:
    """Every online agent with their load and skills, in two queries."""
    profiles = list(
        AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE, user__is_active=True).select_related("user")
    )
    skills: dict[int, set[int]] = {p.pk: set() for p in profiles}
    for profile_id, skill_id in AgentProfile.skills.through.objects.filter(
        agentprofile_id__in=list(skills)
    ).values_list("agentprofile_id", "skill_id"):
        skills[profile_id].add(skill_id)
    return [
        Candidate(
            profile_id=p.pk,
            user_id=p.user_id,
            name=display_name(p.user),
            active=p.active_count,
            offered=p.offered_count,
            capacity=p.capacity,
            last_assigned_at=p.last_assigned_at,
            skills=skills[p.pk],
        )
        for p in profiles
    ]


def required_skill_ids(*, state: RoutingState) -> set[int]:
    if state.relaxed_at is not None:
        return set()
    return set(state.required_skills.values_list("pk", flat=True))


def rules_matching(*, conversation: Conversation) -> list[RoutingRule]:
    """The active rules whose every filled-in condition matches the conversation."""
    rules = list(RoutingRule.objects.filter(is_active=True).prefetch_related("skills"))
    if not rules:
        return []
    customer = conversation.customer
    category = said = ""  # read only if some rule looks at them
    sources = conversation.handoff_sources or []
    if any(r.category for r in rules) and sources and isinstance(sources[0], dict) and sources[0].get("id"):
        category = Entry.objects.filter(external_id=sources[0]["id"]).values_list("category", flat=True).first() or ""
    if any(r.keywords for r in rules):
        said = " ".join(conversation.messages.filter(sender="customer").values_list("body", flat=True)).lower()
    matching = []
    for rule in rules:
        if rule.category and rule.category.lower() != category.lower():
            continue
        if rule.segment and rule.segment.lower() != customer.segment.lower():
            continue
        if rule.language and rule.language.lower() != customer.language.lower():
            continue
        if rule.keywords and not any(k in said for k in rule.keyword_list):
            continue
        matching.append(rule)
    return matching


def agent_board(*, user) -> QuerySet[AgentProfile]:
    """The agents the inbox shows: everyone for admins, oneself for others."""
    qs = AgentProfile.objects.select_related("user").prefetch_related("skills").order_by("user__username")
    return qs if user.is_staff else qs.filter(user=user)


def open_offers_for(*, user) -> QuerySet[Offer]:
    return Offer.objects.filter(agent=user, state=Offer.State.OPEN).select_related("conversation__customer")


def transfer_targets(*, exclude_user_id: int | None) -> tuple[list[AgentProfile], list[Skill]]:
    agents = list(
        AgentProfile.objects.select_related("user").exclude(user_id=exclude_user_id).order_by("user__username")
    )
    return agents, list(Skill.objects.all())

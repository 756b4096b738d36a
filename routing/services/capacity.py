"""Capacity: the agents' profiles, locked in one order, and the slots they have left."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F

from conversations.models import display_name
from routing import broadcast, queries
from routing.models import AgentProfile, Offer

Presence = AgentProfile.Presence


class AgentAtCapacity(Exception):
    def __init__(self, agent):
        super().__init__(f"{display_name(agent)} already has as many conversations as their capacity allows.")


def agent_profile_for(user: AbstractBaseUser) -> AgentProfile:
    """The agent's routing profile, created (offline, capacity 5) on first use."""
    return AgentProfile.objects.get_or_create(user=user)[0]


def agents_lock(user_ids) -> None:
    """Row-lock these agents' profiles in the one order every path uses."""
    slots_lock({user_id: get_user_model()(pk=user_id) for user_id in user_ids})


@dataclass
class Slots:
    """An agent's profile as read under its row lock: what may still be taken."""

    user_id: int
    username: str
    first_name: str
    presence: str
    capacity: int
    active: int
    offered: int

    @property
    def payload(self) -> dict:
        return broadcast.agent_values_payload(
            user_id=self.user_id,
            name=self.first_name or self.username,
            presence=self.presence,
            capacity=self.capacity,
            active=self.active,
            offered=self.offered,
        )


def slots_lock(users: dict[int, AbstractBaseUser]) -> dict[int, Slots]:
    """Lock the profiles of these agents (creating a missing one: someone taking a
    first conversation by hand), in user id order, and read them."""
    rows = {row[0]: Slots(*row) for row in queries.profiles_lock(user_ids=list(users))}
    if len(rows) < len(users):
        for user_id in users.keys() - rows.keys():
            agent_profile_for(users[user_id])
        rows = {row[0]: Slots(*row) for row in queries.profiles_lock(user_ids=list(users))}
    return rows


def slots_take(
    *, rows: dict[int, Slots], need: Counter, users: dict, offered: bool, online: bool, now: datetime
) -> None:
    """Take ``need[agent]`` slots of each locked agent, as assignments or as offers;
    AgentAtCapacity if one has too little room (or is not online, if ``online``)."""
    for user_id, n in need.items():
        row = rows[user_id]
        if row.active + row.offered + n > row.capacity or (online and row.presence != Presence.ONLINE):
            raise AgentAtCapacity(users[user_id])
    queries.profiles_take(need=need, offered=offered, now=now)
    for user_id, n in need.items():
        if offered:
            rows[user_id].offered += n
        else:
            rows[user_id].active += n


def offer_close(*, offer: Offer, state: str, now: datetime) -> bool:
    """Close an open offer and give its reserved slot back. Caller holds the
    conversation lock and the agent's profile lock."""
    closed = Offer.objects.filter(pk=offer.pk, state=Offer.State.OPEN).update(state=state, closed_at=now)
    if closed:
        AgentProfile.objects.filter(user_id=offer.agent_id, offered_count__gt=0).update(
            offered_count=F("offered_count") - 1
        )
        broadcast.notify_offer_closed(
            offer_id=offer.pk, agent_id=offer.agent_id, conversation_id=offer.conversation_id, state=state
        )
    return bool(closed)

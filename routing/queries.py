"""Statements of the routing app written by hand, each beside its ORM twin.

Each is on the path a handoff waits for (the one router, a resolve, an
assignment) and is written out because building it through the ORM cost more
CPU than running it; the figures are in each docstring (from the commits that
wrote them out). Unless a docstring says otherwise, the same SQL runs on both
databases. ``tests/routing/test_queries.py`` runs each and its ``*_orm`` twin on
the same data and compares what they return and write.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Value, When

from conversations.models import Conversation, Message
from core.db import sql_case, sql_datetime, sql_for_update, sql_in, sql_rows, sql_run, sql_time
from routing.models import AgentProfile, Offer, RoutingState

CONVERSATIONS = Conversation._meta.db_table
MESSAGES = Message._meta.db_table
OFFERS = Offer._meta.db_table
PROFILES = AgentProfile._meta.db_table
PROFILE_SKILLS = AgentProfile.skills.through._meta.db_table
REQUIRED = RoutingState.required_skills.through._meta.db_table
SKILLS = RoutingState.required_skills.field.related_model._meta.db_table
STATES = RoutingState._meta.db_table
USERS = get_user_model()._meta.db_table
Status = Conversation.Status

# --- The agents' profiles: locks and counters ------------------------------------

# (user_id, username, first_name, presence, capacity, active_count, offered_count)
PROFILE_LOCK_COLUMNS = (
    "user_id",
    "user__username",
    "user__first_name",
    "presence",
    "capacity",
    "active_count",
    "offered_count",
)


def profiles_lock(*, user_ids: list[int]) -> list[tuple]:
    """Row-lock these agents' profiles in user id order (PostgreSQL; SQLite's
    transaction holds the one write lock) and read them with their names:
    ``PROFILE_LOCK_COLUMNS`` per row. Missing profiles are simply absent.

    Written out (acda163, "Hot paths write their UPDATEs and profile locks as plain
    SQL"): a SELECT built by the ORM cost 200-310 µs of CPU against 43 µs, and every
    assignment, offer, decline and resolve takes this lock. ORM:
    ``AgentProfile.objects.select_for_update(of=("self",)).filter(user_id__in=ids)
    .order_by("user_id").values_list(*PROFILE_LOCK_COLUMNS)``."""
    ids = sorted(user_ids)
    return sql_rows(
        f"SELECT p.user_id, u.username, u.first_name, p.presence, p.capacity, p.active_count, p.offered_count"
        f" FROM {PROFILES} p JOIN {USERS} u ON u.id = p.user_id WHERE p.user_id IN ({sql_in(ids)})"
        f" ORDER BY p.user_id{sql_for_update(of='p')}",
        ids,
    )


def profiles_lock_orm(*, user_ids: list[int]) -> list[tuple]:
    """The twin of ``profiles_lock``, through the ORM."""
    return list(
        AgentProfile.objects.select_for_update(of=("self",))
        .filter(user_id__in=list(user_ids))
        .order_by("user_id")
        .values_list(*PROFILE_LOCK_COLUMNS)
    )


def profiles_take(*, need: dict[int, int], offered: bool, now: datetime) -> int:
    """Count ``need[user id]`` more offers (``offered``) or assignments on these
    agents' profiles (an assignment also sets ``last_assigned_at``), in one
    UPDATE however many agents; returns the rows changed. The caller holds the
    profile locks and has checked capacity (the check constraint stands behind it).

    Written out (acda163): a filtered UPDATE built by the ORM cost 237 µs of CPU
    against 28 µs, and a routing round places its whole plan with this one.
    ORM: ``AgentProfile.objects.filter(user_id__in=need).update(active_count=
    F("active_count") + Case(When(user_id=…, then=n)…), last_assigned_at=now)``."""
    counter = "offered_count" if offered else "active_count"
    taken, params = sql_case("user_id", need)
    changes = f"{counter} = {counter} + {taken}"
    if not offered:
        changes += ", last_assigned_at = %s"
        params.append(sql_time(now))
    return sql_run(f"UPDATE {PROFILES} SET {changes} WHERE user_id IN ({sql_in(need)})", [*params, *need])


def profiles_take_orm(*, need: dict[int, int], offered: bool, now: datetime) -> int:
    """The twin of ``profiles_take``, through the ORM."""
    counter = "offered_count" if offered else "active_count"
    taken = Case(*(When(user_id=pk, then=Value(n)) for pk, n in need.items()), output_field=IntegerField())
    changes = {counter: F(counter) + taken}
    if not offered:
        changes["last_assigned_at"] = now
    return AgentProfile.objects.filter(user_id__in=list(need)).update(**changes)


def profile_load_decrement(*, user_id: int) -> int:
    """One conversation fewer on this agent (resolved, transferred away, requeued);
    never below zero. Returns the rows changed (0: there was none to free).

    The one statement for it (resolve wrote it by hand, transfer and requeue with
    ``F()``). Written out (acda163): a filtered UPDATE built by the ORM cost 237 µs
    of CPU against 28 µs, and every resolve runs it. ORM:
    ``AgentProfile.objects.filter(user_id=user_id, active_count__gt=0)
    .update(active_count=F("active_count") - 1)``."""
    return sql_run(
        f"UPDATE {PROFILES} SET active_count = active_count - 1 WHERE user_id = %s AND active_count > 0", [user_id]
    )


def profile_load_decrement_orm(*, user_id: int) -> int:
    """The twin of ``profile_load_decrement``, through the ORM."""
    return AgentProfile.objects.filter(user_id=user_id, active_count__gt=0).update(active_count=F("active_count") - 1)


# --- The one router (PostgreSQL) ----------------------------------------------------

# PostgreSQL: the advisory lock the process routing holds, and the sequence
# requests are counted on (migration routing 0003).
ROUTER_LOCK = 0x626174_6F6E_01
REQUESTS = "routing_request_seq"

# Each statement runs its steps in order, in one round trip: a subquery with
# OFFSET 0 is not flattened, and a LATERAL one that refers to it runs after it.
_READ = f"CROSS JOIN LATERAL (SELECT last_value FROM {REQUESTS} WHERE x.done IS NOT NULL OFFSET 0) AS s"
_TAKE = f"SELECT x.done, s.last_value FROM (SELECT pg_try_advisory_lock(%s) AS done OFFSET 0) AS x {_READ}"
_COUNT_TAKE = f"""SELECT x.done, s.last_value FROM (SELECT nextval('{REQUESTS}') AS n OFFSET 0) AS c
    CROSS JOIN LATERAL (SELECT pg_try_advisory_lock(%s) AS done WHERE c.n IS NOT NULL OFFSET 0) AS x {_READ}"""
_RELEASE = f"SELECT s.last_value FROM (SELECT pg_advisory_unlock(%s) AS done OFFSET 0) AS x {_READ}"


def router_take(*, count: bool) -> tuple[bool, int]:
    """Try to take the router lock (``count``: count a request on the sequence
    first); returns whether it was taken and the count read after trying.
    PostgreSQL only (SQLite has one writer and routes in place).

    Written out (cf36b96): taking the lock with the count read, and letting go with
    it, in one statement each made a quiet request 2 statements instead of 5 (a
    handoff+resolve cycle 41 -> 36 statements, 23.4 -> 22.7 ms CPU). ORM: none;
    Django has no advisory locks or sequences (``router_take_orm`` is the same
    steps as separate statements)."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_TAKE if count else _TAKE, [ROUTER_LOCK])
        return cursor.fetchone()


def router_release() -> int:
    """Let go of the router lock; returns the count read after letting go
    (PostgreSQL only; see ``router_take``)."""
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE, [ROUTER_LOCK])
        return cursor.fetchone()[0]


def router_take_orm(*, count: bool) -> tuple[bool, int]:
    """The twin of ``router_take`` as the statements it replaced, one step each."""
    if count:
        sql_rows(f"SELECT nextval('{REQUESTS}')")
    done = sql_rows("SELECT pg_try_advisory_lock(%s)", [ROUTER_LOCK])[0][0]
    return done, sql_rows(f"SELECT last_value FROM {REQUESTS}")[0][0]


def router_release_orm() -> int:
    """The twin of ``router_release`` as the statements it replaced."""
    sql_rows("SELECT pg_advisory_unlock(%s)", [ROUTER_LOCK])
    return sql_rows(f"SELECT last_value FROM {REQUESTS}")[0][0]


# --- The queue, as a routing round reads it ------------------------------------------


def queue_window_rows(*, limit: int) -> list[tuple]:
    """The first ``limit`` waiting conversations nobody is being offered, in queue
    order (priority, handoff time, id): ``(conversation id, routing state id or
    None, relaxed_at, queued_recorded)``. No locks.

    Written out (6dacfba, "Routing rounds read the queue, the online agents and the
    rows they lock as written-out SQL"): a round's fixed cost was about 4.5 ms of
    CPU, mostly ORM query building; with these reads assign p50 61-68 -> 29-31 ms,
    p99 143-239 -> 74-93 ms. ORM: ``Conversation.objects.filter(status=PENDING_HANDOFF)
    .exclude(Exists(open offer)).order_by("priority", "handed_off_at", "id")
    .values_list("pk", "routing_state", "routing_state__relaxed_at",
    "routing_state__queued_recorded")[:limit]``."""
    return [
        (pk, state, sql_datetime(relaxed), queued)
        for pk, state, relaxed, queued in sql_rows(
            f"SELECT c.id, s.conversation_id, s.relaxed_at, s.queued_recorded FROM {CONVERSATIONS} c"
            f" LEFT JOIN {STATES} s ON s.conversation_id = c.id WHERE c.status = %s"
            f" AND NOT EXISTS (SELECT 1 FROM {OFFERS} o WHERE o.conversation_id = c.id AND o.state = %s)"
            " ORDER BY c.priority, c.handed_off_at, c.id LIMIT %s",
            [Status.PENDING_HANDOFF, Offer.State.OPEN, limit],
        )
    ]


def queue_window_rows_orm(*, limit: int) -> list[tuple]:
    """The twin of ``queue_window_rows``, through the ORM."""
    offered = Offer.objects.filter(conversation_id=OuterRef("pk"), state=Offer.State.OPEN)
    return list(
        Conversation.objects.filter(status=Status.PENDING_HANDOFF)
        .exclude(Exists(offered))
        .order_by("priority", "handed_off_at", "id")
        .values_list("pk", "routing_state", "routing_state__relaxed_at", "routing_state__queued_recorded")[:limit]
    )


def required_skills_rows(*, state_ids: list[int]) -> list[tuple]:
    """The skills these conversations' routing states require: ``(state id, skill
    id, skill name)``.

    Written out with the queue window (6dacfba: a round's ORM query building was
    most of its 4.5 ms of CPU). ORM: ``RoutingState.required_skills.through.objects
    .filter(routingstate_id__in=ids).values_list("routingstate_id", "skill_id",
    "skill__name")``."""
    if not state_ids:
        return []
    return sql_rows(
        f"SELECT r.routingstate_id, r.skill_id, k.name FROM {REQUIRED} r JOIN {SKILLS} k ON k.id = r.skill_id"
        f" WHERE r.routingstate_id IN ({sql_in(state_ids)})",
        state_ids,
    )


def required_skills_rows_orm(*, state_ids: list[int]) -> list[tuple]:
    """The twin of ``required_skills_rows``, through the ORM."""
    return list(
        RoutingState.required_skills.through.objects.filter(routingstate_id__in=state_ids).values_list(
            "routingstate_id", "skill_id", "skill__name"
        )
    )


def open_offers_of(*, conversation_ids: list[int]) -> list[Offer]:
    """The open offers of these conversations, as offers holding only their id,
    agent and conversation.

    Written out with the rows a round locks (6dacfba: a round's ORM query building
    was most of its 4.5 ms of CPU); every assignment reads it. ORM:
    ``Offer.objects.filter(conversation_id__in=ids, state=OPEN).only("id",
    "agent_id", "conversation_id")``."""
    return list(
        Offer.objects.raw(
            f"SELECT id, agent_id, conversation_id FROM {OFFERS} WHERE conversation_id IN ({sql_in(conversation_ids)})"
            " AND state = %s",
            [*conversation_ids, Offer.State.OPEN],
        )
    )


def open_offers_of_orm(*, conversation_ids: list[int]) -> list[Offer]:
    """The twin of ``open_offers_of``, through the ORM."""
    return list(
        Offer.objects.filter(conversation_id__in=conversation_ids, state=Offer.State.OPEN).only(
            "id", "agent_id", "conversation_id"
        )
    )


# --- Reads of the selectors ----------------------------------------------------------


def online_candidate_rows() -> list[tuple]:
    """Every online, active agent with their load, in user id order: ``(profile id,
    user id, username, first_name, active_count, offered_count, capacity,
    last_assigned_at)``.

    Written out (6dacfba): the online agents are read by every routing round, whose
    fixed cost was about 4.5 ms of CPU, mostly ORM query building (with it, assign
    p50 61-68 -> 29-31 ms). ORM: ``AgentProfile.objects.filter(presence=ONLINE,
    user__is_active=True).order_by("user_id").values_list("id", "user_id",
    "user__username", "user__first_name", "active_count", "offered_count",
    "capacity", "last_assigned_at")``."""
    rows = sql_rows(
        "SELECT p.id, p.user_id, u.username, u.first_name, p.active_count, p.offered_count, p.capacity,"
        f" p.last_assigned_at FROM {PROFILES} p JOIN {USERS} u"
        " ON u.id = p.user_id WHERE p.presence = %s AND u.is_active = %s ORDER BY p.user_id",
        [AgentProfile.Presence.ONLINE, True],
    )
    return [(*row[:-1], sql_datetime(row[-1])) for row in rows]


def online_candidate_rows_orm() -> list[tuple]:
    """The twin of ``online_candidate_rows``, through the ORM."""
    return list(
        AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE, user__is_active=True)
        .order_by("user_id")
        .values_list(
            "id",
            "user_id",
            "user__username",
            "user__first_name",
            "active_count",
            "offered_count",
            "capacity",
            "last_assigned_at",
        )
    )


def profile_skill_rows(*, profile_ids: list[int]) -> list[tuple]:
    """The skills of these agent profiles: ``(profile id, skill id)``.

    Written out with the online agents (6dacfba). ORM:
    ``AgentProfile.skills.through.objects.filter(agentprofile_id__in=ids)
    .values_list("agentprofile_id", "skill_id")``."""
    if not profile_ids:
        return []
    return sql_rows(
        f"SELECT agentprofile_id, skill_id FROM {PROFILE_SKILLS} WHERE agentprofile_id IN ({sql_in(profile_ids)})",
        profile_ids,
    )


def profile_skill_rows_orm(*, profile_ids: list[int]) -> list[tuple]:
    """The twin of ``profile_skill_rows``, through the ORM."""
    return list(
        AgentProfile.skills.through.objects.filter(agentprofile_id__in=profile_ids).values_list(
            "agentprofile_id", "skill_id"
        )
    )


def customer_message_bodies(*, conversation_ids: list[int]) -> list[tuple[int, str]]:
    """What the customers of these conversations said: ``(conversation id, body)``
    in conversation and message order (the keyword rules read it at handoff).

    Written out (5566e66, "Routing rules and resolve read the messages they need as
    plain rows"): the ORM read whole message models where two columns are needed;
    worker CPU per handoff 8.5 -> 8.3 ms. ORM: ``Message.objects.filter(
    conversation_id__in=ids, sender=CUSTOMER).order_by("conversation_id", "seq")
    .values_list("conversation_id", "body")``."""
    if not conversation_ids:
        return []
    return sql_rows(
        f"SELECT conversation_id, body FROM {MESSAGES} WHERE conversation_id IN ({sql_in(conversation_ids)})"
        " AND sender = %s ORDER BY conversation_id, seq",
        [*conversation_ids, Message.Sender.CUSTOMER],
    )


def customer_message_bodies_orm(*, conversation_ids: list[int]) -> list[tuple[int, str]]:
    """The twin of ``customer_message_bodies``, through the ORM."""
    return list(
        Message.objects.filter(conversation_id__in=conversation_ids, sender=Message.Sender.CUSTOMER)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "body")
    )


# --- Routing state ------------------------------------------------------------------


def routing_states_insert(*, states: dict[int, datetime]) -> set[int]:
    """Insert the routing state of these conversations (``{conversation id:
    skills_since}``) unless one exists; returns the ids inserted here.

    Check-then-insert was a race on PostgreSQL: two rounds meeting the same
    conversation both found no state and both inserted it (a duplicate key, issue
    #13). ``ON CONFLICT DO NOTHING`` lets the database decide, and ``RETURNING``
    says which inserts were ours. On SQLite its twin runs."""
    if not states:
        return set()
    if connection.vendor != "postgresql":
        return routing_states_insert_orm(states=states)
    rows = sql_rows(
        f"INSERT INTO {STATES} (conversation_id, skills_since, relaxed_at, queued_recorded)"
        f" VALUES {', '.join(['(%s, %s, NULL, false)'] * len(states))}"
        " ON CONFLICT (conversation_id) DO NOTHING RETURNING conversation_id",
        [value for pk, since in states.items() for value in (pk, since)],
    )
    return {pk for (pk,) in rows}


def routing_states_insert_orm(*, states: dict[int, datetime]) -> set[int]:
    """The twin of ``routing_states_insert``: safe where one transaction writes at a
    time (SQLite), as the check and the insert happen in it."""
    known = set(RoutingState.objects.filter(pk__in=list(states)).values_list("pk", flat=True))
    new = {pk: since for pk, since in states.items() if pk not in known}
    RoutingState.objects.bulk_create([RoutingState(conversation_id=pk, skills_since=s) for pk, s in new.items()])
    return set(new)

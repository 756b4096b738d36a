"""Routing state: agents' presence and load, skills, rules, offers and the record
of every decision. Conversations are referenced by key; their own table belongs
to the conversations app."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from conversations.models import Conversation


class Skill(models.Model):
    """A tag agents have and conversations may require: "billing", "technical", "de"."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class AgentProfile(models.Model):
    """An agent's presence, capacity and current load.

    ``active_count`` (assigned open conversations) and ``offered_count`` (open
    offers) are kept by conditional UPDATEs under the row lock; the check
    constraint makes the database refuse any write that would exceed capacity.
    """

    class Presence(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    presence = models.CharField(max_length=10, choices=Presence.choices, default=Presence.OFFLINE)
    # Set by the agent's own hand (kept when they reopen the inbox), not by the grace timer.
    presence_manual = models.BooleanField(default=False)
    presence_changed_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    capacity = models.PositiveSmallIntegerField(default=5, help_text="Most open conversations at once.")
    skills = models.ManyToManyField(Skill, blank=True, related_name="agents")
    active_count = models.PositiveSmallIntegerField(default=0, editable=False)
    offered_count = models.PositiveSmallIntegerField(default=0, editable=False)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(active_count__lte=F("capacity") - F("offered_count")),
                name="agentprofile_within_capacity",
            ),
        ]
        indexes = [
            models.Index(fields=["presence", "last_heartbeat_at"], name="agentprofile_presence_idx"),
        ]

    def __str__(self):
        return f"{self.user} ({self.presence})"

    @property
    def load(self) -> float:
        return (self.active_count + self.offered_count) / self.capacity if self.capacity else 1.0


class PresenceLog(models.Model):
    """One row per presence interval, so reports can add up time online."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence_logs")
    status = models.CharField(max_length=10, choices=AgentProfile.Presence.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent"], condition=Q(ended_at__isnull=True), name="presencelog_one_open"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="presencelog_ends_after"
            ),
        ]
        indexes = [models.Index(fields=["agent", "started_at"], name="presencelog_agent_time_idx")]

    def __str__(self):
        return f"{self.agent} {self.status} from {self.started_at:%Y-%m-%d %H:%M}"


class RoutingSettings(models.Model):
    """The one row of routing's business settings (pk=1), edited in admin."""

    class Mode(models.TextChoices):
        OFFER = "offer", "Offer to an agent, who accepts"
        AUTO_ASSIGN = "auto_assign", "Assign without asking"

    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.OFFER)
    offer_timeout_s = models.PositiveIntegerField(default=60, help_text="Seconds an offer waits for an answer.")
    presence_grace_s = models.PositiveIntegerField(
        default=60, help_text="Seconds without a live inbox before an agent goes offline."
    )
    skill_wait_s = models.PositiveIntegerField(
        default=120, help_text="Seconds a conversation waits for a skilled agent before any agent may take it."
    )
    requeue_on_offline = models.BooleanField(
        default=False, help_text="Put an agent's assigned conversations back in the queue when they go offline/away."
    )

    class Meta:
        verbose_name = verbose_name_plural = "routing settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="routingsettings_singleton")]

    def __str__(self):
        return "Routing settings"


class RoutingRule(models.Model):
    """Conditions on a handed-off conversation that require skills.

    Every condition that is filled in must match (keywords: any one of them);
    a conversation needs the skills of all rules that match.
    """

    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    category = models.CharField(max_length=100, blank=True, default="", help_text="Knowledge-base category.")
    keywords = models.CharField(
        max_length=500, blank=True, default="", help_text="Comma-separated; any one in a customer message matches."
    )
    segment = models.CharField(max_length=50, blank=True, default="")
    language = models.CharField(max_length=10, blank=True, default="")
    skills = models.ManyToManyField(Skill, related_name="rules")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def keyword_list(self) -> list[str]:
        return [k.strip().lower() for k in self.keywords.split(",") if k.strip()]


class RoutingState(models.Model):
    """What routing knows about one handed-off conversation."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="routing_state"
    )
    required_skills = models.ManyToManyField(Skill, blank=True, related_name="+")
    # Since when the current skill requirement applies (handoff or transfer to a skill group).
    skills_since = models.DateTimeField()
    relaxed_at = models.DateTimeField(null=True, blank=True)
    queued_recorded = models.BooleanField(default=False)

    def __str__(self):
        return f"Routing of conversation {self.conversation_id}"


class Offer(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offers")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation"], condition=Q(state="open"), name="offer_one_open"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(state="open"), name="offer_open_expiry_idx"),
            models.Index(fields=["agent"], condition=Q(state="open"), name="offer_open_agent_idx"),
        ]

    def __str__(self):
        return f"Offer of conversation {self.conversation_id} to {self.agent} ({self.state})"


class RoutingDecision(models.Model):
    """Every routing decision: who, why, which candidates were considered."""

    class Kind(models.TextChoices):
        OFFERED = "offered", "Offered"
        ASSIGNED = "assigned", "Assigned"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Offer expired"
        WITHDRAWN = "withdrawn", "Offer withdrawn"
        QUEUED = "queued", "Queued"
        RELAXED = "relaxed", "Skills relaxed"
        TRANSFERRED = "transferred", "Transferred"
        REQUEUED = "requeued", "Requeued"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="routing_decisions")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(blank=True, default="")
    # [{"agent": id, "name": str, "load": "2/5", "eligible": bool, "why": str}]
    candidates = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="decision_conversation_idx"),
            models.Index(fields=["kind", "created_at"], name="decision_kind_time_idx"),
        ]

    def __str__(self):
        return f"{self.kind} conversation {self.conversation_id}"

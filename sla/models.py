"""SLA policies and targets, the timers that run against them, breaches, priority
rules and the agents' notification centre.

Timers store their thresholds (``at_risk_at``, ``due_at``) as columns, computed
once from the policy when the timer starts or its priority changes, so a sweep is
a range scan over a partial index of open timers instead of a calculation per row.
"""

from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from conversations.models import Conversation, Note
from sla.timing import Calendar

PRIORITY_CHOICES = Conversation.Priority.choices
# The seeded "Standard" policy: priority → (first response, resolution) seconds.
DEFAULT_TARGETS = {1: (5 * 60, 3600), 2: (15 * 60, 4 * 3600), 3: (3600, 8 * 3600), 4: (4 * 3600, 24 * 3600)}


def _validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name (e.g. Europe/Berlin).")


class SLAPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    # The policy new handoffs run against; exactly one may be the default.
    is_default = models.BooleanField(default=False)
    uses_business_hours = models.BooleanField(
        default=False, help_text="Count only the weekly hours below, skipping holidays."
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[_validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="sla_policy_one_default"),
        ]

    def __str__(self):
        return self.name

    def calendar(self) -> Calendar | None:
        """The business calendar timers of this policy count in; None for round the clock."""
        if not self.uses_business_hours:
            return None
        hours: dict[int, list] = {}
        for row in self.business_hours.order_by("weekday", "start"):
            hours.setdefault(row.weekday, []).append((row.start, row.end))
        return Calendar(
            tz=ZoneInfo(self.time_zone),
            hours={day: tuple(spans) for day, spans in hours.items()},
            holidays=frozenset(self.holidays.values_list("date", flat=True)),
        )


class BusinessHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="business_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        verbose_name_plural = "business hours"
        ordering = ["policy", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=models.F("end")), name="sla_business_hours_start_before_end"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="sla_business_hours_weekday"),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class Holiday(models.Model):
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["policy", "date"]
        constraints = [models.UniqueConstraint(fields=["policy", "date"], name="sla_holiday_unique")]

    def __str__(self):
        return f"{self.date} {self.name}".strip()


class SLATarget(models.Model):
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.PositiveSmallIntegerField(choices=PRIORITY_CHOICES)
    first_response_seconds = models.PositiveIntegerField(help_text="From entering Pending Handoff to the first reply.")
    resolution_seconds = models.PositiveIntegerField(help_text="From entering Pending Handoff to resolution.")

    class Meta:
        verbose_name = "SLA target"
        ordering = ["policy", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "priority"], name="sla_target_unique_priority"),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=4), name="sla_target_priority_range"),
            models.CheckConstraint(
                condition=Q(first_response_seconds__gt=0, resolution_seconds__gt=0), name="sla_target_positive"
            ),
        ]

    def __str__(self):
        return f"{self.policy} P{self.priority}"

    def seconds_for(self, kind: str) -> int:
        return self.first_response_seconds if kind == SLATimer.Kind.FIRST_RESPONSE else self.resolution_seconds


class SLATimer(models.Model):
    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        RESOLUTION = "resolution", "Resolution"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        AT_RISK = "at_risk", "At risk"
        MET = "met", "Met"
        BREACHED = "breached", "Breached"

    OPEN_STATES = (State.RUNNING, State.AT_RISK)

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sla_timers")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="timers")
    priority = models.PositiveSmallIntegerField(choices=PRIORITY_CHOICES)
    target_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    at_risk_at = models.DateTimeField()
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # The moment of breach (= due_at), set when the breach is recorded.
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLA timer"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "kind"], name="sla_timer_one_per_kind"),
            models.CheckConstraint(
                condition=Q(started_at__lte=models.F("at_risk_at"), at_risk_at__lte=models.F("due_at")),
                name="sla_timer_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(state="breached") | Q(breached_at__isnull=False), name="sla_timer_breach_time"
            ),
        ]
        indexes = [
            # What a sweep scans: only open timers, by the threshold they cross next.
            models.Index(fields=["at_risk_at"], condition=Q(state="running"), name="sla_timer_running_risk_idx"),
            models.Index(
                fields=["due_at"], condition=Q(state__in=["running", "at_risk"]), name="sla_timer_open_due_idx"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} timer of conversation {self.conversation_id}"


class Breach(models.Model):
    """One missed target, recorded exactly once (unique per timer) for analytics."""

    timer = models.OneToOneField(SLATimer, on_delete=models.CASCADE, related_name="breach")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sla_breaches")
    kind = models.CharField(max_length=20, choices=SLATimer.Kind.choices)
    priority = models.PositiveSmallIntegerField(choices=PRIORITY_CHOICES)
    policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="breaches")
    target_seconds = models.PositiveIntegerField()
    # The exact moment the target was missed, not when a sweep noticed it.
    deadline = models.DateTimeField()
    detected_at = models.DateTimeField()
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="sla_breaches"
    )

    class Meta:
        verbose_name_plural = "breaches"
        indexes = [models.Index(fields=["deadline"], name="sla_breach_deadline_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} breach on conversation {self.conversation_id}"


class Notification(models.Model):
    """An entry of a user's notification centre (the bell)."""

    class Kind(models.TextChoices):
        SLA_BREACH = "sla_breach", "SLA breach"
        MENTION = "mention", "Mention"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True, default="")
    url = models.CharField(max_length=300, blank=True, default="")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    # The breach it announces: at most one notification per breach and user.
    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    # The note that @mentions the user: at most one notification per note and user.
    note = models.ForeignKey(Note, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["breach", "user"], condition=Q(breach__isnull=False), name="notification_once_per_breach"
            ),
            models.UniqueConstraint(
                fields=["note", "user"], condition=Q(note__isnull=False), name="notification_once_per_mention"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_idx"),
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread_idx"),
        ]

    def __str__(self):
        return self.title


class PriorityRule(models.Model):
    """Sets a handed-off conversation's priority; rules are tried in order, the first
    whose every filled-in condition matches wins. A rule with no condition matches all."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(choices=PRIORITY_CHOICES)
    segment = models.CharField(max_length=50, blank=True, default="", help_text="Customer segment, e.g. vip.")
    attribute_key = models.CharField(
        max_length=100, blank=True, default="", help_text="A key of the attributes the embedding site passed."
    )
    attribute_value = models.CharField(
        max_length=200, blank=True, default="", help_text="Its value (empty: the key is present at all)."
    )
    keywords = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Comma-separated; matches when any appears in what the customer wrote.",
    )
    handoff_reason = models.CharField(max_length=30, blank=True, default="", choices=Conversation.HandoffReason.choices)
    kb_category = models.CharField(
        max_length=100, blank=True, default="", help_text="Category of the bot's best-guess knowledge-base entry."
    )
    fire_count = models.PositiveIntegerField(default=0, editable=False)
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=4), name="priority_rule_priority_range"),
        ]

    def __str__(self):
        return self.name

    def keyword_list(self) -> list[str]:
        return [k.strip().lower() for k in self.keywords.split(",") if k.strip()]

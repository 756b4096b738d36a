import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.headers import origin_checked


def origin_normalise(value: str) -> str:
    return value.strip().rstrip("/").lower()


def validate_origin(value: str) -> None:
    """An origin as browsers send it: scheme://host[:port], nothing more (it goes
    into the chat page's Content-Security-Policy header)."""
    try:
        origin_checked(origin_normalise(value))
    except ValueError:
        raise ValidationError("Enter an origin such as https://www.example.com (no path).", code="origin") from None


def display_name(user) -> str:
    """How agents appear to customers and to each other: first name, else username."""
    return user.get_short_name() or user.get_username()


class Customer(models.Model):
    """Someone chatting through the widget; no account, identified by a signed token."""

    # The embedding site's own user id, when it passed a verified one.
    external_id = models.CharField(max_length=200, blank=True, default="")
    # An anonymous visitor's random key (from their session token): the row is made
    # on their first message, and found again by it on their next visit.
    visitor_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    name = models.CharField(max_length=200, blank=True, default="")
    # The embedding site proved who this is (its JWT or HMAC): the name and e-mail
    # are the site's; otherwise the name is whatever the visitor's page said.
    verified = models.BooleanField(default=False)
    email = models.EmailField(blank=True, default="")
    # Set by the embedding site (verified like the user id) or by an admin; routing
    # and priority rules match on them.
    segment = models.CharField(max_length=50, blank=True, default="", help_text='E.g. "vip", "enterprise".')
    language = models.CharField(max_length=10, blank=True, default="", help_text='An ISO code, e.g. "en", "de".')
    attributes = models.JSONField(default=dict, blank=True, help_text="Other facts the embedding site passed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="customer_external_id_unique"
            ),
            models.UniqueConstraint(
                fields=["visitor_key"], condition=~Q(visitor_key=""), name="customer_visitor_key_unique"
            ),
        ]

    def __str__(self):
        return self.name or f"Visitor #{self.pk}"


def embed_site_secret() -> str:
    return secrets.token_urlsafe(32)


class EmbedSite(models.Model):
    """A site allowed to embed the chat, and the secret its server signs its users'
    identity tokens (JWT) with. No sites: the chat can be framed only by Baton's own
    pages (docs/security.md)."""

    name = models.CharField(max_length=100)
    origin = models.CharField(
        max_length=200,
        unique=True,
        validators=[validate_origin],
        help_text="Scheme, host and port of the embedding pages, e.g. https://www.example.com",
    )
    identity_secret = models.CharField(
        max_length=100,
        default=embed_site_secret,
        help_text="Your server signs each signed-in user's JWT (HS256) with this; keep it secret. "
        "Change it to revoke every token signed with the old one.",
    )
    require_verification = models.BooleanField(
        default=False, help_text="Refuse visitors of this site whose identity is not verified."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["origin"]

    def __str__(self):
        return f"{self.name} ({self.origin})"

    def save(self, *args, **kwargs):
        self.origin = origin_normalise(self.origin)
        super().save(*args, **kwargs)


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "With bot"
        PENDING_HANDOFF = "pending_handoff", "Pending handoff"
        ASSIGNED = "assigned", "Assigned"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.IntegerChoices):
        P1 = 1, "P1 Urgent"
        P2 = 2, "P2 High"
        P3 = 3, "P3 Normal"
        P4 = 4, "P4 Low"

    class HandoffReason(models.TextChoices):
        LOW_CONFIDENCE = "low_confidence", "Bot not confident"
        CUSTOMER_REQUEST = "customer_request", "Customer asked for a person"
        REPEATED_FAILURE = "repeated_failure", "Bot answers did not help"
        BOT_FAILED = "bot_failed", "Bot could not answer"
        FILE_SENT = "file_sent", "Customer sent a file"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOT)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.P3)
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="assigned_conversations"
    )
    handoff_reason = models.CharField(max_length=30, choices=HandoffReason.choices, blank=True, default="")
    # The bot confidence that triggered a low-confidence handoff, for the agent to see.
    handoff_confidence = models.FloatField(null=True, blank=True)
    # The bot's best guesses when it handed off (entry id, title, score): what the
    # customer was asking about, for the agent and for routing by category.
    handoff_sources = models.JSONField(default=list, blank=True)
    # Highest Message.seq so far; bumped with a conditional UPDATE so concurrent
    # writers serialise on this row and sequence numbers never collide.
    last_seq = models.PositiveIntegerField(default=0)
    # Bumped by every change of state (status, agent, priority), so a client that
    # hears of two changes out of order keeps the newer (docs/realtime.md).
    version = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_agent_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # A customer has at most one open conversation: the one the widget shows.
            models.UniqueConstraint(
                fields=["customer"], condition=~Q(status="resolved"), name="conversation_one_open_per_customer"
            ),
            models.CheckConstraint(
                condition=Q(status="assigned", assigned_agent__isnull=False) | ~Q(status="assigned"),
                name="conversation_assigned_has_agent",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["pending_handoff", "assigned"]) | Q(handed_off_at__isnull=False),
                name="conversation_handoff_has_time",
            ),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=4), name="conversation_priority_range"),
        ]
        indexes = [
            # The queue: pending conversations by priority, then arrival.
            models.Index(
                fields=["priority", "handed_off_at"],
                condition=Q(status="pending_handoff"),
                name="conversation_queue_idx",
            ),
            models.Index(fields=["status", "-updated_at"], name="conversation_status_idx"),
            # The inbox's Resolved view: the latest first, without reading the rest.
            models.Index(
                fields=["-resolved_at", "-id"],
                condition=Q(status="resolved", handed_off_at__isnull=False),
                name="conversation_resolved_idx",
            ),
        ]

    def __str__(self):
        return f"Conversation #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED


class Message(models.Model):
    class Sender(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=10, choices=Sender.choices)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    # Bot answers only: how sure the bot was, and the knowledge-base entries it used.
    confidence = models.FloatField(null=True, blank=True)
    sources = models.JSONField(default=list, blank=True)
    # The id the sending browser gave the message (customers' and agents'): sent
    # again after a reconnect, it finds the message stored the first time.
    client_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"], condition=~Q(client_id=""), name="message_client_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                name="message_confidence_range",
            ),
            models.CheckConstraint(
                condition=~Q(sender="agent") | Q(agent__isnull=False), name="message_agent_has_author"
            ),
        ]

    def __str__(self):
        return f"{self.get_sender_display()} #{self.seq} in conversation {self.conversation_id}"


class Attachment(models.Model):
    """The file a message carries (its body is the caption). Stored through Django's
    storage API under a random name (``file``); ``name`` is the sender's file name,
    sanitised, for display only; ``content_type`` was read from the content, not
    from what the browser said (conversations/files.py)."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="attachment")
    file = models.FileField(max_length=200)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="attachment_not_empty"),
            models.UniqueConstraint(fields=["file"], name="attachment_file_unique"),
        ]

    def __str__(self):
        return f"{self.name} on message {self.message_id}"

    @property
    def previewable(self) -> bool:
        """Raster images the browser shows inline; everything else is downloaded."""
        return self.content_type in PREVIEWABLE_TYPES


# Never SVG (it carries script) or HTML: only these are served inline.
PREVIEWABLE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class BotTurn(models.Model):
    """A customer message the bot owes an answer: written in the message's own
    transaction, deleted in the one that stores the answer (or the handoff), so a
    turn is answered exactly once however often it runs. A worker that takes a
    turn holds it until ``claimed_until``; a turn nobody holds that waited too
    long, or whose worker died, is taken again (docs/realtime.md, "Bot turns")."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="botturn_created_idx")]

    def __str__(self):
        return f"Bot turn for message {self.message_id}"


class ConversationEvent(models.Model):
    """One entry of a conversation's internal timeline: what happened to it, not
    what was said (routing decisions, priority changes, SLA warnings, transfers).

    Agents see it beside the messages; customers never do. ``kind`` is namespaced
    by the app that records it (``routing.offered``, ``priority.changed``, ...).
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=50)
    # The person who did it; None for the bot, a rule or the system.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["conversation", "created_at", "pk"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="event_conversation_time_idx")]

    def __str__(self):
        return f"{self.kind} on conversation {self.conversation_id}"


class Note(models.Model):
    """An agent's internal note on a conversation, for the team only.

    A table of its own, not a kind of Message, so "never shown to the customer"
    holds by construction: every path that shows a customer anything (the chat's
    history, its socket and catch-up, the export, the bot's context, "Teach the
    bot") reads Message, and none can forget a filter. A note takes no sequence
    number and changes nothing on its conversation (status, SLA timers, seq).
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    # The conversation's last message when the note was written: the thread draws it after that one.
    after_seq = models.PositiveIntegerField(default=0)
    # The agents the note @mentions (by id: renaming one keeps the mention), each once.
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in_notes")
    # The sending browser's id for the note: sent again after a reconnect, it finds this one.
    client_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["conversation", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"], condition=~Q(client_id=""), name="note_client_id_unique"
            ),
            models.CheckConstraint(condition=~Q(body=""), name="note_body_not_empty"),
        ]
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_conversation_time_idx")]

    def __str__(self):
        return f"Note by {self.author_id} on conversation {self.conversation_id}"

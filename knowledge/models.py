import numpy as np
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from pgvector import Vector

from knowledge.embeddings import DIMENSIONS

# Chosen on ../shared/eval/banking77/val_cases.jsonl (see docs/bot.md); admins tune it.
DEFAULT_CONFIDENCE_THRESHOLD = 0.27


class EmbeddingField(models.Field):
    """A float32 vector: pgvector's ``vector(n)`` on PostgreSQL, a blob on SQLite.

    One model definition for both databases; values are numpy arrays either way.
    """

    description = "Embedding vector"
    empty_strings_allowed = False

    def __init__(self, *args, dimensions: int = DIMENSIONS, **kwargs):
        self.dimensions = dimensions
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["dimensions"] = self.dimensions
        return name, path, args, kwargs

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return f"vector({self.dimensions})"
        return "blob"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        if isinstance(value, bytes | memoryview):
            return np.frombuffer(bytes(value), dtype=np.float32)
        return np.asarray(Vector._from_db(value), dtype=np.float32)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32).reshape(-1)
        if len(array) != self.dimensions:
            raise ValueError(f"expected {self.dimensions} dimensions, got {len(array)}")
        if connection.vendor == "postgresql":
            return Vector._to_db(array)
        return array.tobytes()


def validate_phrasings(value) -> None:
    """A list of strings: a bare string would otherwise be embedded letter by letter."""
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise ValidationError('Enter a JSON list of strings, e.g. ["How do I reset my password?"].')


class Entry(models.Model):
    """A knowledge-base article or FAQ entry, as written by the team."""

    external_id = models.SlugField(
        max_length=200, unique=True, help_text="Stable id, used in imports and evaluation files."
    )
    title = models.CharField(max_length=300)
    body = models.TextField(help_text="The answer or article; Markdown is fine.")
    questions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_phrasings],
        help_text="Other ways customers ask this (a JSON list of strings).",
    )
    category = models.CharField(max_length=100, blank=True, default="")
    url = models.URLField(blank=True, default="", help_text="Where the full article lives, shown as the source.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["title"]

    def __str__(self):
        return self.title


class Chunk(models.Model):
    """A piece of an entry, embedded once when the entry is saved."""

    class Kind(models.TextChoices):
        TITLE = "title", "Title"
        QUESTION = "question", "Question"
        PASSAGE = "passage", "Passage"

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="chunks")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.TextField()
    embedding = EmbeddingField()

    class Meta:
        indexes = [models.Index(fields=["entry", "kind"], name="chunk_entry_kind_idx")]
        # The HNSW index (PostgreSQL only) is created in migration 0002.

    def __str__(self):
        return f"{self.get_kind_display()}: {self.text[:60]}"


class ClassifierSnapshot(models.Model):
    """The entry classifier trained on one version of the chunks, kept so that a
    process answering its first question loads it instead of training it (69-79 s
    at 10,000 entries). ``version`` is ``retrieval``'s chunk version."""

    version = models.CharField(max_length=100, unique=True)
    entry_keys = models.JSONField()
    dims = models.PositiveIntegerField()
    weights = models.BinaryField(help_text="float32: one row of weights per entry, then one bias per entry")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Classifier for {self.version}"


class Calibration(models.Model):
    """A fitted confidence model with the threshold chosen for it, kept as a version:
    what it was fitted on and how it did there. The applied one (``BotConfig``)
    is what the live bot, the trade-off chart and ``evaluate_bot`` use."""

    class Target(models.TextChoices):
        OOS_RECALL = "oos_recall", "Share of unanswerable questions handed off"
        ANSWERED_PRECISION = "answered_precision", "Share of the bot's answers that are right"

    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=300, help_text="What it was fitted on, and by what.")
    model = models.JSONField(help_text="The logistic model: feature means, scales and weights (bias first).")
    fitted_prior = models.FloatField(
        help_text="Share of the fitting questions the bot got right: the base rate the model's intercept holds."
    )
    threshold = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    target = models.CharField(max_length=30, choices=Target.choices)
    target_value = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    figures = models.JSONField(default=dict, help_text="Validation figures at the threshold, with bootstrap ranges.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0, threshold__lte=1), name="calibration_threshold_range"),
            models.CheckConstraint(condition=Q(fitted_prior__gt=0, fitted_prior__lt=1), name="calibration_prior_range"),
        ]

    def __str__(self):
        return f"Calibration {self.pk}: {self.source}"


class BotConfig(models.Model):
    """The bot's settings, edited in Django admin. A single row."""

    confidence_threshold = models.FloatField(
        default=DEFAULT_CONFIDENCE_THRESHOLD,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Below this confidence the bot hands off instead of answering (0 to 1).",
    )
    calibration = models.ForeignKey(
        Calibration,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The confidence model the bot uses; empty: the model shipped with Baton.",
    )
    adapted_prior = models.FloatField(
        null=True,
        blank=True,
        help_text="Share of recent questions the bot gets right, estimated without labels; the calibration's "
        "confidences are moved to it (prior shift). Empty: as fitted.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "bot settings"
        verbose_name_plural = "bot settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="botconfig_single_row"),
            models.CheckConstraint(
                condition=Q(confidence_threshold__gte=0, confidence_threshold__lte=1),
                name="botconfig_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(adapted_prior__isnull=True)
                | Q(adapted_prior__gt=0, adapted_prior__lt=1, calibration__isnull=False),
                name="botconfig_adapted_prior_of_a_calibration",
            ),
        ]

    def __str__(self):
        return "Bot settings"

    @classmethod
    def load(cls) -> "BotConfig":
        config, _ = cls.objects.select_related("calibration").get_or_create(pk=1)
        return config


class EvalCase(models.Model):
    """A labelled question from real conversations, exportable for `evaluate_bot`.

    ``expected`` is the entry that answers it; empty means the knowledge base could
    not (the bot handed off and no agent added an answer).
    """

    class Outcome(models.TextChoices):
        ANSWERED = "answered", "Answered by the bot"
        HANDED_OFF = "handed_off", "Handed off"
        LEARNT = "learnt", "Answer added by an agent"

    question = models.TextField()
    expected = models.ForeignKey(Entry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    confidence = models.FloatField(null=True, blank=True)
    # The conversation it came from (an id: this app sits below conversations).
    conversation_ref = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation_ref", "question"],
                condition=Q(conversation_ref__isnull=False),
                name="evalcase_once_per_conversation_question",
            ),
        ]

    def __str__(self):
        return self.question[:80]

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

SHORTCUT_MAX = 32
TITLE_MAX = 100
# As long as a reply may be (BATON_MAX_MESSAGE_CHARS), so a response fits in one message.
BODY_MAX = 4000

shortcut_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*\Z",
    "Use lower-case letters, digits, - and _ (what the agent types after /).",
    code="shortcut",
)


class CannedResponse(models.Model):
    """A reply an agent inserts by typing ``/shortcut``: shared (no owner, kept by
    staff) or personal to its owner. Placeholders: canned/placeholders.py."""

    title = models.CharField(max_length=TITLE_MAX)
    shortcut = models.CharField(max_length=SHORTCUT_MAX, validators=[shortcut_validator])
    body = models.TextField(
        max_length=BODY_MAX,
        help_text="Placeholders: {customer_name}, {agent_name}, {agent_first_name}.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="canned_responses",
        help_text="Empty: shared with every agent.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut", "pk"]
        constraints = [
            # NULLs are distinct in a plain unique index: the shared ones need their own.
            models.UniqueConstraint(
                fields=["owner", "shortcut"],
                condition=Q(owner__isnull=False),
                name="canned_shortcut_unique_per_owner",
                violation_error_code="shortcut_taken",
                violation_error_message="You already have a response with this shortcut.",
            ),
            models.UniqueConstraint(
                fields=["shortcut"],
                condition=Q(owner__isnull=True),
                name="canned_shortcut_unique_shared",
                violation_error_code="shortcut_taken",
                violation_error_message="A shared response already has this shortcut.",
            ),
            models.CheckConstraint(
                condition=~Q(shortcut="") & ~Q(body="") & ~Q(title=""),
                name="canned_not_empty",
            ),
            # A TextField's max_length is the form's only: the model checks this one.
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("body"), BODY_MAX),
                name="canned_body_max",
                violation_error_code="body_too_long",
                violation_error_message=f"Keep it to {BODY_MAX} characters, as a reply.",
            ),
        ]

    def __str__(self):
        return f"/{self.shortcut} · {self.title}"

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None

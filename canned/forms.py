from django import forms

from canned.models import BODY_MAX, SHORTCUT_MAX, TITLE_MAX, shortcut_validator


class CannedResponseForm(forms.Form):
    """The inbox page's form; the service validates the rest (uniqueness) and its
    errors are shown on these fields."""

    title = forms.CharField(max_length=TITLE_MAX)
    shortcut = forms.CharField(
        max_length=SHORTCUT_MAX,
        help_text="Type / and this in a reply to insert the response.",
    )
    body = forms.CharField(
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Placeholders: {customer_name} (or “there”), {agent_name}, {agent_first_name}.",
    )
    shared = forms.BooleanField(required=False, label="Shared with every agent")

    def __init__(self, *args, may_share: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_share:
            del self.fields["shared"]

    def clean_shortcut(self) -> str:
        shortcut = self.cleaned_data["shortcut"].strip().lstrip("/").lower()
        shortcut_validator(shortcut)
        return shortcut

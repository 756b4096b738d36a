"""The inbox search's GET form: every filter parsed and checked here, so a bad
value in the address is a message on the page, never an error page."""

from django import forms
from django.contrib.auth import get_user_model

from conversations.models import Conversation, display_name
from conversations.search import QUERY_MAX, Filters


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return display_name(obj)


class SearchForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=QUERY_MAX,
        strip=True,
        label="Search",
        error_messages={"max_length": f"Search for at most {QUERY_MAX} characters."},
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *Conversation.Status.choices], required=False)
    priority = forms.TypedChoiceField(
        choices=[("", "Any priority"), *[(v, f"P{v}") for v in Conversation.Priority.values]],
        coerce=int,
        required=False,
        empty_value=None,
    )
    agent = AgentChoiceField(queryset=None, required=False, empty_label="Any agent")
    reason = forms.ChoiceField(
        choices=[("", "Any handoff reason"), *Conversation.HandoffReason.choices],
        required=False,
        label="Handoff reason",
    )
    date_field = forms.ChoiceField(
        choices=[("created", "Started"), ("handed_off", "Handed off")], required=False, label="Date of"
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    # The address's names for the fields whose own would read badly there
    # ("from" is a Python keyword): the form reads and writes these names.
    PARAMS = {"date_from": "from", "date_to": "to", "date_field": "date"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["agent"].error_messages["invalid_choice"] = "No such agent."
        for name, what in (("status", "status"), ("priority", "priority (P1 to P4)"), ("reason", "handoff reason")):
            self.fields[name].error_messages["invalid_choice"] = f"Choose a {what} from the list."
        self.fields["date_field"].error_messages["invalid_choice"] = "Choose Started or Handed off."
        for name in ("date_from", "date_to"):
            self.fields[name].error_messages["invalid"] = "Enter a day as YYYY-MM-DD."

    def add_prefix(self, field_name: str) -> str:
        return self.PARAMS.get(field_name, field_name)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError("The “To” day is before the “From” day.")
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            status=data.get("status") or "",
            priority=data.get("priority"),
            agent=data.get("agent"),
            reason=data.get("reason") or "",
            date_field=data.get("date_field") or "created",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )

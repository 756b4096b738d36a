"""What a report is about: the period and the filters, parsed once from the query string
so the page and every CSV export read the same figures."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from analytics.periods import MAX_DAYS, PRESETS, Period, period_resolve
from conversations.models import Conversation
from routing.models import Skill


@dataclass(frozen=True)
class Filters:
    period: Period
    priority: int | None = None
    agent: object | None = None  # a user
    handoff_reason: str = ""
    skill: Skill | None = None  # conversations that required it

    def conversations(self, prefix: str = "") -> Q:
        """The filters (not the period) on Conversation, through ``prefix`` from another model."""
        q = Q()
        if self.priority:
            q &= Q(**{f"{prefix}priority": self.priority})
        if self.agent is not None:
            q &= Q(**{f"{prefix}assigned_agent": self.agent})
        if self.handoff_reason:
            q &= Q(**{f"{prefix}handoff_reason": self.handoff_reason})
        if self.skill is not None:
            q &= Q(**{f"{prefix}routing_state__required_skills": self.skill})
        return q

    def within(self, field: str) -> Q:
        return Q(**{f"{field}__gte": self.period.start, f"{field}__lt": self.period.end})

    def query_string(self) -> str:
        """The same report, for links (CSV exports, the breach list)."""
        from urllib.parse import urlencode

        params = {"period": self.period.preset}
        if self.period.preset == "custom":
            params |= {"start": self.period.first_day.isoformat(), "end": self.period.last_day.isoformat()}
        if self.priority:
            params["priority"] = self.priority
        if self.agent is not None:
            params["agent"] = self.agent.pk
        if self.handoff_reason:
            params["reason"] = self.handoff_reason
        if self.skill is not None:
            params["skill"] = self.skill.pk
        return urlencode(params)


LABELS = {
    "period": "Period",
    "start": "From",
    "end": "To",
    "priority": "Priority",
    "agent": "Agent",
    "reason": "Handoff reason",
    "skill": "Skill",
}


class ReportForm(forms.Form):
    period = forms.ChoiceField(choices=PRESETS.items(), required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.TypedChoiceField(
        choices=[("", "All priorities"), *Conversation.Priority.choices], coerce=int, required=False, empty_value=None
    )
    agent = forms.ModelChoiceField(queryset=None, required=False, empty_label="All agents")
    reason = forms.ChoiceField(
        choices=[("", "All handoff reasons"), *Conversation.HandoffReason.choices], required=False
    )
    skill = forms.ModelChoiceField(queryset=None, required=False, empty_label="All skills")

    def __init__(self, *args, tz, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz, self.now = tz, now
        self.fields["agent"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["skill"].queryset = Skill.objects.order_by("name")
        for name, label in LABELS.items():
            self.fields[name].widget.attrs["aria-label"] = label

    def clean(self):
        data = super().clean()
        preset = data.get("period") or "7d"
        data["period"] = preset
        if preset == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom period needs a first and a last day.")
            if end < start:
                raise forms.ValidationError("The last day is before the first day.")
            if end - start >= timedelta(days=MAX_DAYS):
                raise forms.ValidationError(f"A period can be at most {MAX_DAYS} days long.")
        return data

    def filters(self, *, agent=None) -> Filters:
        """The validated filters; ``agent`` forces the agent (an agent sees only their own)."""
        data = self.cleaned_data
        period = period_resolve(
            preset=data["period"], tz=self.tz, now=self.now, first_day=data.get("start"), last_day=data.get("end")
        )
        return Filters(
            period=period,
            priority=data.get("priority"),
            agent=agent if agent is not None else data.get("agent"),
            handoff_reason=data.get("reason", ""),
            skill=data.get("skill"),
        )

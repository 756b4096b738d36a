from django import forms
from django.contrib import admin

from routing.models import AgentProfile, Offer, PresenceLog, RoutingDecision, RoutingRule, RoutingSettings, Skill


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


class AgentProfileForm(forms.ModelForm):
    class Meta:
        model = AgentProfile
        fields = ["presence", "capacity", "skills"]

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        busy = self.instance.active_count + self.instance.offered_count if self.instance.pk else 0
        if capacity < busy:
            raise forms.ValidationError(
                f"This agent has {busy} conversations or offers open now; capacity cannot go below that."
            )
        return capacity


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    form = AgentProfileForm
    list_display = ["user", "presence", "capacity", "active_count", "offered_count", "last_assigned_at"]
    list_filter = ["presence", "skills"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    filter_horizontal = ["skills"]
    readonly_fields = ["active_count", "offered_count", "last_heartbeat_at", "presence_changed_at", "last_assigned_at"]


@admin.register(PresenceLog)
class PresenceLogAdmin(admin.ModelAdmin):
    list_display = ["agent", "status", "started_at", "ended_at"]
    list_filter = ["status"]
    search_fields = ["agent__username"]
    date_hierarchy = "started_at"


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "mode", "offer_timeout_s", "presence_grace_s", "skill_wait_s", "requeue_on_offline"]

    def has_add_permission(self, request):
        return not RoutingSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "category", "keywords", "segment", "language"]
    list_filter = ["is_active", "skills", "language", "segment"]
    search_fields = ["name", "category", "keywords"]
    filter_horizontal = ["skills"]


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ["conversation", "agent", "state", "created_at", "expires_at", "closed_at"]
    list_filter = ["state"]
    search_fields = ["agent__username", "conversation__id"]
    raw_id_fields = ["conversation"]

    def has_add_permission(self, request):
        return False


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "kind", "agent", "reason"]
    list_filter = ["kind"]
    search_fields = ["reason", "agent__username", "conversation__id"]
    raw_id_fields = ["conversation"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

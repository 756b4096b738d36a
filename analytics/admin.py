from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path, reverse

from analytics.models import BreachReport, Dashboard, HandoffQuestion, Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone", "updated_at"]
    list_filter = ["time_zone"]
    search_fields = ["user__username", "time_zone"]
    raw_id_fields = ["user"]


@admin.register(HandoffQuestion)
class HandoffQuestionAdmin(admin.ModelAdmin):
    """What the bot could not answer: read-only, recorded at each low-confidence handoff."""

    list_display = ["text", "conversation", "handed_off_at"]
    list_filter = ["handed_off_at"]
    search_fields = ["text"]
    date_hierarchy = "handed_off_at"
    ordering = ["-handed_off_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class _LinkAdmin(admin.ModelAdmin):
    """An admin index entry that opens a report page (the model has no table)."""

    url_name = ""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        return redirect(reverse(self.url_name))

    def get_urls(self):
        """The index entry's link only: the object pages would query a table that does not exist."""
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]


@admin.register(Dashboard)
class DashboardAdmin(_LinkAdmin):
    url_name = "analytics"


@admin.register(BreachReport)
class BreachReportAdmin(_LinkAdmin):
    url_name = "analytics-breaches"

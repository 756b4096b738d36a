from django.contrib import admin

from canned.models import CannedResponse


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("shared", "Shared"), ("personal", "Personal")]

    def queryset(self, request, queryset):
        if self.value() in ("shared", "personal"):
            return queryset.filter(owner__isnull=self.value() == "shared")
        return queryset


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    """Every agent's responses and the shared ones (empty owner); the agents keep
    their own at /inbox/canned/."""

    list_display = ["shortcut", "title", "owner", "updated_at"]
    list_filter = [KindFilter, "owner"]
    search_fields = ["shortcut", "title", "body", "owner__username"]
    readonly_fields = ["created_at", "updated_at"]

from django.contrib import admin

from sla.models import Breach, BusinessHours, Holiday, Notification, PriorityRule, SLAPolicy, SLATarget, SLATimer


class SLATargetInline(admin.TabularInline):
    model = SLATarget
    extra = 0
    min_num = 1


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "is_active", "uses_business_hours", "time_zone", "created_at"]
    list_filter = ["is_active", "is_default", "uses_business_hours"]
    search_fields = ["name"]
    inlines = [SLATargetInline, BusinessHoursInline, HolidayInline]


@admin.register(SLATarget)
class SLATargetAdmin(admin.ModelAdmin):
    list_display = ["policy", "priority", "first_response_seconds", "resolution_seconds"]
    list_filter = ["policy", "priority"]
    search_fields = ["policy__name"]


@admin.register(SLATimer)
class SLATimerAdmin(admin.ModelAdmin):
    list_display = ["conversation", "kind", "priority", "state", "started_at", "at_risk_at", "due_at", "stopped_at"]
    list_filter = ["state", "kind", "priority", "policy"]
    search_fields = ["conversation__pk"]
    list_select_related = ["conversation"]
    date_hierarchy = "due_at"
    # Moved only by the SLA services and the sweep.
    readonly_fields = [f.name for f in SLATimer._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Breach)
class BreachAdmin(admin.ModelAdmin):
    list_display = ["conversation", "kind", "priority", "policy", "target_seconds", "deadline", "detected_at", "agent"]
    list_filter = ["kind", "priority", "policy"]
    search_fields = ["conversation__pk", "agent__username"]
    list_select_related = ["conversation", "policy", "agent"]
    date_hierarchy = "deadline"
    readonly_fields = [f.name for f in Breach._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "kind", "created_at", "read_at"]
    list_filter = ["kind", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "body", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "kind", "title", "body", "url", "conversation", "breach", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(PriorityRule)
class PriorityRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "position",
        "priority",
        "is_active",
        "segment",
        "attribute_key",
        "attribute_value",
        "keywords",
        "handoff_reason",
        "kb_category",
        "fire_count",
        "last_fired_at",
    ]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "priority", "handoff_reason"]
    search_fields = ["name", "keywords", "segment", "kb_category"]
    readonly_fields = ["fire_count", "last_fired_at"]

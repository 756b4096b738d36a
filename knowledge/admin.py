from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from knowledge.models import BotConfig, Calibration, Chunk, ClassifierSnapshot, Entry, EvalCase
from knowledge.services import calibration_adapt, calibration_apply, entry_save, eval_cases_jsonl
from knowledge.tradeoff import CASES_SCORED, CHART_H, CHART_W, PAD, chart_x, recent_adaptation, tradeoff


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ["kind", "text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False  # chunks follow the entry's text; they are never edited by hand


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["title", "external_id", "category", "question_count", "updated_at"]
    list_filter = ["category"]
    search_fields = ["title", "external_id", "body"]
    prepopulated_fields = {"external_id": ["title"]}
    inlines = [ChunkInline]
    # An article link typed without a scheme ("help.example.com/x") means https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Phrasings")
    def question_count(self, obj):
        return len(obj.questions or [])

    def save_model(self, request, obj, form, change):
        # Through the service, so an edit re-embeds exactly the chunks whose text changed.
        saved = entry_save(entry=obj)
        obj.pk = saved.pk


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    """Read-only: chunks follow their entry's text."""

    list_display = ["entry", "kind", "short_text"]
    list_filter = ["kind", "entry__category"]
    search_fields = ["text", "entry__title", "entry__external_id"]
    list_select_related = ["entry"]
    fields = ["entry", "kind", "text"]
    readonly_fields = fields

    @admin.display(description="Text")
    def short_text(self, obj):
        return obj.text[:100]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ClassifierSnapshot)
class ClassifierSnapshotAdmin(admin.ModelAdmin):
    """Read-only: trained by a task after each import, loaded by every process."""

    list_display = ["version", "entry_count", "created_at"]
    fields = ["version", "entry_count", "dims", "created_at"]
    readonly_fields = fields

    @admin.display(description="Entries")
    def entry_count(self, obj):
        return len(obj.entry_keys)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Calibration)
class CalibrationAdmin(admin.ModelAdmin):
    """Versions of the confidence model, kept by ``evaluate_bot --calibrate VAL --save``;
    read-only but for applying one."""

    list_display = ["pk", "created_at", "source", "target_shown", "threshold", "validation", "applied"]
    fields = ["created_at", "source", "target", "target_value", "threshold", "fitted_prior", "figures", "model"]
    readonly_fields = fields
    actions = ["apply"]

    @admin.display(description="Target")
    def target_shown(self, obj):
        return f"{obj.get_target_display()} ≥ {obj.target_value:.0%}"

    @admin.display(description="On its validation cases")
    def validation(self, obj):
        f = obj.figures
        if not {"in_scope_accuracy", "oos_recall", "answered_precision"} <= set(f):
            return "-"
        return (
            f"in scope {f['in_scope_accuracy']:.3f}, out-of-scope handed off {f['oos_recall']:.3f}, "
            f"answers right {f['answered_precision']:.3f} ({f.get('n_cases', '?')} cases)"
        )

    @admin.display(description="Applied", boolean=True)
    def applied(self, obj):
        return BotConfig.objects.filter(pk=1, calibration=obj).exists()

    @admin.action(description="Apply to the bot (its model and its threshold)")
    def apply(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, "Choose exactly one calibration to apply.")
            return
        calibration = calibration_apply(calibration=queryset.get())
        messages.success(
            request,
            f"The bot now uses calibration {calibration.calibration_id} and hands off below "
            f"{calibration.confidence_threshold:.4f}.",
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)  # the list and its action, no edits


@admin.register(BotConfig)
class BotConfigAdmin(admin.ModelAdmin):
    list_display = ["__str__", "confidence_threshold", "calibration", "adapted_prior", "updated_at", "tradeoff_link"]
    # Chosen by applying a calibration (which also sets its threshold) and by adapting it.
    readonly_fields = ["calibration", "adapted_prior"]
    actions = ["adapt"]

    @admin.action(description=f"Adapt the calibration to the last {CASES_SCORED} questions from conversations")
    def adapt(self, request, queryset):
        config = BotConfig.load()
        try:
            adaptation = recent_adaptation(config)
            config = calibration_adapt(
                calibration=config.calibration, prior=adaptation.prior, threshold=adaptation.model.threshold
            )
        except ValueError as e:
            messages.error(request, f"Not adapted: {e}.")
            return
        messages.success(
            request,
            f"About {config.adapted_prior:.0%} of recent questions get a right answer; the bot now hands off "
            f"below {config.confidence_threshold:.4f} to keep its answers right "
            f"{config.calibration.target_value:.0%} of the time.",
        )

    @admin.display(description="Choose by looking")
    def tradeoff_link(self, obj):
        return format_html('<a href="{}">Trade-off chart</a>', reverse("admin:knowledge_botconfig_tradeoff"))

    def get_urls(self):
        return [
            path("tradeoff/", self.admin_site.admin_view(self.tradeoff_view), name="knowledge_botconfig_tradeoff"),
            *super().get_urls(),
        ]

    def tradeoff_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        config = BotConfig.load()
        if request.method == "POST":
            try:
                config.confidence_threshold = float(request.POST["threshold"])
                config.full_clean()
            except (KeyError, ValueError, ValidationError):
                messages.error(request, "Choose a threshold between 0 and 1.")
            else:
                config.save()
                messages.success(request, f"The bot now hands off below {config.confidence_threshold:.2f}.")
            return redirect("admin:knowledge_botconfig_tradeoff")
        return render(
            request,
            "admin/knowledge/tradeoff.html",
            {
                **self.admin_site.each_context(request),
                "tradeoff": tradeoff(),
                "current": config.confidence_threshold,
                "current_rounded": round(config.confidence_threshold * 20) / 20,
                "current_x": chart_x(config.confidence_threshold),
                "width": CHART_W,
                "height": CHART_H,
                "pad": PAD,
                "bottom": CHART_H - PAD,
                "right": CHART_W - PAD,
            },
        )

    def has_add_permission(self, request):
        return not BotConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EvalCase)
class EvalCaseAdmin(admin.ModelAdmin):
    list_display = ["question", "expected", "outcome", "confidence", "conversation_ref", "created_at"]
    list_filter = ["outcome", "expected"]
    search_fields = ["question", "expected__title"]
    list_select_related = ["expected"]
    date_hierarchy = "created_at"
    actions = ["export_jsonl"]

    @admin.action(description="Export selected as evaluation cases (JSONL)")
    def export_jsonl(self, request, queryset):
        response = StreamingHttpResponse(eval_cases_jsonl(queryset), content_type="application/jsonl")
        response["Content-Disposition"] = 'attachment; filename="baton-cases.jsonl"'
        return response

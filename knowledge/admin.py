from django.contrib import admin
from django.http import StreamingHttpResponse

from knowledge.models import BotConfig, Chunk, Entry, EvalCase
from knowledge.services import entry_save, eval_cases_jsonl


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


@admin.register(BotConfig)
class BotConfigAdmin(admin.ModelAdmin):
    list_display = ["__str__", "confidence_threshold", "updated_at"]

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

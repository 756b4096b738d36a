from django.contrib import admin

from conversations.models import (
    Attachment,
    BotTurn,
    Conversation,
    ConversationEvent,
    Customer,
    EmbedSite,
    Message,
    Note,
)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "verified", "external_id", "email", "segment", "language", "created_at"]
    list_filter = ["verified", "segment", "language"]
    search_fields = ["name", "external_id", "email"]
    date_hierarchy = "created_at"
    # Set by the embedding site's verified identity token, not by hand.
    readonly_fields = ["verified"]


@admin.register(EmbedSite)
class EmbedSiteAdmin(admin.ModelAdmin):
    """The sites allowed to embed the chat (Content-Security-Policy frame-ancestors of
    the chat page, and the origins its script accepts a session from)."""

    list_display = ["name", "origin", "require_verification", "created_at"]
    search_fields = ["name", "origin"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["seq", "sender", "agent", "body", "confidence", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["seq"]

    def has_add_permission(self, request, obj=None):
        return False  # messages are written through the chat, where they are broadcast


class EventInline(admin.TabularInline):
    model = ConversationEvent
    fields = ["created_at", "kind", "actor", "text"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "pk"]

    def has_add_permission(self, request, obj=None):
        return False  # recorded by the services that act on the conversation


class NoteInline(admin.TabularInline):
    model = Note
    fields = ["created_at", "author", "body", "after_seq"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "pk"]
    verbose_name = "internal note"

    def has_add_permission(self, request, obj=None):
        return False  # written on the conversation page, where they are pushed and mentions notified


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "customer",
        "status",
        "priority",
        "assigned_agent",
        "handoff_reason",
        "handoff_confidence",
        "handed_off_at",
        "resolved_at",
    ]
    list_filter = ["status", "priority", "handoff_reason", "assigned_agent"]
    search_fields = ["pk", "customer__name", "customer__external_id", "messages__body"]
    date_hierarchy = "created_at"
    list_select_related = ["customer", "assigned_agent"]
    # State moves only through the services (which lock, record and broadcast).
    readonly_fields = [
        "customer",
        "status",
        "priority",  # changed through conversation_priority_set, which records who and why
        "assigned_agent",
        "handoff_reason",
        "handoff_confidence",
        "handoff_sources",
        "last_seq",
        "created_at",
        "handed_off_at",
        "assigned_at",
        "first_agent_reply_at",
        "resolved_at",
        "updated_at",
    ]
    inlines = [MessageInline, NoteInline, EventInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["conversation", "seq", "sender", "agent", "short_body", "confidence", "created_at"]
    list_filter = ["sender"]
    search_fields = ["body", "conversation__pk"]
    list_select_related = ["conversation", "agent"]
    readonly_fields = [
        "conversation",
        "seq",
        "sender",
        "agent",
        "body",
        "confidence",
        "sources",
        "client_id",
        "created_at",
    ]

    @admin.display(description="Body")
    def short_body(self, obj):
        return obj.body[:80]

    def has_add_permission(self, request):
        return False


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    """Read-only: a note is written on the conversation page, where it is pushed
    and its mentions notified."""

    list_display = ["conversation", "author", "short_body", "created_at"]
    search_fields = ["body", "conversation__pk"]
    list_select_related = ["conversation", "author"]
    date_hierarchy = "created_at"

    @admin.display(description="Body")
    def short_body(self, obj):
        return obj.body[:80]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """Read-only, and without the stored file: it is served only through the signed,
    expiring links of the conversation's participants (a storage URL here would not be)."""

    list_display = ["message", "name", "content_type", "size", "created_at"]
    fields = ["message", "name", "content_type", "size", "created_at"]
    search_fields = ["name", "message__conversation__pk"]
    list_select_related = ["message"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ConversationEvent)
class ConversationEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "kind", "actor", "text"]
    list_filter = ["kind"]
    search_fields = ["text", "conversation__pk"]
    list_select_related = ["conversation", "actor"]
    readonly_fields = ["conversation", "kind", "actor", "text", "data", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(BotTurn)
class BotTurnAdmin(admin.ModelAdmin):
    """The questions the bot still owes an answer: normally empty within a second;
    a row that stays is a turn the timers will take again (docs/realtime.md)."""

    list_display = ["message", "conversation", "created_at", "claimed_until", "attempts"]
    list_select_related = ["message", "conversation"]
    readonly_fields = ["message", "conversation", "created_at", "claimed_until", "attempts"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

from django.urls import path

from conversations.views import chat, files, inbox, notes, search

urlpatterns = [
    path("chat/", chat.chat_page, name="chat"),
    path("chat/session/", chat.chat_session, name="chat-session"),
    path("chat/send/", chat.chat_send, name="chat-send"),
    path("chat/history/", chat.chat_history, name="chat-history"),
    path("chat/upload/", chat.chat_upload, name="chat-upload"),
    path("files/<int:pk>/", files.attachment_download, name="attachment"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/list/", inbox.inbox_list, name="inbox-list"),
    path("inbox/search/", search.inbox_search, name="inbox-search"),
    path("inbox/c/<int:pk>/", inbox.conversation_detail, name="inbox-conversation"),
    path("inbox/c/<int:pk>/reply/", inbox.conversation_reply, name="inbox-reply"),
    path("inbox/c/<int:pk>/attach/", inbox.conversation_attach, name="inbox-attach"),
    path("inbox/c/<int:pk>/resolve/", inbox.conversation_resolve, name="inbox-resolve"),
    path("inbox/c/<int:pk>/learn/", inbox.conversation_learn, name="inbox-learn"),
    path("inbox/c/<int:pk>/notes/", notes.note_add, name="inbox-note"),
    path("inbox/mentions/", notes.mention_suggest, name="inbox-mentions"),
]

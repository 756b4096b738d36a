from django.urls import path

from conversations import consumers

websocket_urlpatterns = [
    path("ws/chat/", consumers.CustomerChatConsumer.as_asgi()),
    path("ws/inbox/", consumers.InboxConsumer.as_asgi()),
]

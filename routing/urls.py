from django.urls import path

from routing import views

urlpatterns = [
    path("routing/board/", views.board, name="routing-board"),
    path("routing/presence/", views.presence_set, name="routing-presence"),
    path("routing/presence/heartbeat/", views.presence_heartbeat, name="routing-heartbeat"),
    path("routing/c/<int:pk>/take/", views.conversation_take, name="routing-take"),
    path("routing/c/<int:pk>/transfer/", views.conversation_transfer, name="routing-transfer"),
    path("routing/offers/<int:pk>/decline/", views.offer_decline, name="routing-decline"),
]

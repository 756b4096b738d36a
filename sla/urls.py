from django.urls import path

from sla import views

urlpatterns = [
    path("sla/timers/", views.timers, name="sla-timers"),
    path("inbox/c/<int:pk>/priority/", views.priority_set, name="sla-priority"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
]

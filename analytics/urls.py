from django.urls import path

from analytics import views

urlpatterns = [
    path("analytics/", views.dashboard, name="analytics"),
    path("analytics/now/", views.now_fragment, name="analytics-now"),
    path("analytics/breaches/", views.breach_list, name="analytics-breaches"),
    path("analytics/export/<slug:key>.csv", views.export, name="analytics-export"),
    path("analytics/time-zone/", views.time_zone_set, name="analytics-time-zone"),
]

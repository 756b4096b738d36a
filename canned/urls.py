from django.urls import path

from canned import views

urlpatterns = [
    path("inbox/canned/", views.canned_list, name="canned-list"),
    path("inbox/canned/new/", views.canned_create, name="canned-create"),
    path("inbox/canned/<int:pk>/", views.canned_edit, name="canned-edit"),
    path("inbox/canned/<int:pk>/delete/", views.canned_delete, name="canned-delete"),
    path("inbox/c/<int:pk>/canned/", views.canned_suggest, name="canned-suggest"),
]

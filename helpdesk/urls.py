from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView, TemplateView

urlpatterns = [
    # For the team (links, the embed snippet); the public reaches only the chat and the login.
    path("", login_required(TemplateView.as_view(template_name="home.html")), name="home"),
    # Browsers ask every page's site for /favicon.ico, the admin's pages too.
    path(
        "favicon.ico", RedirectView.as_view(url=lazy(static, str)("baton/favicon.svg"), permanent=True), name="favicon"
    ),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("conversations.urls")),
    path("", include("canned.urls")),
    path("", include("sla.urls")),
    path("", include("routing.urls")),
    path("", include("analytics.urls")),
]

handler500 = "core.errors.server_error"

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import views
from config.apis import TokenObtainApi
from config.security import serialized_login
from feedback import urls as feedback_urls
from handoff import urls as handoff_urls
from integrations import urls as integrations_urls
from leads import urls as leads_urls
from pipeline import urls as pipeline_urls

api_patterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("auth/token/", TokenObtainApi.as_view(), name="auth-token"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("", include((leads_urls.api_urlpatterns, "leads-api"))),
    path("", include((handoff_urls.api_urlpatterns, "handoff-api"))),
    path("", include((pipeline_urls.api_urlpatterns, "pipeline-api"))),
    path("", include((feedback_urls.api_urlpatterns, "feedback-api"))),
    path("", include((integrations_urls.api_urlpatterns, "integrations-api"))),
]

# JSON for API clients, the HTML pages for people (config.errors).
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", serialized_login(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset: the same answer whether or not an account has the address.
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # The admin's login is an attempt like any other (same lock, same limit).
    path("admin/login/", serialized_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include(leads_urls)),
    path("", include(handoff_urls)),
    path("", include(pipeline_urls)),
    path("", include(feedback_urls)),
]

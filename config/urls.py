from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config import views
from config.apis import TokenObtainApi
from config.security import serialized_login
from feedback import urls as feedback_urls
from handoff import urls as handoff_urls
from integrations import urls as integrations_urls
from leads import urls as leads_urls
from pipeline import urls as pipeline_urls

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

# The API docs are for signed-in users, by session or token (the schema answers 401 to anonymous
# clients; the docs pages send them to the login page). Swagger UI's page loads its setup as a script of its own
# (the split view) and Redoc's page is ours (api/redoc.html), so neither has an inline script;
# their bundled UIs set inline styles and Redoc runs a worker from a blob: these two pages alone
# relax the CSP for that. Redoc's sidebar always shows Redocly's logo from their CDN.
docs_csp = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})
redoc_csp = csp_update(
    {
        "style-src": [UNSAFE_INLINE],
        "worker-src": [SELF, "blob:"],
        "img-src": [REDOC_LOGO],
    }
)

api_patterns: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("auth/token/", TokenObtainApi.as_view(), name="auth-token"),
    path(
        "docs/",
        views.signed_in_page(docs_csp(SpectacularSwaggerSplitView.as_view(url_name="schema"))),
        name="api-docs",
    ),
    path(
        "redoc/",
        views.signed_in_page(
            redoc_csp(
                SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
            )
        ),
        name="api-redoc",
    ),
    path("", include((leads_urls.api_urlpatterns, "leads-api"))),
    path("", include((handoff_urls.api_urlpatterns, "handoff-api"))),
    path("", include((pipeline_urls.api_urlpatterns, "pipeline-api"))),
    path("", include((feedback_urls.api_urlpatterns, "feedback-api"))),
    path("", include((integrations_urls.api_urlpatterns, "integrations-api"))),
]

# The admin's app sidebar took 300 of 1280 px from every list: the lists' columns (score, time
# left, breached) fell off the right edge. The home page and breadcrumbs lead to every screen.
admin.site.enable_nav_sidebar = False

# JSON for API clients, the HTML pages for people (core.error_pages).
handler404 = "core.error_pages.not_found"
handler403 = "core.error_pages.forbidden"
handler500 = "core.error_pages.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", serialized_login(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.account_settings, name="settings"),
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

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import views
from feedback import urls as feedback_urls
from handoff import urls as handoff_urls
from leads import urls as leads_urls

api_patterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("", include((leads_urls.api_urlpatterns, "leads-api"))),
    path("", include((handoff_urls.api_urlpatterns, "handoff-api"))),
    path("", include((feedback_urls.api_urlpatterns, "feedback-api"))),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include(leads_urls)),
    path("", include(handoff_urls)),
    path("", include(feedback_urls)),
]

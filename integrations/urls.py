"""Routes: the integrations API (mounted at /api/)."""

from django.urls import path

from integrations import apis

app_name = "integrations"

api_urlpatterns: list = [
    path("webhooks/endpoints/", apis.EndpointListApi.as_view(), name="endpoint-list"),
    path("webhooks/endpoints/<int:pk>/", apis.EndpointDetailApi.as_view(), name="endpoint-detail"),
    path(
        "webhooks/endpoints/<int:pk>/rotate-secret/",
        apis.EndpointRotateSecretApi.as_view(),
        name="endpoint-rotate-secret",
    ),
    path("integrations/crm/events/", apis.CrmEventApi.as_view(), name="crm-events"),
]

"""Routes: `urlpatterns` are the pages (mounted at /), `api_urlpatterns` the API (at /api/)."""

from django.urls import path

from handoff import apis, metrics_api

app_name = "handoff"

urlpatterns: list = []

api_urlpatterns: list = [
    path("handoffs/", apis.HandoffListApi.as_view(), name="handoff-list"),
    path("handoffs/<int:pk>/", apis.HandoffDetailApi.as_view(), name="handoff-detail"),
    path("handoffs/<int:pk>/accept/", apis.HandoffAcceptApi.as_view(), name="handoff-accept"),
    path(
        "handoffs/<int:pk>/request-info/",
        apis.HandoffRequestInfoApi.as_view(),
        name="handoff-request-info",
    ),
    path(
        "handoffs/<int:pk>/provide-info/",
        apis.HandoffProvideInfoApi.as_view(),
        name="handoff-provide-info",
    ),
    path("handoffs/<int:pk>/qualify/", apis.HandoffQualifyApi.as_view(), name="handoff-qualify"),
    path("handoffs/<int:pk>/reassign/", apis.HandoffReassignApi.as_view(), name="handoff-reassign"),
    path(
        "handoffs/<int:pk>/first-touch/",
        apis.HandoffFirstTouchApi.as_view(),
        name="handoff-first-touch",
    ),
    path("leads/<int:pk>/promote/", apis.LeadPromoteApi.as_view(), name="lead-promote"),
    path(
        "leads/<int:pk>/promotion-preview/",
        apis.LeadPromotionPreviewApi.as_view(),
        name="lead-promotion-preview",
    ),
    path("metrics/sla/", metrics_api.SlaMetricsApi.as_view(), name="metrics-sla"),
]

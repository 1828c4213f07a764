"""Routes: `urlpatterns` are the pages (mounted at /), `api_urlpatterns` the API (at /api/)."""

from django.urls import path

from pipeline import apis, views

app_name = "pipeline"

urlpatterns: list = [
    path(
        "handoffs/<int:pk>/open-opportunity/",
        views.opportunity_open,
        name="opportunity-open",
    ),
    path("opportunities/<int:pk>/edit/", views.opportunity_update, name="opportunity-update"),
    path("opportunities/<int:pk>/win/", views.opportunity_win, name="opportunity-win"),
    path("opportunities/<int:pk>/lose/", views.opportunity_lose, name="opportunity-lose"),
]

api_urlpatterns: list = [
    path(
        "handoffs/<int:pk>/open-opportunity/",
        apis.HandoffOpenOpportunityApi.as_view(),
        name="handoff-open-opportunity",
    ),
    path("opportunities/", apis.OpportunityListApi.as_view(), name="opportunity-list"),
    path("opportunities/sync/", apis.OpportunitySyncApi.as_view(), name="opportunity-sync"),
    path("opportunities/<int:pk>/", apis.OpportunityDetailApi.as_view(), name="opportunity-detail"),
    path("opportunities/<int:pk>/win/", apis.OpportunityWinApi.as_view(), name="opportunity-win"),
    path(
        "opportunities/<int:pk>/lose/", apis.OpportunityLoseApi.as_view(), name="opportunity-lose"
    ),
    path("metrics/revenue/", apis.RevenueMetricsApi.as_view(), name="metrics-revenue"),
]

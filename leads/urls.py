"""Routes: `urlpatterns` are the pages (mounted at /), `api_urlpatterns` the API (at /api/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from leads import apis, views

app_name = "leads"

urlpatterns: list = [
    path("leads/import/", views.import_upload, name="import"),
    path("leads/import/<int:pk>/", views.import_detail, name="import-detail"),
    path("leads/import/<int:pk>/run/", views.import_run, name="import-run"),
    path("leads/import/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("leads/import/<int:pk>/undo/", views.import_undo, name="import-undo"),
    path("leads/import/<int:pk>/rejected.csv", views.import_rejected_csv, name="import-rejected"),
]

router = SimpleRouter()
router.register("scoring/fit-rules", apis.FitRuleViewSet, basename="fit-rule")
router.register("scoring/engagement-rules", apis.EngagementRuleViewSet, basename="engagement-rule")
router.register("scoring/pql-criteria", apis.PqlCriterionViewSet, basename="pql-criterion")

api_urlpatterns: list = [
    path("leads/", apis.LeadListCreateApi.as_view(), name="lead-list"),
    path("leads/bulk/", apis.LeadBulkApi.as_view(), name="lead-bulk"),
    path("leads/<int:pk>/", apis.LeadDetailApi.as_view(), name="lead-detail"),
    path("leads/<int:pk>/events/", apis.LeadEventsApi.as_view(), name="lead-events"),
    path("events/bulk/", apis.EventBulkApi.as_view(), name="event-bulk"),
    path("scoring/settings/", apis.ScoringConfigApi.as_view(), name="scoring-settings"),
    *router.urls,
]

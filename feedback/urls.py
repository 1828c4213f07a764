"""Routes: `urlpatterns` are the pages (mounted at /), `api_urlpatterns` the API (at /api/)."""

from django.urls import path

from feedback import apis, dashboard, views

app_name = "feedback"

urlpatterns: list = [
    path("returned/", views.returned_queue, name="returned-queue"),
    path(
        "returned/<int:pk>/acknowledge/",
        views.feedback_acknowledge,
        name="feedback-acknowledge",
    ),
    path("disputes/", views.dispute_inbox, name="dispute-inbox"),
    path("disputes/<int:pk>/resolve/", views.dispute_resolve, name="dispute-resolve"),
    path("handoffs/<int:pk>/return/", views.handoff_return, name="handoff-return"),
    path("feedback/", views.feedback_report, name="report"),
    path("digest/", views.digest_page, name="digest"),
    path(
        "feedback/contradicted-rules/apply/",
        views.contradicted_rule_apply,
        name="contradicted-rule-apply",
    ),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
]

api_urlpatterns: list = [
    path("feedback/reasons/", apis.ReasonListApi.as_view(), name="reason-list"),
    path("feedback/", apis.FeedbackListApi.as_view(), name="feedback-list"),
    path("feedback/disputes/", apis.DisputeListApi.as_view(), name="dispute-list"),
    path(
        "feedback/<int:pk>/acknowledge/",
        apis.FeedbackAcknowledgeApi.as_view(),
        name="feedback-acknowledge",
    ),
    path(
        "feedback/<int:pk>/resolve-dispute/",
        apis.FeedbackResolveDisputeApi.as_view(),
        name="feedback-resolve-dispute",
    ),
    path("feedback/leads/<int:pk>/reopen/", apis.LeadReopenApi.as_view(), name="lead-reopen"),
    path("metrics/feedback/", apis.FeedbackMetricsApi.as_view(), name="feedback-metrics"),
    path(
        "feedback/contradicted-rules/apply/",
        apis.ContradictedRuleApplyApi.as_view(),
        name="contradicted-rule-apply",
    ),
    # Served here, not by the handoff app: a return needs the reasons (feedback -> handoff).
    path("handoffs/<int:pk>/return/", apis.HandoffReturnApi.as_view(), name="handoff-return"),
    path(
        "handoffs/<int:pk>/previous-returns/",
        apis.HandoffPreviousReturnsApi.as_view(),
        name="handoff-previous-returns",
    ),
]

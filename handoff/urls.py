"""Routes: `urlpatterns` are the pages (mounted at /), `api_urlpatterns` the API (at /api/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from handoff import (
    accounts_api,
    accounts_views,
    apis,
    metrics_api,
    time_off_api,
    time_off_views,
    views,
)

app_name = "handoff"

urlpatterns: list = [
    # marketing
    path("leads/", views.lead_list, name="lead-list"),
    path("leads/<int:pk>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:pk>/promote/", views.lead_promote, name="lead-promote"),
    path(
        "leads/<int:pk>/promote/preview/",
        views.lead_promote_preview,
        name="lead-promote-preview",
    ),
    path("questions/", views.questions, name="questions"),
    # sales
    path("queue/", views.my_queue, name="my-queue"),
    path("accepted/", views.my_accepted, name="my-accepted"),
    path("manager/queue/", views.manager_queue, name="manager-queue"),
    path("handoffs/<int:pk>/", views.handoff_detail, name="handoff-detail"),
    path("handoffs/<int:pk>/accept/", views.handoff_accept, name="handoff-accept"),
    path("handoffs/<int:pk>/ask/", views.handoff_ask, name="handoff-ask"),
    path("handoffs/<int:pk>/answer/", views.handoff_answer, name="handoff-answer"),
    path("handoffs/<int:pk>/first-touch/", views.handoff_first_touch, name="handoff-first-touch"),
    path("handoffs/<int:pk>/qualify/", views.handoff_qualify, name="handoff-qualify"),
    path("handoffs/<int:pk>/reassign/", views.handoff_reassign, name="handoff-reassign"),
    path("time-off/", time_off_views.time_off_page, name="time-off"),
    path("accounts/", accounts_views.account_list, name="account-list"),
    path("accounts/<int:pk>/", accounts_views.account_detail, name="account-detail"),
    path("time-off/<int:pk>/delete/", time_off_views.time_off_delete, name="time-off-delete"),
]

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
    path("time-off/", time_off_api.TimeOffListApi.as_view(), name="time-off-list"),
    path("accounts/", accounts_api.AccountListApi.as_view(), name="account-list"),
    path("accounts/<int:pk>/", accounts_api.AccountDetailApi.as_view(), name="account-detail"),
    path("time-off/<int:pk>/", time_off_api.TimeOffDetailApi.as_view(), name="time-off-detail"),
]

router = SimpleRouter()
router.register(
    "scoring/auto-promotion", apis.AutoPromotionRuleViewSet, basename="auto-promotion-rule"
)
api_urlpatterns += router.urls

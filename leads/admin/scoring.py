"""The scoring rules and settings: marketing and managers only; every change rescores every
lead (through leads.services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core import roles
from core.types import actor_of
from leads import services
from leads.models import EngagementRule, FitRule, PqlCriterion, ScoringConfig


class ScoringAdminMixin(admin.ModelAdmin):
    """Saving bumps the rules' version and queues the batch rescore (leads.services)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return roles.can_edit_scoring(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_edit_scoring(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return roles.can_edit_scoring(request.user) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        version = services.scoring_rule_save(rule=obj, actor=actor_of(request))
        self.message_user(
            request, f"Scoring rules are now version {version}; every lead is being rescored."
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.scoring_rule_delete(rule=obj, actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for rule in queryset:
            services.scoring_rule_delete(rule=rule, actor=actor_of(request))


@admin.register(FitRule)
class FitRuleAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    list_display = ["name", "field", "operator", "value", "points", "active", "order"]
    list_editable = ["points", "active", "order"]
    list_filter = ["field", "operator", "active"]
    search_fields = ["name"]


@admin.register(EngagementRule)
class EngagementRuleAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "kind",
        "points",
        "max_events",
        "intent_points",
        "intent_window_days",
        "active",
    ]
    list_editable = ["points", "max_events", "intent_points", "intent_window_days", "active"]
    list_filter = ["active"]


@admin.register(PqlCriterion)
class PqlCriterionAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    """Product-usage signals that make a lead product-qualified (any active one suffices)."""

    list_display = ["name", "kind", "min_days", "feature", "within_days", "active", "order"]
    list_editable = ["active", "order"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "feature"]


@admin.register(ScoringConfig)
class ScoringConfigAdmin(ScoringAdminMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "mql_threshold",
        "engagement_half_life_days",
        "engagement_window_days",
        "version",
        "updated_at",
    ]
    readonly_fields = ["version", "updated_at"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return not ScoringConfig.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

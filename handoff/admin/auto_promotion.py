"""Auto-promotion in the admin: marketing's rules (saved and deleted through the service), and the
read-only log of what each firing came to."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.roles import can_edit_scoring
from core.types import actor_of
from handoff import autopromotion
from handoff.models import AutoPromotion, AutoPromotionRule


class AutoPromotionRuleForm(forms.ModelForm):
    class Meta:
        model = AutoPromotionRule
        fields = [
            "name", "active", "event_kinds", "within_minutes", "min_score", "sources",
            "campaigns", "fit_rules", "requires_pql", "hold_outside_hours", "max_per_hour", "order",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        problem = autopromotion.rule_problem(
            event_kinds=data.get("event_kinds"),
            sources=data.get("sources") if data.get("sources") is not None else [],
            within_minutes=data.get("within_minutes"),
        )
        if problem:
            self.add_error(problem[0], problem[1])
        return data


@admin.register(AutoPromotionRule)
class AutoPromotionRuleAdmin(SimpleHistoryAdmin):
    """Marketing's rules. `active` is editable in the list: unticking it stops the rule for the
    next event that arrives."""

    form = AutoPromotionRuleForm
    list_display = [
        "name", "active", "event_kinds", "within_minutes", "min_score", "hold_outside_hours",
        "max_per_hour", "order",
    ]  # fmt: skip
    list_editable = ["active", "order"]
    list_filter = ["active", "hold_outside_hours"]
    search_fields = ["name"]
    filter_horizontal = ["campaigns", "fit_rules"]

    def _can(self, request: HttpRequest) -> bool:
        return can_edit_scoring(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._can(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._can(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._can(request)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        autopromotion.auto_promotion_rule_save(rule=obj, actor=actor_of(request))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        autopromotion.auto_promotion_rule_delete(rule=obj, actor=actor_of(request))


@admin.register(AutoPromotion)
class AutoPromotionAdmin(admin.ModelAdmin):
    """The log of firings, read-only: filter by outcome to see the leads held for working hours
    or over a rule's hourly ceiling (those wait for a marketer)."""

    list_display = [
        "created_at", "rule_name", "lead", "event_kind", "signal_at", "outcome", "code",
        "handoff", "release_at",
    ]  # fmt: skip
    list_filter = ["outcome", "rule", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["lead", "handoff"]
    show_full_result_count = False
    raw_id_fields = ["lead", "handoff"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_edit_scoring(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_edit_scoring(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

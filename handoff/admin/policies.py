"""SLA policies in the admin: the form's checks, and saving through the service (which versions
the policy)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.types import actor_of
from handoff import services
from handoff.admin.access import ManagersOnly
from handoff.models import SlaPolicy
from leads.models import Source


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = [
            "name", "active", "precedence", "team", "min_score", "max_score", "sources",
            "requires_high_intent", "calendar", "accept_within_minutes",
            "first_touch_within_minutes", "at_risk_ratio", "notify_manager_on_breach",
            "reassign_on_breach", "max_reassignments", "skip_reps_off_hours",
        ]  # fmt: skip

    def clean_at_risk_ratio(self) -> float:
        value = self.cleaned_data["at_risk_ratio"]
        if not 0 < value <= 1:
            raise forms.ValidationError("Give a share of the window between 0 and 1, e.g. 0.75.")
        return float(value)

    def clean_sources(self) -> list[str]:
        value = self.cleaned_data.get("sources") or []
        if not isinstance(value, list) or any(s not in Source.values for s in value):
            raise forms.ValidationError(f"A list of sources among: {', '.join(Source.values)}.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("min_score"), data.get("max_score")
        if low is not None and high is not None and low > high:
            self.add_error("max_score", "The maximum score is below the minimum.")
        if data.get("accept_within_minutes") == 0:
            self.add_error("accept_within_minutes", "Give at least one business minute.")
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ManagersOnly, SimpleHistoryAdmin):
    form = SlaPolicyForm
    list_display = [
        "name", "version", "precedence", "team", "min_score", "max_score", "sources",
        "requires_high_intent", "accept_within_minutes", "first_touch_within_minutes",
        "at_risk_ratio", "reassign_on_breach", "skip_reps_off_hours", "active",
    ]  # fmt: skip
    list_filter = ["active", "team", "requires_high_intent", "reassign_on_breach"]
    list_select_related = ["team"]
    readonly_fields = ["version", "updated_at"]
    search_fields = ["name"]

    def save_model(self, request: HttpRequest, obj: SlaPolicy, form: Any, change: bool) -> None:
        services.sla_policy_save(policy=obj, actor=actor_of(request))

"""Admin for managers: the lost-reason taxonomy, and opportunities to look up (read-only:
every change of an opportunity goes through the services, from the handoff page or the API)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from pipeline.models import LostReason, Opportunity


@admin.register(LostReason)
class LostReasonAdmin(SimpleHistoryAdmin):
    list_display = ["label", "code", "category", "active", "display_order"]
    list_editable = ["active", "display_order"]
    list_filter = ["category", "active"]
    search_fields = ["code", "label"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Reports group lost deals by code: once created it stays; retire it with `active`.
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.opportunities.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Opportunity)
class OpportunityAdmin(admin.ModelAdmin):
    list_display = ["id", "lead", "owner", "stage", "amount", "currency", "source",
                    "score_band", "opened_at", "won_at", "lost_at", "external_id"]  # fmt: skip
    list_filter = ["stage", "currency", "source", "score_band", "team"]
    list_select_related = ["lead", "owner"]
    search_fields = ["external_id", "lead__email"]
    raw_id_fields = ["lead", "handoff", "owner", "opened_by", "campaign"]
    date_hierarchy = "opened_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

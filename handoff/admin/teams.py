"""Teams in the admin: what each takes (its matching rules), its calendar and manager, and its
members' rotation (position, weight, capacity)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from handoff.admin.access import ManagersOnly
from handoff.models import Team, TeamMembership


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ["rep", "position", "weight", "capacity", "is_away", "calendar", "active"]
    autocomplete_fields = ["rep"]


@admin.register(Team)
class TeamAdmin(ManagersOnly, SimpleHistoryAdmin):
    list_display = [
        "name", "priority", "calendar", "manager", "rules", "member_count", "active",
    ]  # fmt: skip
    list_select_related = ["calendar", "manager"]
    list_filter = ["active"]
    readonly_fields = ["rotation_position"]
    inlines = [TeamMembershipInline]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description="members", ordering="members")
    def member_count(self, obj: Any) -> int:
        return int(getattr(obj, "members", 0))

    @admin.display(description="takes")
    def rules(self, obj: Team) -> str:
        parts = []
        for label, value in (
            ("regions", obj.match_regions),
            ("countries", obj.match_countries),
            ("industries", obj.match_industries),
            ("sizes", obj.match_employee_bands),
        ):
            if value:
                parts.append(f"{label} {', '.join(map(str, value))}")
        if obj.match_min_score is not None or obj.match_max_score is not None:
            parts.append(f"score {obj.match_min_score or 0}..{obj.match_max_score or '-'}")
        return "; ".join(parts) or "everything (catch-all)"

"""The handoff list's own filters: breached, at risk now, and the assigned rep among the sales
reps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core.roles import SALES
from handoff.filters import at_risk_q, breached_q


class BreachedFilter(admin.SimpleListFilter):
    title = "breached"
    parameter_name = "breached"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Breached"), ("no", "Not breached")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        q = breached_q(timezone.now())
        if self.value() == "yes":
            return queryset.filter(q)
        if self.value() == "no":
            return queryset.exclude(q)
        return queryset


class AtRiskFilter(admin.SimpleListFilter):
    title = "at risk"
    parameter_name = "at_risk"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "At risk now")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(at_risk_q(timezone.now()))
        return queryset


class RepFilter(admin.RelatedFieldListFilter):
    """The assigned rep, among the sales reps: the choices come from the users, not from a
    DISTINCT over every handoff (which RelatedOnlyFieldListFilter runs on each page view)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        reps = (
            get_user_model()
            .objects.filter(groups__name=SALES)
            .order_by("first_name", "last_name", "username")
        )
        return [(user.pk, user.get_full_name() or user.get_username()) for user in reps]

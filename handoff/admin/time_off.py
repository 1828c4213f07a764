"""Reps' time off in the admin: managers add or remove a range (never edit one in place); the
overlap check runs in the service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.errors import DomainError
from core.roles import SALES
from core.types import actor_of
from handoff import time_off as time_off_service
from handoff.models import TimeOff


class TimeOffAdminForm(forms.ModelForm):
    class Meta:
        model = TimeOff
        fields = ["rep", "starts_on", "ends_on", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rep_field = self.fields.get("rep")
        if isinstance(rep_field, forms.ModelChoiceField):
            rep_field.queryset = get_user_model().objects.filter(is_active=True, groups__name=SALES)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or not all(data.get(f) for f in ("rep", "starts_on", "ends_on")):
            return data
        try:
            time_off_service.time_off_check(
                rep=data["rep"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                note=data.get("note") or "",
            )
        except DomainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(TimeOff)
class TimeOffAdmin(SimpleHistoryAdmin):
    """Managers set anyone's time off here too (or on the time-off page). A range is added or
    removed, never edited in place: the check for overlaps runs in the service."""

    form = TimeOffAdminForm
    list_display = ["rep", "starts_on", "ends_on", "note", "created_by"]
    list_filter = ["starts_on"]
    search_fields = ["rep__username", "rep__first_name", "rep__last_name", "note"]
    list_select_related = ["rep", "created_by"]
    date_hierarchy = "starts_on"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: TimeOff, form: Any, change: bool) -> None:
        created = time_off_service.time_off_create(
            actor=actor_of(request),
            rep=obj.rep,
            starts_on=obj.starts_on,
            ends_on=obj.ends_on,
            note=obj.note,
        )
        obj.pk = created.pk

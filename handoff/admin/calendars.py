"""Business calendars in the admin: time zone, public holidays, working windows and special
dates; saving one retires the cached copies of it."""

from __future__ import annotations

import zoneinfo
from typing import Any

import holidays
from django import forms
from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from handoff import services
from handoff.admin.access import ManagersOnly
from handoff.models import BusinessCalendar, CalendarDate, WorkingWindow


class WorkingWindowInline(admin.TabularInline):
    model = WorkingWindow
    extra = 0


class CalendarDateInline(admin.TabularInline):
    model = CalendarDate
    extra = 0


class BusinessCalendarForm(forms.ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ["name", "timezone", "holiday_country", "holiday_subdivision"]

    def clean_timezone(self) -> str:
        value = self.cleaned_data["timezone"].strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise forms.ValidationError(f"{value!r} is not an IANA time zone.") from exc
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        country = (data.get("holiday_country") or "").upper()
        subdivision = data.get("holiday_subdivision") or ""
        supported = holidays.list_supported_countries()
        if country and country not in supported:
            self.add_error("holiday_country", f"No public holidays known for {country!r}.")
        elif subdivision and not country:
            self.add_error("holiday_subdivision", "Give the country first.")
        elif country and subdivision and subdivision not in supported[country]:
            self.add_error("holiday_subdivision", f"{country} has no subdivision {subdivision!r}.")
        data["holiday_country"] = country
        return data


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ManagersOnly, SimpleHistoryAdmin):
    form = BusinessCalendarForm
    list_display = ["name", "timezone", "holiday_country", "holiday_subdivision", "updated_at"]
    search_fields = ["name"]
    inlines = [WorkingWindowInline, CalendarDateInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Windows and dates were saved after the calendar row: move updated_at again so no
        # process keeps a copy built in between.
        services.calendar_touch(calendar=form.instance)

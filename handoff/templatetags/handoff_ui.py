"""Small display helpers for the handoff pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.timesince import timesince

from handoff import clocks
from handoff.states import Status
from leads.models import Stage

register = template.Library()


@register.filter
def status_label(value: str) -> str:
    return str(Status(value).label) if value in Status.values else value


@register.filter
def stage_label(value: str) -> str:
    return str(Stage(value).label) if value in Stage.values else value


@register.filter
def points(value: Any) -> str:
    """+12 / -5 / 0"""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return ""
    return f"{number:+d}" if number else "0"


@register.filter
def minutes(value: Any) -> str:
    """Business minutes as "4h", "1h 30m", "15m", "51h" (a policy's windows): hours, never
    days of 24 hours, which a business day is not."""
    try:
        total = float(value)
    except (TypeError, ValueError):
        return ""
    return clocks.hours_label(total)


@register.filter
def percent(value: Any) -> str:
    if value is None or value == "":
        return "\u2013"
    return f"{float(value) * 100:.0f}%"


@register.filter
def isodate(value: Any) -> Any:
    """An ISO string from a JSON snapshot as a datetime (templates then format it)."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


@register.filter
def ago(value: dt.datetime | None) -> str:
    """ "3 hours ago": the largest unit only, so a list column stays one line."""
    if value is None:
        return ""
    return f"{timesince(value, depth=1)} ago"

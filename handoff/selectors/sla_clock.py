"""The SLA clocks of a handoff read from the database (its calendar looked up once): the
computations and the words live in handoff.clocks, the one pure module; this file only feeds
them a handoff's columns and calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from handoff import clocks
from handoff.clocks import Clock, clock_label, clock_words
from handoff.models import Handoff
from handoff.selectors.calendars import calendar_by_id, handoff_calendar

#: accept_clock from a handoff's columns (a list row read as values).
accept_clock_of = clocks.accept_clock

__all__ = [
    "Clock",
    "accept_clock",
    "accept_clock_of",
    "accept_clock_of_values",
    "clock_label",
    "clock_words",
    "first_touch_clock",
]


def accept_clock_of_values(values: Mapping[str, Any], now: dt.datetime) -> Clock:
    """accept_clock from a row read as values: its status, due_at, responded_at,
    remaining_business_minutes, and the calendar columns (calendar_id, calendar__updated_at,
    team_id, team__calendar_id, team__calendar__updated_at); the handoff's calendar, else its
    team's, as handoff_calendar picks it, from the calendars' cache."""
    if values["calendar_id"] is not None:
        calendar_key = (values["calendar_id"], values["calendar__updated_at"])
    elif values["team_id"] is not None and values["team__calendar_id"] is not None:
        calendar_key = (values["team__calendar_id"], values["team__calendar__updated_at"])
    else:
        calendar_key = (None, None)
    return clocks.accept_clock(
        status=values["status"],
        due_at=values["due_at"],
        responded_at=values["responded_at"],
        remaining=values["remaining_business_minutes"],
        calendar=lambda: calendar_by_id(*calendar_key),
        now=now,
    )


def accept_clock(handoff: Handoff, *, now: dt.datetime | None = None) -> Clock:
    """The accept-or-return clock: time left (or late by), in business minutes and wall time."""
    return clocks.accept_clock(
        status=handoff.status,
        due_at=handoff.due_at,
        responded_at=handoff.responded_at,
        remaining=handoff.remaining_business_minutes,
        calendar=lambda: handoff_calendar(handoff),
        now=now or timezone.now(),
    )


def first_touch_clock(handoff: Handoff, *, now: dt.datetime | None = None) -> Clock:
    """The first-touch clock: it runs once the handoff is accepted, until the first touch."""
    return clocks.first_touch_clock(
        status=handoff.status,
        due_at=handoff.first_touch_due_at,
        touched_at=handoff.first_touch_at,
        calendar=lambda: handoff_calendar(handoff),
        now=now or timezone.now(),
    )

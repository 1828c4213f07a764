"""The SLA clocks of a handoff read from the database (its calendar looked up once): the
computations and the words live in handoff.clocks, the one pure module; this file only feeds
them a handoff's columns and calendar."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from handoff import clocks
from handoff.clocks import Clock, clock_label, clock_words
from handoff.models import Handoff
from handoff.selectors.calendars import handoff_calendar

#: accept_clock from a handoff's columns (a list row read as values).
accept_clock_of = clocks.accept_clock

__all__ = [
    "Clock",
    "accept_clock",
    "accept_clock_of",
    "clock_label",
    "clock_words",
    "first_touch_clock",
]


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

"""The SLA clocks of a handoff at a moment (accept-or-return, first touch): state, time left or
late by in business and wall time, and the words every page, email and answer shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from handoff import clocks, sla
from handoff.models import Handoff
from handoff.selectors.calendars import handoff_calendar
from handoff.states import Status


@dataclass(frozen=True)
class Clock:
    """One SLA clock of a handoff at `now`.

    state: "running" (counting down or overdue), "paused" (waiting for marketing), "met"
    (answered in time), "missed" (answered late), or "none". Minutes left are negative when late.
    `day_minutes` is the length of a business day of the handoff's calendar, which the words
    (handoff.clocks) count lateness and time left in.
    """

    state: str
    due_at: dt.datetime | None
    wall_seconds_left: float | None
    business_minutes_left: float | None
    day_minutes: float = 24 * 60.0

    @property
    def late(self) -> bool:
        """Past the deadline (wall time: a deadline at 17:30 on Friday is late on Saturday)."""
        return self.wall_seconds_left is not None and self.wall_seconds_left < 0

    @property
    def words(self) -> clocks.Words:
        return clock_words(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "due_at": self.due_at,
            "wall_seconds_left": self.wall_seconds_left,
            "business_minutes_left": self.business_minutes_left,
            "late": self.late,
            "label": clock_label(self),
        }


def _running(due_at: dt.datetime, now: dt.datetime, calendar: sla.Calendar) -> Clock:
    wall = (due_at - now).total_seconds()
    if now <= due_at:
        business = sla.business_minutes_between(now, due_at, calendar)
    else:
        business = -sla.business_minutes_between(due_at, now, calendar)
    return Clock(
        "running", due_at, round(wall, 1), round(business, 2), clocks.working_day_minutes(calendar)
    )


def accept_clock(handoff: Handoff, *, now: dt.datetime | None = None) -> Clock:
    """The accept-or-return clock: time left (or late by), in business minutes and wall time."""
    return accept_clock_of(
        status=handoff.status,
        due_at=handoff.due_at,
        responded_at=handoff.responded_at,
        remaining=handoff.remaining_business_minutes,
        calendar=lambda: handoff_calendar(handoff),
        now=now or timezone.now(),
    )


def accept_clock_of(
    *,
    status: str,
    due_at: dt.datetime | None,
    responded_at: dt.datetime | None,
    remaining: float | None,
    calendar: Callable[[], sla.Calendar],
    now: dt.datetime,
) -> Clock:
    """accept_clock from a handoff's columns (a list row read as values); `calendar()` gives
    its sla.Calendar, asked only when the clock runs or is paused."""
    if status == Status.PENDING and due_at is not None:
        return _running(due_at, now, calendar())
    if status == Status.WAITING:
        day = clocks.working_day_minutes(calendar())
        return Clock("paused", None, None, remaining, day)
    if responded_at is not None and due_at is not None:
        state = "missed" if responded_at > due_at else "met"
        return Clock(state, due_at, None, None)
    return Clock("none", due_at, None, None)


def first_touch_clock(handoff: Handoff, *, now: dt.datetime | None = None) -> Clock:
    now = now or timezone.now()
    due = handoff.first_touch_due_at
    if due is None:
        return Clock("none", None, None, None)
    if handoff.first_touch_at is not None:
        return Clock("missed" if handoff.first_touch_at > due else "met", due, None, None)
    if handoff.status == Status.ACCEPTED:
        return _running(due, now, handoff_calendar(handoff))
    return Clock("none", due, None, None)


def clock_words(clock: Clock) -> clocks.Words:
    """The clock in words (handoff.clocks): business days of the handoff's calendar, with the
    wall time beside."""
    if clock.state == "running" and clock.business_minutes_left is not None:
        if clock.late:
            return clocks.late_words(
                clock.business_minutes_left, clock.wall_seconds_left, clock.day_minutes
            )
        return clocks.left_words(
            clock.business_minutes_left, clock.wall_seconds_left, clock.day_minutes
        )
    if clock.state == "paused":
        return clocks.paused_words(clock.business_minutes_left or 0, clock.day_minutes)
    if clock.state in ("met", "missed"):
        return clocks.Words("answered in time" if clock.state == "met" else "answered late")
    return clocks.Words("")


def clock_label(clock: Clock) -> str:
    """ "1h 05m left", "late by 33 business days (7 weeks)", "paused, 40m left", "answered
    late": the words every page, email and API answer shows."""
    return clock_words(clock).text

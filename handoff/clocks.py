"""SLA clocks, in one pure module (no Django, no database, `now` always passed in): a handoff's
clock at a moment (time left or late by, in business and wall time), whether it is at risk,
breached or late, how late an answer was, and the words for all of it, read in business days
of the handoff's calendar with the wall time beside. `Handoff` methods (handoff.models) delegate
here; every page, the API's `clock.label`, the emails, the admin and the sweep read their words
from here. The arithmetic of business time itself is handoff.sla.

A business day is one working day of the calendar: a calendar open 09:00-17:00 has business
days of 8 hours, a round-the-clock one of 24. Under one business day the words are business
hours and minutes ("3h 20m left", "late by 12m"); from one business day on they are days
("late by 33 business days"). The wall time goes beside whenever it says something the business
time does not ("late by 33 business days (7 weeks)", "late by 2h 00m (16 hours)"): a handoff
due on Friday evening and still pending on Monday morning is late by little business time but
by a whole weekend of wall time, and both are true.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from handoff import sla

# Below this much business time late the clock reads "overdue" rather than "late by 0m".
_OVERDUE_MINUTES = 1.0

# The handoff states a clock reads (handoff.states.Status values; a test holds them equal).
PENDING = "pending"
WAITING = "waiting"
ACCEPTED = "accepted"


def working_day_minutes(calendar: sla.Calendar) -> float:
    """The length of the calendar's working day in minutes: the most common length among its
    working weekdays (a Monday-to-Friday 09:00-17:00 calendar: 480); 1440 when it has none."""
    return _working_day_minutes(calendar.weekly)


@lru_cache(maxsize=256)
def _working_day_minutes(weekly: tuple[tuple[sla.Window, ...], ...]) -> float:
    """working_day_minutes of a week of windows, worked out once per week (every running
    clock of a 50-row queue page asks it)."""
    lengths = [sum(end - start for start, end in windows) for windows in weekly if windows]
    if not lengths:
        return 24 * 60.0
    most_common = Counter(lengths).most_common()
    top = max(count for _, count in most_common)
    length = max(value for value, count in most_common if count == top)
    return length / sla.US_PER_MINUTE


def _hours_minutes(minutes: float) -> str:
    hours, mins = divmod(round(abs(minutes)), 60)
    if hours and mins:
        return f"{hours}h {mins:02d}m"
    if hours:
        return f"{hours}h 00m"
    return f"{mins}m"


def hours_label(minutes: float) -> str:
    """Business minutes as hours, never days of 24 hours (which a business day is not): "4h",
    "1h 30m", "15m", "51h". A policy's windows on the pages."""
    hours, mins = divmod(round(minutes), 60)
    if hours and mins:
        return f"{hours}h {mins:02d}m"
    return f"{hours}h" if hours else f"{mins}m"


def business_days(minutes: float, day_minutes: float) -> float:
    """Business minutes as business days of a calendar whose working day is `day_minutes`."""
    return minutes / day_minutes if day_minutes > 0 else 0.0


def business_span(minutes: float, day_minutes: float) -> str:
    """Business time in words: "12m", "3h 20m", "1 business day 6h", "33 business days"."""
    minutes = abs(minutes)
    if day_minutes <= 0 or minutes < day_minutes:
        return _hours_minutes(minutes)
    days = int(minutes // day_minutes)
    rest = minutes - days * day_minutes
    unit = "business day" if days == 1 else "business days"
    if days < 3 and rest >= 60:
        return f"{days} {unit} {int(rest // 60)}h"
    return f"{days} {unit}"


def wall_span(seconds: float) -> str:
    """Wall time in one coarse unit: "45 minutes", "16 hours" (up to three days), "5 days",
    "7 weeks"."""
    seconds = abs(seconds)
    minutes = seconds / 60
    hours = minutes / 60
    days = hours / 24

    def plural(value: float, unit: str) -> str:
        n = max(1, int(value + 0.5))
        return f"{n} {unit}" if n == 1 else f"{n} {unit}s"

    if days >= 14:
        return plural(days / 7, "week")
    if hours >= 72:
        return plural(days, "day")
    if minutes >= 90:
        return plural(hours, "hour")
    return plural(minutes, "minute")


@dataclass(frozen=True)
class Words:
    """A clock's words: `main` in business time, `wall` beside it (or ""); `hours` tells the
    ticking script that `main` is in hours and minutes, which it may count down itself."""

    main: str
    wall: str = ""
    hours: bool = False

    @property
    def text(self) -> str:
        return f"{self.main} ({self.wall})" if self.wall else self.main


def _wall_beside(business_minutes: float, wall_seconds: float | None, in_days: bool) -> str:
    if wall_seconds is None:
        return ""
    # In hours, the wall time is worth saying only when it differs by an hour or more.
    if in_days or abs(abs(wall_seconds) - abs(business_minutes) * 60) >= 3600:
        return wall_span(wall_seconds)
    return ""


def left_words(business_minutes: float, wall_seconds: float | None, day_minutes: float) -> Words:
    """Time left before a deadline: "3h 20m left", "2 business days left (3 days)"."""
    in_days = day_minutes > 0 and business_minutes >= day_minutes
    return Words(
        main=f"{business_span(business_minutes, day_minutes)} left",
        wall=_wall_beside(business_minutes, wall_seconds, in_days),
        hours=not in_days,
    )


def late_words(business_minutes: float, wall_seconds: float | None, day_minutes: float) -> Words:
    """How late, past a deadline: "overdue", "late by 12m", "late by 33 business days (7 weeks)"."""
    business_minutes = abs(business_minutes)
    if business_minutes < _OVERDUE_MINUTES:
        wall = wall_span(wall_seconds) if wall_seconds and abs(wall_seconds) >= 3600 else ""
        return Words(main="overdue", wall=wall, hours=not wall)
    in_days = day_minutes > 0 and business_minutes >= day_minutes
    return Words(
        main=f"late by {business_span(business_minutes, day_minutes)}",
        wall=_wall_beside(business_minutes, wall_seconds, in_days),
        hours=not in_days,
    )


def paused_words(business_minutes: float, day_minutes: float) -> Words:
    """A paused clock keeps business time only: "paused, 40m left"."""
    return Words(main=f"paused, {business_span(business_minutes, day_minutes)} left")


def window_words(minutes: float, day_minutes: float) -> str:
    """A policy's window ("accept within ...") in the same words: "4h 00m", "2 business days"."""
    return business_span(minutes, day_minutes)


# --- deadlines: late, breached, at risk ---------------------------------------------------------
# The same definitions as the lists' SQL (handoff.filters.breached_q, at_risk_q): a breach is
# due at the deadline itself; an answer is late only after it.


def is_late(due_at: dt.datetime | None, moment: dt.datetime) -> bool:
    """An answer (accept, return, first touch) at `moment` is late: strictly after the deadline."""
    return due_at is not None and moment > due_at


def is_breached(
    *, status: str, due_at: dt.datetime | None, breached_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Flagged by the sweep, or pending at or past its deadline and not flagged yet (the sweep
    runs every 30 s; a page must not wait for it)."""
    return breached_at is not None or (status == PENDING and due_at is not None and due_at <= now)


def is_at_risk(
    *,
    status: str,
    due_at: dt.datetime | None,
    at_risk_at: dt.datetime | None,
    breached_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """Pending, past its at-risk point, not yet due and not breached."""
    return (
        status == PENDING
        and breached_at is None
        and due_at is not None
        and due_at > now
        and at_risk_at is not None
        and at_risk_at <= now
    )


# --- a clock at a moment -------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One SLA clock of a handoff at `now`.

    state: "running" (counting down or overdue), "paused" (waiting for marketing), "met"
    (answered in time), "missed" (answered late), or "none". Minutes left are negative when late.
    `day_minutes` is the length of a business day of the handoff's calendar, which the words
    count lateness and time left in.
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
    def words(self) -> Words:
        return clock_words(self)

    @property
    def label(self) -> str:
        return clock_words(self).text

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "due_at": self.due_at,
            "wall_seconds_left": self.wall_seconds_left,
            "business_minutes_left": self.business_minutes_left,
            "late": self.late,
            "label": self.label,
        }


def running_clock(due_at: dt.datetime, now: dt.datetime, calendar: sla.Calendar) -> Clock:
    """A clock counting down to `due_at` (or past it), in business minutes and wall seconds."""
    wall = (due_at - now).total_seconds()
    if now <= due_at:
        business = sla.business_minutes_between(now, due_at, calendar)
    else:
        business = -sla.business_minutes_between(due_at, now, calendar)
    return Clock(
        "running", due_at, round(wall, 1), round(business, 2), working_day_minutes(calendar)
    )


def accept_clock(
    *,
    status: str,
    due_at: dt.datetime | None,
    responded_at: dt.datetime | None,
    remaining: float | None,
    calendar: Callable[[], sla.Calendar],
    now: dt.datetime,
) -> Clock:
    """The accept-or-return clock from a handoff's columns; `calendar()` gives its calendar,
    asked only when the clock runs or is paused."""
    if status == PENDING and due_at is not None:
        return running_clock(due_at, now, calendar())
    if status == WAITING:
        return Clock("paused", None, None, remaining, working_day_minutes(calendar()))
    if responded_at is not None and due_at is not None:
        return Clock("missed" if responded_at > due_at else "met", due_at, None, None)
    return Clock("none", due_at, None, None)


def first_touch_clock(
    *,
    status: str,
    due_at: dt.datetime | None,
    touched_at: dt.datetime | None,
    calendar: Callable[[], sla.Calendar],
    now: dt.datetime,
) -> Clock:
    """The first-touch clock: it runs once the handoff is accepted, until the first touch."""
    if due_at is None:
        return Clock("none", None, None, None)
    if touched_at is not None:
        return Clock("missed" if touched_at > due_at else "met", due_at, None, None)
    if status == ACCEPTED:
        return running_clock(due_at, now, calendar())
    return Clock("none", due_at, None, None)


def clock_words(clock: Clock) -> Words:
    """The clock in words: business days of the handoff's calendar, with the wall time beside."""
    if clock.state == "running" and clock.business_minutes_left is not None:
        if clock.late:
            return late_words(
                clock.business_minutes_left, clock.wall_seconds_left, clock.day_minutes
            )
        return left_words(clock.business_minutes_left, clock.wall_seconds_left, clock.day_minutes)
    if clock.state == "paused":
        return paused_words(clock.business_minutes_left or 0, clock.day_minutes)
    if clock.state in ("met", "missed"):
        return Words("answered in time" if clock.state == "met" else "answered late")
    return Words("")


def clock_label(clock: Clock) -> str:
    """ "1h 05m left", "late by 33 business days (7 weeks)", "paused, 40m left", "answered
    late": the words every page, email and API answer shows."""
    return clock_words(clock).text


def tone(clock: Clock, *, at_risk_at: dt.datetime | None, now: dt.datetime) -> str:
    """The clock's colour on a page: late / at-risk / ok while it runs, else its state."""
    if clock.state == "running":
        if clock.late:
            return "late"
        return "at-risk" if at_risk_at is not None and now >= at_risk_at else "ok"
    return "paused" if clock.state == "paused" else clock.state


# --- late by ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LateBy:
    """How late an answer is (or was): wall time and business minutes past the deadline."""

    wall: dt.timedelta
    business_minutes: float
    day_minutes: float = 24 * 60.0

    @property
    def label(self) -> str:
        """The same words as the pages: "late by 3 business days (5 days)"."""
        return late_words(self.business_minutes, self.wall.total_seconds(), self.day_minutes).text

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall.total_seconds(), 1),
            "business_minutes": round(self.business_minutes, 2),
            "label": self.label,
        }


def late_by(*, due_at: dt.datetime, until: dt.datetime, calendar: sla.Calendar) -> LateBy | None:
    """How far `until` is past `due_at`; None when it is not past."""
    if until <= due_at:
        return None
    return LateBy(
        wall=until - due_at,
        business_minutes=sla.business_minutes_between(due_at, until, calendar),
        day_minutes=working_day_minutes(calendar),
    )


def accept_late_until(
    *,
    status: str,
    paused_at: dt.datetime | None,
    answered_at: dt.datetime | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """Up to when the accept-or-return answer's lateness runs: `now` while pending, the pause
    while waiting for marketing (it stopped growing then), else the answer (`answered_at`: the
    response, the accept or the close)."""
    if status == PENDING:
        return now
    if status == WAITING:
        return paused_at or now
    return answered_at


def first_touch_late_until(
    *, status: str, touched_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """Up to when the first touch's lateness runs: the touch, or `now` while accepted without one."""
    if touched_at is not None:
        return touched_at
    return now if status == ACCEPTED else None

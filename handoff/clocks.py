"""The words of an SLA clock: time left and lateness, read in business days of the handoff's
calendar, with the wall time beside. Pure functions (no Django); every page, the API's
`clock.label`, the emails and the admin read their words from here.

A business day is one working day of the calendar: a calendar open 09:00-17:00 has business
days of 8 hours, a round-the-clock one of 24. Under one business day the words are business
hours and minutes ("3h 20m left", "late by 12m"); from one business day on they are days
("late by 33 business days"). The wall time goes beside whenever it says something the business
time does not ("late by 33 business days (7 weeks)", "late by 2h 00m (16 hours)"): a handoff
due on Friday evening and still pending on Monday morning is late by little business time but
by a whole weekend of wall time, and both are true.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from handoff import sla

# Below this much business time late the clock reads "overdue" rather than "late by 0m".
_OVERDUE_MINUTES = 1.0


def working_day_minutes(calendar: sla.Calendar) -> float:
    """The length of the calendar's working day in minutes: the most common length among its
    working weekdays (a Monday-to-Friday 09:00-17:00 calendar: 480); 1440 when it has none."""
    lengths = [sum(end - start for start, end in windows) for windows in calendar.weekly if windows]
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

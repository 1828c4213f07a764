"""Time as the product writes it: instants for machines, midnights for date filters, durations
for people.

- `iso()`: an instant as ISO 8601 (None stays None), as the API, webhooks and tokens carry it;
- `day_start()`: the aware midnight starting a local date, the lower bound of a date filter
  (`created_at >= day_start(date_from)`, `< day_start(date_to + 1 day)`);
- `minutes_label()` and `duration_label()`: a duration in minutes as people read it.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def iso(moment: dt.datetime | None) -> str | None:
    """The instant in ISO 8601 with its offset; None when there is none."""
    return moment.isoformat() if moment is not None else None


def day_start(day: dt.date) -> dt.datetime:
    """Midnight starting `day` in the site's time zone (aware; a DST day has 23 or 25 hours)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def minutes_label(minutes: float | None, *, business: bool = False) -> str:
    """ "45m", "3h 05m", "2d 4h" for a duration in wall minutes; "-" when unknown. Business
    minutes never make "days" of 24 hours (a business day is a calendar's working day, and
    these figures mix calendars): "52h 10m"."""
    if minutes is None:
        return "-"
    total = round(minutes)
    hours, mins = divmod(total, 60)
    if hours >= 48 and not business:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def duration_label(minutes: float | None) -> str:
    """ "40 s", "12m", "3h 05m"; "-" when unknown: minutes_label, with seconds under a minute
    (speed to lead, where seconds matter)."""
    if minutes is None:
        return "-"
    if minutes < 1:
        return f"{round(minutes * 60)} s"
    return minutes_label(minutes)

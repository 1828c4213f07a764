"""Business calendars as sla.Calendar, cached per calendar and its last change: the calendar a
handoff's clocks run on, and the round-the-clock calendar used when its calendar was deleted."""

from __future__ import annotations

import datetime as dt
import threading

from handoff import sla
from handoff.models import BusinessCalendar, CalendarDate, Handoff

DEFAULT_EXTRA_DAY = (dt.time(9, 0), dt.time(17, 0))
_CACHE_SIZE = 256
_calendar_cache: dict[tuple[int, dt.datetime | None], sla.Calendar] = {}
_calendar_lock = threading.Lock()


def calendar_for(business_calendar: BusinessCalendar) -> sla.Calendar:
    """The sla.Calendar of a BusinessCalendar, cached per id and updated_at.

    A cached calendar also keeps the business-time blocks it has computed, which is what makes
    the next deadline on it cheap. Editing a calendar in the admin saves it, which moves
    updated_at and so retires the cached copy; code that edits windows or special dates
    directly must save the calendar too (services and the demo do).
    """
    key = (business_calendar.pk, business_calendar.updated_at)
    cached = _calendar_cache.get(key)
    if cached is not None:
        return cached
    windows = [(w.weekday, w.start, w.end) for w in business_calendar.windows.all()]
    closed: list[dt.date] = []
    extra: dict[dt.date, list[tuple[dt.time, dt.time]]] = {}
    for special in business_calendar.special_dates.all():
        if special.kind == CalendarDate.Kind.CLOSED:
            closed.append(special.date)
        else:
            extra[special.date] = [
                (special.start or DEFAULT_EXTRA_DAY[0], special.end or DEFAULT_EXTRA_DAY[1])
            ]
    built = sla.build_calendar(
        tz=business_calendar.timezone,
        windows=windows,
        holiday_country=business_calendar.holiday_country,
        holiday_subdivision=business_calendar.holiday_subdivision,
        closed_dates=closed,
        extra_dates=extra,
    )
    with _calendar_lock:
        if len(_calendar_cache) >= _CACHE_SIZE:
            _calendar_cache.clear()
        _calendar_cache[key] = built
    return built


# Used when a handoff's calendar was deleted: the clock then runs around the clock, in UTC.
ALWAYS_OPEN = sla.build_calendar(tz="UTC", windows=[(d, dt.time(0), dt.time(0)) for d in range(7)])


def handoff_calendar(handoff: Handoff) -> sla.Calendar:
    """The calendar a handoff's clocks run on (the one chosen at promotion)."""
    if handoff.calendar is not None:
        return calendar_for(handoff.calendar)
    if handoff.team is not None:
        return calendar_for(handoff.team.calendar)
    return ALWAYS_OPEN


def calendar_by_id(pk: int | None, updated_at: dt.datetime | None) -> sla.Calendar:
    """The sla.Calendar of a BusinessCalendar known by id and updated_at (a list row's columns):
    from the cache of calendar_for, else read once (None: the round-the-clock calendar)."""
    if pk is None:
        return ALWAYS_OPEN
    cached = _calendar_cache.get((pk, updated_at))
    if cached is not None:
        return cached
    found = BusinessCalendar.objects.filter(pk=pk).first()
    return calendar_for(found) if found is not None else ALWAYS_OPEN

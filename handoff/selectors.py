"""Reads of the handoff app: calendars as sla.Calendar, who sees which handoff, list and detail
querysets with their joins, and the SLA clock of a handoff (time left / late by)."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.utils import timezone

from handoff import sla
from handoff.models import BusinessCalendar, CalendarDate, Handoff, HandoffEvent
from handoff.states import OPEN_STATUSES, Status
from leads.models import Lead
from leads.roles import is_manager, is_marketer, is_rep

# --- calendars --------------------------------------------------------------------------------

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


# --- visibility -------------------------------------------------------------------------------


def handoffs_visible_to(user: Any) -> QuerySet[Handoff]:
    """Handoffs a user may see. Managers: all. Marketers: all, read-only (they act only on the
    handoffs they promoted, to answer a rep's question). Reps: only those assigned to them.
    Anyone else: none. Acting on a handoff is further checked by each service."""
    qs = Handoff.objects.all()
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if is_manager(user) or is_marketer(user):
        return qs
    if is_rep(user):
        return qs.filter(assigned_to=user)
    return qs.none()


def handoffs_matching(handoffs: QuerySet[Handoff], *, words: list[str]) -> QuerySet[Handoff]:
    """The handoffs whose lead's `search_text` holds every word (trigram-indexed on
    PostgreSQL); a search of one number also finds the handoff with that number.

    Written as `lead_id IN (the leads matching every word)`, so that PostgreSQL finds the leads
    in the index first; an OR per word across the join (the admin's default, with
    `UPPER(id::text)` for `=id`) joined every handoff to its lead before filtering: 1.1 s for a
    two-word search at 100,000 handoffs. The number is a UNION rather than an OR, which would
    scan every handoff."""
    if not words:
        return handoffs
    leads = Lead.objects.all()
    for word in words:
        leads = leads.filter(search_text__icontains=word)
    number = words[0].removeprefix("#")
    if len(words) == 1 and number.isdigit() and len(number) < 19:
        by_lead = Handoff.objects.filter(lead_id__in=leads.values("pk")).order_by().values("pk")
        by_number = Handoff.objects.filter(pk=int(number)).order_by().values("pk")
        return handoffs.filter(pk__in=by_lead.union(by_number))
    return handoffs.filter(lead_id__in=leads.values("pk"))


def handoff_list(*, user: Any) -> QuerySet[Handoff]:
    """The list queryset: every related row a list row shows, joined, so the number of queries
    does not grow with the page size."""
    return handoffs_visible_to(user).select_related(
        "lead", "assigned_to", "promoted_by", "team", "policy", "calendar", "team__calendar"
    )


EVENTS = Prefetch("events", queryset=HandoffEvent.objects.select_related("actor").order_by("id"))


def handoff_detail_queryset(*, user: Any) -> QuerySet[Handoff]:
    return handoff_list(user=user).prefetch_related(EVENTS)


def handoff_get_visible(*, user: Any, pk: int) -> Handoff | None:
    return handoff_detail_queryset(user=user).filter(pk=pk).first()


# What an API list row shows (handoff.serializers.HandoffListSerializer) and its clock needs:
# the rep's queue is the busiest read, and a page of 50 rows with every column of 7 joined
# tables (snapshot JSON included) cost more to build than to render.
LIST_ROW_FIELDS = (
    "id", "lead_id", "status", "attempt", "assigned_to_id", "promoted_by_id", "team_id",
    "policy_id", "policy_snapshot", "calendar_id", "created_at", "due_at", "at_risk_at",
    "at_risk_flagged_at", "breached_at", "responded_at", "accepted_at", "accepted_late",
    "paused_at", "remaining_business_minutes", "first_touch_due_at", "first_touch_at",
    "first_touch_breached_at", "closed_at", "auto_promotion", "signal_at",
    "lead__email", "lead__first_name", "lead__last_name", "lead__company", "lead__stage",
    "lead__score",
    "assigned_to__username", "assigned_to__first_name", "assigned_to__last_name",
    "promoted_by__username", "promoted_by__first_name", "promoted_by__last_name",
    "team__name", "team__calendar_id",
    "calendar__timezone", "calendar__holiday_country", "calendar__holiday_subdivision",
    "calendar__updated_at",
    "team__calendar__timezone", "team__calendar__holiday_country",
    "team__calendar__holiday_subdivision", "team__calendar__updated_at",
)  # fmt: skip


def handoff_list_rows(*, user: Any) -> QuerySet[Handoff]:
    """The API list: the rows a user may see, with only the columns a list row shows."""
    return (
        handoffs_visible_to(user)
        .select_related("lead", "assigned_to", "promoted_by", "team", "calendar", "team__calendar")
        .only(*LIST_ROW_FIELDS)
    )


def handoff_for_action(*, user: Any, pk: int) -> Handoff | None:
    """A handoff the user may see, to act on: with what the services and the answer read (its
    calendar, team, people and lead), by primary key (no list ordering to apply)."""
    rows = (
        handoffs_visible_to(user)
        .select_related("lead", "assigned_to", "promoted_by", "team", "calendar")
        .filter(pk=pk)
        .order_by()[:1]  # first() would order by pk: compiling that costs more than the query
    )
    return next(iter(rows), None)


def handoff_with_fresh_events(handoff: Handoff) -> Handoff:
    """The handoff with its events (the detail's `events`, in order) read again: one query."""
    cache = getattr(handoff, "_prefetched_objects_cache", None)
    if cache:
        cache.pop("events", None)
    prefetch_related_objects([handoff], EVENTS)
    return handoff


def open_handoff_of(lead_id: int) -> Handoff | None:
    return Handoff.objects.filter(lead_id=lead_id, status__in=OPEN_STATUSES).order_by("-id").first()


def manager_queue() -> QuerySet[Handoff]:
    """Pending handoffs nobody could take: they wait for a manager to assign them."""
    return Handoff.objects.filter(status=Status.PENDING, assigned_to__isnull=True).select_related(
        "lead", "team"
    )


# --- clocks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One SLA clock of a handoff at `now`.

    state: "running" (counting down or overdue), "paused" (waiting for marketing), "met"
    (answered in time), "missed" (answered late), or "none". Minutes left are negative when late.
    """

    state: str
    due_at: dt.datetime | None
    wall_seconds_left: float | None
    business_minutes_left: float | None

    @property
    def late(self) -> bool:
        """Past the deadline (wall time: a deadline at 17:30 on Friday is late on Saturday)."""
        return self.wall_seconds_left is not None and self.wall_seconds_left < 0

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
    return Clock("running", due_at, round(wall, 1), round(business, 2))


def accept_clock(handoff: Handoff, *, now: dt.datetime | None = None) -> Clock:
    """The accept-or-return clock: time left (or late by), in business minutes and wall time."""
    now = now or timezone.now()
    if handoff.status == Status.PENDING and handoff.due_at is not None:
        return _running(handoff.due_at, now, handoff_calendar(handoff))
    if handoff.status == Status.WAITING:
        return Clock("paused", None, None, handoff.remaining_business_minutes)
    if handoff.responded_at is not None and handoff.due_at is not None:
        state = "missed" if handoff.responded_at > handoff.due_at else "met"
        return Clock(state, handoff.due_at, None, None)
    return Clock("none", handoff.due_at, None, None)


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


def _span(minutes: float) -> str:
    minutes = abs(minutes)
    hours, mins = divmod(round(minutes), 60)
    if hours >= 24 * 3:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def clock_label(clock: Clock) -> str:
    """ "1h 05m left", "late by 12m" (business time), "paused, 40m left", "met", "missed"."""
    if clock.state == "running" and clock.business_minutes_left is not None:
        if clock.late:
            late_by = abs(clock.business_minutes_left)
            return f"late by {_span(late_by)}" if late_by >= 1 else "overdue"
        return f"{_span(clock.business_minutes_left)} left"
    if clock.state == "paused":
        return f"paused, {_span(clock.business_minutes_left or 0)} left"
    if clock.state in ("met", "missed"):
        return "answered in time" if clock.state == "met" else "answered late"
    return ""

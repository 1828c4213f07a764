"""Reads of the handoff app: calendars as sla.Calendar, who sees which handoff, list and detail
querysets with their joins, the SLA clock of a handoff (time left / late by), who may act on a
handoff, and whether a lead can be promoted and what a promotion would do (the preview)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.utils import timezone

from core.errors import Conflict, DomainError, RuleViolation
from core.roles import is_manager, is_marketer, is_rep
from handoff import clocks, sla
from handoff.models import BusinessCalendar, CalendarDate, Handoff, HandoffEvent, Team
from handoff.states import OPEN_STATUSES, HandoffConflict, Status
from leads.models import PROMOTABLE_STAGES, Account, Lead, Stage

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


# A list row as values (handoff.serializers.list_row_of_values): the queue read builds its 50
# rows from tuples, without 7 model instances per row.
LIST_ROW_VALUES = tuple(
    name for name in LIST_ROW_FIELDS if not name.endswith(("holiday_country", "holiday_subdivision", "__timezone"))
)  # fmt: skip


def _action_queryset(user: Any, pk: int, with_lead_owner: bool) -> QuerySet[Handoff]:
    related = ["lead", "assigned_to", "promoted_by", "team", "calendar"]
    if with_lead_owner:
        related.append("lead__owner")
    # order_by(): first() would order by pk, and there is nothing to order.
    return handoffs_visible_to(user).select_related(*related).filter(pk=pk).order_by()[:1]


@dataclass(frozen=True)
class _CompiledAction:
    """The SQL of handoff_for_action for one visibility (everyone, own, nobody), compiled once
    per process: building it through the ORM (a 6-table join of ~126 columns) cost more than
    running it. `slots` say which parameter is the user's id and which the handoff's."""

    sql: str
    slots: tuple[str, ...]
    compiler: Any
    converters: dict[int, Any]
    names: list[str]
    span: tuple[int, int]
    populators: list[Any]


_compiled_actions: dict[tuple[str, bool], _CompiledAction] = {}
_USER_MARK, _PK_MARK = -7_000_001, -7_000_002


def _visibility(user: Any) -> str:
    if not getattr(user, "is_authenticated", False):
        return "none"
    if is_manager(user) or is_marketer(user):
        return "all"
    return "own" if is_rep(user) else "none"


def _compiled_action(visibility: str, with_lead_owner: bool) -> _CompiledAction | None:
    key = (visibility, with_lead_owner)
    found = _compiled_actions.get(key)
    if found is not None:
        return found
    from types import SimpleNamespace

    stand_in = SimpleNamespace(pk=_USER_MARK, is_authenticated=True)
    if visibility == "all":
        queryset = Handoff.objects.all()
    else:
        queryset = Handoff.objects.filter(assigned_to_id=stand_in.pk)
    related = ["lead", "assigned_to", "promoted_by", "team", "calendar"]
    if with_lead_owner:
        related.append("lead__owner")
    queryset = queryset.select_related(*related).filter(pk=_PK_MARK).order_by()[:1]
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    slots = []
    for value in params:
        if value == _USER_MARK:
            slots.append("user")
        elif value == _PK_MARK:
            slots.append("pk")
        else:
            return None  # a constant the cache does not know how to bind: take the ORM way
    from django.db.models.query import get_related_populators

    select, klass_info = compiler.select, compiler.klass_info
    fields = klass_info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    compiled = _CompiledAction(
        sql=sql,
        slots=tuple(slots),
        compiler=compiler,
        converters=compiler.get_converters([column[0] for column in select]),
        names=[column[0].target.attname for column in select[start:end]],
        span=(start, end),
        populators=get_related_populators(klass_info, select, compiler.using),  # type: ignore[call-arg]
    )
    _compiled_actions[key] = compiled
    return compiled


_MAX_ID = 2**63 - 1  # BigAutoField


def handoff_for_action(*, user: Any, pk: int, with_lead_owner: bool = False) -> Handoff | None:
    """A handoff the user may see, to act on: with what the services and the answer read (its
    calendar, team, people and lead; `with_lead_owner`: the lead's owner too, whom a return
    notifies), by primary key. The same query as the ORM's, compiled once per process
    (_CompiledAction) and its row turned into the same instances (a test holds it equal)."""
    from django.db import connections

    visibility = _visibility(user)
    if visibility == "none" or not 0 < int(pk) <= _MAX_ID:
        return None  # an id past the column's range names no handoff (as the ORM's lookup)
    compiled = _compiled_action(visibility, with_lead_owner)
    if compiled is None:
        return next(iter(_action_queryset(user, pk, with_lead_owner)), None)
    compiler = compiled.compiler
    db = compiler.using
    connection = connections[db]
    params = [user.pk if slot == "user" else int(pk) for slot in compiled.slots]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for position, (functions, expression) in compiled.converters.items():
        for function in functions:
            values[position] = function(values[position], expression, connection)
    start, end = compiled.span
    handoff = Handoff.from_db(db, compiled.names, values[start:end])
    for populator in compiled.populators:
        populator.populate(values, handoff)
    return handoff


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


# --- the chain of attempts -------------------------------------------------------------------


def _person(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "username": str(user.get_username()),
        "full_name": str(user.get_full_name() or user.get_username()),
    }


DEFAULT_REASSIGN_REASON = "reassigned by a manager"  # handoff.services.handoff_reassign's
_MAX_CHAIN = 50  # attempts followed back; a chain is at most max_reassignments + 1 long


def _ending(events: list[HandoffEvent]) -> dict[str, Any] | None:
    """How an attempt ended, from its own events: reassigned by a manager (with the reason they
    typed) or automatically on breach, returned, accepted, or escalated to the manager."""
    for event in reversed(events):
        if event.kind == HandoffEvent.Kind.TRANSITION and event.to_status == Status.REASSIGNED:
            automatic = bool((event.payload or {}).get("automatic"))
            return {
                "how": "automatic_reassign" if automatic else "manager_reassign",
                "at": event.at,
                "by": _person(event.actor),
                # The service's default when the manager typed nothing is not a reason.
                "reason": ""
                if automatic or event.reason == DEFAULT_REASSIGN_REASON
                else event.reason,
            }
    return None


def attempt_chain(handoff: Handoff) -> dict[str, Any]:
    """The whole story of a handoff's attempts, as every attempt tells it: the original
    promotion (who, when), each earlier attempt with its rep and how it ended (breach, a
    manager's reassignment with the reason typed, an automatic reassignment, an escalation), and
    when this attempt began. Three queries (the lead's handoffs, the chain's events, the reps
    each attempt began with); none for a first attempt whose events and people are at hand
    (the answer to an accept or a return)."""
    quick = _first_attempt_chain(handoff)
    if quick is not None:
        return quick
    rows = {
        h.pk: h
        for h in Handoff.objects.filter(lead_id=handoff.lead_id, pk__lte=handoff.pk)
        .select_related("assigned_to", "promoted_by")
        .only(
            "id", "attempt", "previous_id", "created_at", "closed_at", "breached_at", "status",
            "routing", "assigned_to__username", "assigned_to__first_name", "assigned_to__last_name",
            "promoted_by__username", "promoted_by__first_name", "promoted_by__last_name",
        )
    }  # fmt: skip
    rows[handoff.pk] = rows.get(handoff.pk, handoff)
    chain: list[Handoff] = []
    current: Handoff | None = rows[handoff.pk]
    while current is not None and len(chain) < _MAX_CHAIN:
        chain.append(current)
        current = rows.get(current.previous_id) if current.previous_id else None
    chain.reverse()
    ids = [h.pk for h in chain]
    events: dict[int, list[HandoffEvent]] = {pk: [] for pk in ids}
    for event in (
        HandoffEvent.objects.filter(
            handoff_id__in=ids,
            kind__in=[
                HandoffEvent.Kind.TRANSITION,
                HandoffEvent.Kind.BREACHED,
                HandoffEvent.Kind.ESCALATED,
            ],
        )
        .select_related("actor")
        .order_by("at", "id")
    ):
        events[event.handoff_id].append(event)
    # Who each attempt began with is what routing recorded: an escalation since has cleared
    # `assigned_to` (the attempt now waits in the manager's queue), not who it began with.
    began_with = {h.pk: ((h.routing or {}).get("rep") or {}).get("id") for h in chain}
    people = {
        u.pk: u
        for u in get_user_model()
        .objects.filter(pk__in=[pk for pk in began_with.values() if pk])
        .only("id", "username", "first_name", "last_name")
    }
    return _chain_answer(handoff, chain, events, began_with, people)


_CHAIN_EVENT_KINDS = (HandoffEvent.Kind.TRANSITION, HandoffEvent.Kind.BREACHED, HandoffEvent.Kind.ESCALATED)  # fmt: skip


def _first_attempt_chain(handoff: Handoff) -> dict[str, Any] | None:
    """attempt_chain of a first attempt from what the handoff holds (its prefetched events, its
    rep and promoter), or None when something would have to be read."""
    if handoff.previous_id is not None:
        return None
    prefetched = getattr(handoff, "_prefetched_objects_cache", {}).get("events")
    loaded = handoff._state.fields_cache
    if prefetched is None or "promoted_by" not in loaded or "assigned_to" not in loaded:
        return None
    began = ((handoff.routing or {}).get("rep") or {}).get("id")
    if began and began != handoff.assigned_to_id:
        return None  # began with someone else (escalated since): read them the long way
    events = sorted(
        (e for e in prefetched if e.kind in _CHAIN_EVENT_KINDS), key=lambda e: (e.at, e.pk)
    )
    people = {began: handoff.assigned_to} if began else {}
    return _chain_answer(handoff, [handoff], {handoff.pk: events}, {handoff.pk: began}, people)


def _chain_answer(
    handoff: Handoff,
    chain: list[Handoff],
    events: dict[int, list[HandoffEvent]],
    began_with: dict[int, Any],
    people: dict[int, Any],
) -> dict[str, Any]:
    first = chain[0]
    attempts = []
    for h in chain:
        escalation = next((e for e in events[h.pk] if e.kind == HandoffEvent.Kind.ESCALATED), None)
        attempts.append(
            {
                "id": h.pk,
                "attempt": h.attempt,
                "rep": _person(people.get(began_with[h.pk] or 0) or h.assigned_to),
                "began_at": h.created_at,
                "breached_at": h.breached_at,
                "escalated": escalation_reason(escalation) if escalation is not None else None,
                "ended": _ending(events[h.pk]),
                "current": h.pk == handoff.pk,
            }
        )
    return {
        "promoted_at": first.created_at,
        "promoted_by": _person(first.promoted_by),
        "attempts": attempts,
        "this_attempt_began_at": handoff.created_at,
    }


def reassignment_endings(handoff_ids: list[int]) -> dict[int, dict[str, Any]]:
    """How each reassigned handoff ended (by whom, the reason typed, or automatically), for a
    list of handoffs: one query."""
    events: dict[int, list[HandoffEvent]] = {}
    for event in (
        HandoffEvent.objects.filter(
            handoff_id__in=handoff_ids,
            kind=HandoffEvent.Kind.TRANSITION,
            to_status=Status.REASSIGNED,
        )
        .select_related("actor")
        .order_by("id")
    ):
        events.setdefault(event.handoff_id, []).append(event)
    endings = {}
    for pk, found in events.items():
        ending = _ending(found)
        if ending is not None:
            endings[pk] = ending
    return endings


# --- why a handoff waits in the manager's queue ----------------------------------------------


def escalation_reason(event: HandoffEvent) -> str:
    """The escalation event in words (the sweep records why and after how many reassignments)."""
    payload = event.payload or {}
    if event.reason == "max_reassignments":
        done = payload.get("reassignments", 0)
        limit = payload.get("max_reassignments", 0)
        return (
            f"SLA breached after {done} reassignment{'' if done == 1 else 's'} "
            f"(the policy allows {limit}): escalated to the manager"
        )
    if event.reason == "reassign_failed":
        return "SLA breached and no other rep could take it over: escalated to the manager"
    return f"escalated to the manager ({event.reason or 'no reason recorded'})"


def unassigned_reasons(handoffs: list[Handoff]) -> dict[int, list[str]]:
    """Why each handoff has no rep, from what was recorded when it lost (or never had) one: the
    latest escalation event, else the routing record (who was skipped and why, or a team with
    nobody in its rotation, or a manager's choice). One query for the page's escalations."""
    ids = [h.pk for h in handoffs]
    escalations: dict[int, HandoffEvent] = {}
    for escalation in HandoffEvent.objects.filter(
        handoff_id__in=ids, kind=HandoffEvent.Kind.ESCALATED
    ).order_by("id"):
        escalations[escalation.handoff_id] = escalation
    reasons: dict[int, list[str]] = {}
    for h in handoffs:
        routing = h.routing or {}
        found = escalations.get(h.pk)
        if found is not None:
            reasons[h.pk] = [escalation_reason(found)]
            continue
        skipped = routing.get("skipped") or []
        if skipped:
            reasons[h.pk] = [f"{s['username']}: {s['detail']}" for s in skipped]
        elif routing.get("team") is None:
            reasons[h.pk] = ["no team matched the lead"]
        elif routing.get("rotation") is not None and not (routing["rotation"] or {}).get("cycle"):
            reasons[h.pk] = ["the team had nobody in its rotation at the time"]
        else:
            reasons[h.pk] = ["no reason was recorded"]
    return reasons


# --- clocks -----------------------------------------------------------------------------------


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
    calendar: Any,
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


# --- who may act on a handoff ---------------------------------------------------------------------
# The services' permission rules, read here so the pages offer exactly the actions the services
# accept.


def can_work_on(handoff: Handoff, actor: Any) -> bool:
    """Reps act on the handoffs assigned to them; managers on any."""
    if actor is None:
        return False
    if is_manager(actor):
        return True
    return is_rep(actor) and handoff.assigned_to_id == actor.pk


def can_answer(handoff: Handoff, actor: Any) -> bool:
    """Who answers a rep's question: the marketer who promoted the lead, the lead's owner, or a
    manager."""
    if actor is None:
        return False
    if is_manager(actor):
        return True
    return is_marketer(actor) and actor.pk in (handoff.promoted_by_id, handoff.lead.owner_id)


# --- whether a lead can be promoted, and what a promotion would do --------------------------------


def user_ref(user: Any) -> dict[str, Any] | None:
    return {"id": user.pk, "username": user.get_username()} if user is not None else None


def last_return_at(lead: Lead, history: Iterable[Handoff]) -> dt.datetime | None:
    """When the lead was last sent back to nurture (a return, or a manual recycle)."""
    moments = [h.returned_at for h in history if h.returned_at is not None]
    if lead.recycled_at is not None:
        moments.append(lead.recycled_at)
    return max(moments, default=None)


def stage_block(
    lead: Lead, now: dt.datetime, last_return_at: dt.datetime | None
) -> DomainError | None:
    if lead.erased_at is not None:
        return RuleViolation("The lead's personal data was erased.", code="lead_erased")
    if lead.stage == Stage.DISQUALIFIED:
        return RuleViolation(
            "The lead is disqualified; a sales manager must reopen it before it is promoted again.",
            code="lead_disqualified",
        )
    if lead.stage == Stage.RECYCLED:
        new_intent = (
            lead.last_high_intent_at is not None
            and last_return_at is not None
            and lead.last_high_intent_at > last_return_at
        )
        if lead.recycle_until is not None and now < lead.recycle_until and not new_intent:
            return RuleViolation(
                "The lead was returned to nurture and cools down until "
                f"{lead.recycle_until:%Y-%m-%d %H:%M} UTC; a new high-intent event (demo "
                "request, pricing, trial, contact form) lifts the cooldown.",
                code="lead_in_cooldown",
            )
        return None
    if lead.stage not in PROMOTABLE_STAGES:
        return Conflict(
            f"The lead is already with sales (stage {Stage(lead.stage).label}).",
            code="lead_with_sales",
        )
    return None


def history_block(lead: Lead, now: dt.datetime, history: list[Handoff]) -> DomainError | None:
    """The guard refusing a promotion, given the lead's handoffs (lead_history)."""
    blocked = stage_block(lead, now, last_return_at(lead, history))
    if blocked is not None:
        return blocked
    open_handoffs = [h for h in history if h.status in OPEN_STATUSES]
    if open_handoffs:
        current = open_handoffs[-1]
        return HandoffConflict(
            f"The lead already has an open handoff (#{current.pk}, "
            f"{Status(current.status).label.lower()}).",
            code="open_handoff_exists",
        )
    return None


def lead_history(lead: Lead) -> list[Handoff]:
    return list(
        Handoff.objects.filter(lead_id=lead.pk).select_related("assigned_to").order_by("id")
    )


def promotion_block(*, lead: Lead, now: dt.datetime) -> DomainError | None:
    """The guard that refuses promoting the lead now (with its code), or None. One query."""
    return history_block(lead, now, lead_history(lead))


def lead_promotion_block(*, lead: Lead, now: dt.datetime) -> str | None:
    """Why the lead cannot be promoted now, or None when it can. One query."""
    blocked = history_block(lead, now, lead_history(lead))
    return blocked.message if blocked is not None else None


def account_preview(lead: Lead) -> dict[str, Any] | None:
    """The lead's account as the preview tells it: its owner, and its open handoffs (another
    colleague of this lead may already be with sales)."""
    if lead.account_id is None:
        return None
    account = Account.objects.select_related("owner").filter(pk=lead.account_id).first()
    if account is None:
        return None
    open_handoffs = (
        Handoff.objects.filter(lead__account_id=account.pk, status__in=OPEN_STATUSES)
        .exclude(lead_id=lead.pk)
        .select_related("assigned_to")
        .order_by("created_at", "id")[:10]
    )
    return {
        "id": account.pk,
        "name": account.name or account.domain,
        "domain": account.domain,
        "owner_id": account.owner_id,
        "owner": user_ref(account.owner),
        "open_handoffs": [
            {"id": h.pk, "lead_id": h.lead_id, "assigned_to": user_ref(h.assigned_to)}
            for h in open_handoffs
        ],
    }


def promotion_preview(
    *, lead: Lead, team: Team | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What a promotion would do now: team, rep, policy, deadline. Writes nothing."""
    # handoff.assignment reads its calendars from this module: imported here, not at the top.
    from handoff.assignment import match_policy, match_team, pick_rep

    now = now or timezone.now()
    history = lead_history(lead)
    blocked = history_block(lead, now, history)
    preview: dict[str, Any] = {
        "eligible": blocked is None,
        "block": {"code": blocked.code, "detail": blocked.message} if blocked else None,
        "team": None,
        "rule": "",
        "policy": None,
        "rep": None,
        "skipped": [],
        "queue": None,
        "due_at": None,
        "at_risk_at": None,
        "calendar": None,
        "account": account_preview(lead),
        "account_owner": None,
    }
    try:
        chosen_team, match = match_team(lead=lead, team=team)
        preview["team"] = {"id": chosen_team.pk, "name": chosen_team.name}
        preview["rule"] = match["rule"]
        policy = match_policy(lead=lead, team=chosen_team, now=now)
    except RuleViolation as exc:
        preview["eligible"] = False
        preview["block"] = preview["block"] or {"code": exc.code, "detail": exc.message}
        return preview
    calendar_row = policy.calendar or chosen_team.calendar
    due_at, at_risk_at = sla.deadlines(
        now, policy.accept_within_minutes, policy.at_risk_ratio, calendar_for(calendar_row)
    )
    choice = pick_rep(
        team=chosen_team,
        now=now,
        skip_off_hours=policy.skip_reps_off_hours,
        lock=False,
        account_owner_id=(preview["account"] or {}).get("owner_id"),
    )
    preview.update(
        {
            "policy": {
                "id": policy.pk,
                "name": policy.name,
                "version": policy.version,
                "accept_within_minutes": policy.accept_within_minutes,
                "first_touch_within_minutes": policy.first_touch_within_minutes,
            },
            "rep": user_ref(choice.rep),
            "skipped": choice.skipped,
            "account_owner": choice.account_owner,
            "queue": "rep" if choice.rep else "manager",
            "due_at": due_at,
            "at_risk_at": at_risk_at,
            "calendar": {
                "id": calendar_row.pk,
                "name": calendar_row.name,
                "timezone": calendar_row.timezone,
            },
        }
    )
    return preview

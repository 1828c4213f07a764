"""The SLA figures' reads from the dashboard's daily rollup (handoff.rollup): the promotion
cohort, the attempts per team and rep, and the SLA outcomes of a range, each one grouped read of
a few rows per day instead of a scan of the range's handoffs. Same shapes as the raw reads in
cohort.py and outcomes.py (which define the figures and which the rollup tests compare with).

A range reads the week rows of its full ISO weeks and the day rows of the days at its edges
(`covering`): 52 weeks are about 52 rows per team, source and path, not 364."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import Case, IntegerField, Q, Sum, Value, When

from handoff.metrics.filters import SlaFilters, local_today, week_start
from handoff.metrics.outcomes import OutcomeRow, Outcomes, unflagged_rows
from handoff.models.dashboard import DashboardDay
from handoff.rollup import WEEKLY_OFFSET, ensure_fresh

PROMOTION_COUNTS = ("mql", "sal", "sql", "returned", "open")
ATTEMPT_COUNTS = ("attempts", "attempts_accepted", "returned")


def full_weeks(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The Mondays of the first and last full ISO weeks inside start..end (first > last: none)."""
    first = week_start(start) + dt.timedelta(days=7 if start.weekday() else 0)
    last = week_start(end) - dt.timedelta(days=0 if end.weekday() == 6 else 7)
    return first, last


def covering(part: int, start: dt.date, end: dt.date) -> Q:
    """The rows of `part` that count the days start..end (both inclusive) once each: the week
    rows of the full ISO weeks inside the range, the day rows of the days outside them."""
    day = Q(part=part)
    first, last = full_weeks(start, end)
    if first > last:  # no full week inside
        return day & Q(day__gte=start, day__lte=end)
    return (
        (day & Q(day__gte=start, day__lt=first))
        | Q(part=part + WEEKLY_OFFSET, day__gte=first, day__lte=last)
        | (day & Q(day__gt=last + dt.timedelta(days=6), day__lte=end))
    )


def _days(zone: str, filters: SlaFilters) -> Any:
    qs = DashboardDay.objects.filter(zone=zone)
    if filters.team is not None:
        qs = qs.filter(team_id=filters.team)
    return qs


def promotion_rows(filters: SlaFilters, *, zone: str | None = None) -> list[dict[str, Any]]:
    """Handoffs promoted in the range per (source, team, path): the funnel's counts. One query
    (plus the refresh when no zone is given)."""
    zone = zone or ensure_fresh()
    rows = (
        _days(zone, filters)
        .filter(covering(DashboardDay.Part.PROMOTIONS, filters.start, filters.end))
        .values("source", "team_id", "pql")
        .annotate(**{name: Sum(name) for name in PROMOTION_COUNTS})
        .order_by()
    )
    return [
        {"lead_source": row["source"], "team_id": row["team_id"], "pql": row["pql"],
         **{name: int(row[name] or 0) for name in PROMOTION_COUNTS}}
        for row in rows
    ]  # fmt: skip


def attempt_rows(filters: SlaFilters, *, zone: str | None = None) -> list[dict[str, Any]]:
    """Attempts promoted in the range per (team, rep): attempts, accepted, returned. One query
    (rep_rows; sla_metrics reads the outcomes in the same one)."""
    return rep_rows(filters, now=None, zone=zone)[0]


def outcome_rows(filters: SlaFilters, *, now: dt.datetime, zone: str | None = None) -> Outcomes:
    """SLA outcomes dated in the range or this ISO week, per (week, in range?, team, rep): one
    grouped query over the rollup, plus the not-yet-flagged breaches (outcomes.unflagged_rows)."""
    return rep_rows(filters, now=now, zone=zone)[1]


def rep_rows(
    filters: SlaFilters, *, now: dt.datetime | None, zone: str | None = None
) -> tuple[list[dict[str, Any]], Outcomes]:
    """The attempts per (team, rep) promoted in the range, and the SLA outcomes (as
    outcome_rows), from one grouped read of the REPS rows per (week, in range?, team, rep), plus
    the unflagged breaches' query when `now` is given (none: no outcomes)."""
    zone = zone or ensure_fresh()
    in_range = covering(DashboardDay.Part.REPS, filters.start, filters.end)
    where = in_range
    monday = today = None
    if now is not None:
        today = local_today(now)
        monday = week_start(today)
        first, last = full_weeks(filters.start, filters.end)
        if not first <= monday <= last:  # else a week row of the range counts this week
            where |= Q(part=DashboardDay.Part.REPS, day__gte=monday, day__lte=today)
    # Grouped by row date (a week row is dated on its Monday), not by a truncated week: plain
    # tuples, the week worked out here.
    grouped = (
        _days(zone, filters)
        .filter(where)
        .filter(Q(due__gt=0) | Q(attempts__gt=0))
        .annotate(
            in_range=Case(
                When(in_range, then=Value(1)), default=Value(0), output_field=IntegerField()
            ),
        )
        .values("day", "in_range", "team_id", "rep_id")
        .annotate(*(Sum(name) for name in ("met", "due", *ATTEMPT_COUNTS)))
        .values_list("day", "in_range", "team_id", "rep_id", "met__sum", "due__sum",
                     *(f"{name}__sum" for name in ATTEMPT_COUNTS))
        .order_by()
    )  # fmt: skip
    rows_read: Any = grouped
    if connection.vendor == "postgresql":
        # The same statement through a cursor: its values need no conversion there (dates
        # and integers come back as such), and Django's per-value converters were most of the
        # read's time at a year of rows.
        sql, params = grouped.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows_read = cursor.fetchall()
    attempts: dict[tuple[Any, Any], dict[str, Any]] = {}
    outcome: dict[tuple[dt.date, bool, Any, Any], list[int]] = {}
    for day, inside, team, rep, met, due, *counts in rows_read:
        if inside and counts[0]:
            row = attempts.get((team, rep))
            if row is None:
                row = attempts[(team, rep)] = {"team_id": team, "assigned_to_id": rep}
                row.update(dict.fromkeys(ATTEMPT_COUNTS, 0))
            for name, value in zip(ATTEMPT_COUNTS, counts, strict=True):
                row[name] += int(value or 0)
        if due:
            sums = outcome.setdefault((week_start(day), bool(inside), team, rep), [0, 0])
            sums[0] += int(met or 0)
            sums[1] += int(due)
    rows: list[OutcomeRow] = [(*key, met, due) for key, (met, due) in outcome.items()]
    if now is None or monday is None:
        return list(attempts.values()), Outcomes([], week_start(filters.end))
    rows.extend(unflagged_rows(filters, now=now))
    return list(attempts.values()), Outcomes(rows, monday)

"""The SLA figures' reads from the dashboard's daily rollup (handoff.rollup): the promotion
cohort, the attempts per team and rep, and the SLA outcomes of a range, each one grouped read of
a few rows per day instead of a scan of the range's handoffs. Same shapes as the raw reads in
cohort.py and outcomes.py (which define the figures and which the rollup tests compare with)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case, IntegerField, Q, Sum, Value, When
from django.db.models.functions import TruncWeek

from handoff.metrics.filters import SlaFilters, local_today, week_start
from handoff.metrics.outcomes import OutcomeRow, Outcomes, unflagged_rows
from handoff.models.dashboard import DashboardDay
from handoff.rollup import ensure_fresh

PROMOTION_COUNTS = ("mql", "sal", "sql", "returned", "open")
ATTEMPT_COUNTS = ("attempts", "attempts_accepted", "returned")


def _days(zone: str, part: int, filters: SlaFilters) -> Any:
    qs = DashboardDay.objects.filter(zone=zone, part=part)
    if filters.team is not None:
        qs = qs.filter(team_id=filters.team)
    return qs


def promotion_rows(filters: SlaFilters, *, zone: str | None = None) -> list[dict[str, Any]]:
    """Handoffs promoted in the range per (source, team, path): the funnel's counts. One query
    (plus the refresh when no zone is given)."""
    zone = zone or ensure_fresh()
    rows = (
        _days(zone, DashboardDay.Part.PROMOTIONS, filters)
        .filter(day__gte=filters.start, day__lte=filters.end)
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
    """Attempts promoted in the range per (team, rep): attempts, accepted, returned. One query."""
    zone = zone or ensure_fresh()
    rows = (
        _days(zone, DashboardDay.Part.REPS, filters)
        .filter(day__gte=filters.start, day__lte=filters.end, attempts__gt=0)
        .values("team_id", "rep_id")
        .annotate(**{name: Sum(name) for name in ATTEMPT_COUNTS})
        .order_by()
    )
    return [
        {"team_id": row["team_id"], "assigned_to_id": row["rep_id"],
         **{name: int(row[name] or 0) for name in ATTEMPT_COUNTS}}
        for row in rows
    ]  # fmt: skip


def outcome_rows(filters: SlaFilters, *, now: dt.datetime, zone: str | None = None) -> Outcomes:
    """SLA outcomes dated in the range or this ISO week, per (week, in range?, team, rep): one
    grouped query over the rollup, plus the not-yet-flagged breaches (outcomes.unflagged_rows)."""
    zone = zone or ensure_fresh()
    today = local_today(now)
    monday = week_start(today)
    in_range = Q(day__gte=filters.start, day__lte=filters.end)
    grouped = (
        _days(zone, DashboardDay.Part.REPS, filters)
        .filter(in_range | Q(day__gte=monday, day__lte=today), due__gt=0)
        .annotate(
            week=TruncWeek("day"),
            in_range=Case(
                When(in_range, then=Value(1)), default=Value(0), output_field=IntegerField()
            ),
        )
        .values("week", "in_range", "team_id", "rep_id")
        .annotate(met_sum=Sum("met"), due_sum=Sum("due"))
        .order_by()
    )
    rows: list[OutcomeRow] = []
    for row in grouped:
        week = row["week"]
        week = week.date() if isinstance(week, dt.datetime) else week
        rows.append(
            (week, bool(row["in_range"]), row["team_id"], row["rep_id"], int(row["met_sum"] or 0),
             int(row["due_sum"] or 0))
        )  # fmt: skip
    rows.extend(unflagged_rows(filters, now=now))
    return Outcomes(rows, monday)

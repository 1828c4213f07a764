"""SLA compliance: each handoff's outcome as SQL, the outcomes counted per week, team and rep,
and the compliance figures over the range, this week and by ISO week."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Count, DateTimeField, F, Q, Value, When
from django.db.models.functions import TruncWeek
from django.utils import timezone

from core.timefmt import day_start
from handoff.metrics.filters import (
    SlaFilters,
    iso_week,
    local_today,
    rate,
    team_q,
    week_start,
)
from handoff.models import SLA_MET, SLA_MISSED_UNFLAGGED, Handoff
from handoff.states import Status

UNFLAGGED_LIMIT = 10000

# --- the SLA outcome of a handoff as SQL ------------------------------------------------------


def met_q() -> Q:
    """Answered at or before the deadline, never flagged as breached."""
    return SLA_MET


def missed_at_deadline_q(now: dt.datetime) -> Q:
    """Missed, not flagged by the sweep (yet): its outcome is dated at `due_at`. The stored
    `sla_outcome_at` holds all of these but the pending ones, which depend on `now`."""
    return SLA_MISSED_UNFLAGGED | Q(
        breached_at__isnull=True,
        due_at__isnull=False,
        status=Status.PENDING,
        responded_at__isnull=True,
        due_at__lte=now,
    )


def missed_q(now: dt.datetime) -> Q:
    return Q(breached_at__isnull=False) | missed_at_deadline_q(now)


def outcome_at(now: dt.datetime) -> Case:
    """When the handoff's SLA outcome became known (NULL: no outcome, see the module doc)."""
    return Case(
        When(met_q(), then=F("responded_at")),
        When(breached_at__isnull=False, then=F("breached_at")),
        When(missed_at_deadline_q(now), then=F("due_at")),
        default=None,
        output_field=DateTimeField(),
    )


def open_breach_q(now: dt.datetime) -> Q:
    """Pending past the deadline: flagged by the sweep, or due and not flagged yet."""
    return Q(status=Status.PENDING) & (Q(breached_at__isnull=False) | Q(due_at__lte=now))


# (Monday of the outcome's week, in the range?, team, rep, met, due)
OutcomeRow = tuple[dt.date, bool, int | None, int | None, int, int]


@dataclass(frozen=True)
class Outcomes:
    """SLA outcomes counted per (week of the outcome, in the range?, team, rep)."""

    rows: list[OutcomeRow]
    this_week: dt.date


def outcome_rows(filters: SlaFilters, *, now: dt.datetime) -> Outcomes:
    """Outcomes in the range or this ISO week: one grouped query over the stored outcomes
    (`Handoff.sla_outcome_at`, an index-only range scan of handoff_sla_outcome), plus the
    not-yet-flagged breaches, whose outcome depends on `now` and so is not stored (one query
    over a partial index)."""
    low, high = filters.bounds()
    monday = week_start(local_today(now))
    week_low = day_start(monday)
    zone = timezone.get_current_timezone()
    in_range = Q(sla_outcome_at__gte=low, sla_outcome_at__lt=high)
    this_week = Q(sla_outcome_at__gte=week_low, sla_outcome_at__lt=now)
    grouped = (
        Handoff.objects.filter(team_q(filters))
        .filter(in_range | this_week)
        .annotate(
            week=TruncWeek("sla_outcome_at", tzinfo=zone),
            in_range=Case(When(in_range, then=Value(1)), default=Value(0)),
        )
        .values("week", "in_range", "team_id", "assigned_to_id")
        # Counting sla_met (never NULL), not the id: the id is not in the index, and reading
        # it would visit the heap for every row.
        .annotate(due=Count("sla_met"), met=Count("sla_met", filter=Q(sla_met=True)))
        .order_by()
    )
    rows: list[OutcomeRow] = []
    for row in grouped:
        week = row["week"]
        day = timezone.localtime(week, zone).date() if isinstance(week, dt.datetime) else week
        rows.append(
            (day, bool(row["in_range"]), row["team_id"], row["assigned_to_id"], row["met"],
             row["due"])
        )  # fmt: skip
    rows.extend(unflagged_rows(filters, now=now))
    return Outcomes(rows, monday)


def unflagged_rows(filters: SlaFilters, *, now: dt.datetime) -> list[OutcomeRow]:
    """Pending past the deadline and not flagged by the sweep yet: missed, dated at the
    deadline; not stored (it depends on `now`), so read apart over a partial index. One query."""
    low, high = filters.bounds()
    since = min(low, day_start(week_start(local_today(now))))
    zone = timezone.get_current_timezone()
    unflagged = Q(status=Status.PENDING, breached_at__isnull=True)
    rows: list[OutcomeRow] = []
    for team, rep, due_at in (
        Handoff.objects.filter(unflagged, team_q(filters), due_at__gte=since, due_at__lte=now)
        .values_list("team_id", "assigned_to_id", "due_at")
        .order_by("due_at")[:UNFLAGGED_LIMIT]
    ):
        if due_at is None:  # excluded by the filter; keeps the types honest
            continue
        local = timezone.localtime(due_at, zone).date()
        rows.append((week_start(local), low <= due_at < high, team, rep, 0, 1))
    return rows


def compliance_from(outcomes: Outcomes) -> dict[str, Any]:
    met = sum(r[4] for r in outcomes.rows if r[1])
    due = sum(r[5] for r in outcomes.rows if r[1])
    week_met = sum(r[4] for r in outcomes.rows if r[0] == outcomes.this_week)
    week_due = sum(r[5] for r in outcomes.rows if r[0] == outcomes.this_week)
    return {
        "met": met,
        "missed": due - met,
        "due": due,
        "compliance": rate(met, due),
        "this_week": {
            "week": iso_week(outcomes.this_week),
            "start": outcomes.this_week.isoformat(),
            "met": week_met,
            "missed": week_due - week_met,
            "due": week_due,
            "compliance": rate(week_met, week_due),
        },
    }


def weekly_from(outcomes: Outcomes, filters: SlaFilters) -> list[dict[str, Any]]:
    by_week: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    for week, in_range, _, _, met, due in outcomes.rows:
        if in_range:
            by_week[week][0] += met
            by_week[week][1] += due
    result = []
    monday = week_start(filters.start)
    while monday <= filters.end:
        met, due = by_week.get(monday, (0, 0))
        result.append(
            {
                "week": iso_week(monday),
                "start": monday.isoformat(),
                "met": met,
                "missed": due - met,
                "due": due,
                "compliance": rate(met, due),
            }
        )
        monday += dt.timedelta(weeks=1)
    return result

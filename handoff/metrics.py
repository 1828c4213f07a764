"""SLA and funnel metrics for sales managers: four grouped reads, shaped into every figure.

Definitions (docs/pages.md, "Dashboard", says the same in prose). A date range is two
local dates, both inclusive, in the site's time zone (settings.TIME_ZONE); the default is the
last 8 ISO weeks: Monday seven weeks before this week's Monday, through today.

- Funnel (a cohort of promotions): MQL = handoffs created in the range, reassigned attempts
  left out (the next attempt of the same promotion carries its outcome, as in
  feedback.selectors); SAL = those of them that were accepted (`accepted_at` set, even when
  returned later); SQL = those qualified (`qualified_at` set). Conversion at each step is the
  share of the step before; MQL -> SQL is SQL / MQL. Handoffs still open count in MQL only, so a
  recent range converts less until sales decide.
- SLA compliance: every handoff has at most one SLA outcome, dated when it became known:
  * met at `responded_at`, when sales answered (accepted or returned from pending) at or
    before the deadline and the sweep never flagged a breach;
  * missed at the deadline, when the sweep flagged a breach (`breached_at`, which the sweep
    dates at the deadline), when it was answered after the deadline, when it is still pending
    past its deadline (not yet flagged), or when it was reassigned after its deadline;
  * no outcome (left out) while the deadline is ahead or the clock is paused (waiting for
    marketing), and for a handoff a manager reassigned before its deadline (no answer was
    owed any more; its next attempt has its own deadline).
  Compliance over a range = met / (met + missed) among handoffs whose outcome is dated in the
  range, so each handoff lands in exactly one week of the trend, and a still-open breach counts
  as missed in the week of its deadline. "This week" is the ISO week of `now`.
- Time to accept, for handoffs accepted in the range: wall time = accepted_at - created_at
  minus the time paused waiting for marketing (`paused_seconds_total`); business time =
  `accept_business_minutes`, stored by handoff_accept (the business minutes the accept clock
  ran: window minus what was left, plus what it was late by; pauses excluded). Median and p90
  are continuous percentiles: PostgreSQL's percentile_cont over every accept in the range
  (one GROUPING SETS query for the whole, each team and each rep); on other databases the same
  linear interpolation in Python over the latest 50,000 (the figures then say "sample"). The
  admin summary, over any filtered list, uses percentile_cont in SQL.
- Open breaches now: pending handoffs past their deadline (flagged or not yet). At risk now:
  pending, past the at-risk point, deadline ahead (handoff.filters).
- Per team / per rep: handoffs = attempts assigned in the range (created in it, reassigned ones
  included: the rep had them), accepted (accepted_at set), returned (status returned); compliance
  and median time to accept as above, grouped by the attempt's team / rep; open breaches now.
- Conversion by source: the funnel grouped by `Handoff.lead_source`, the lead's source when it
  was handed over.
Return reasons are feedback.selectors.reason_mix (the feedback app owns reasons).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest, TruncWeek
from django.utils import timezone

from core.errors import ValidationFailed
from handoff.filters import at_risk_q
from handoff.models import SLA_MET, SLA_MISSED_UNFLAGGED, Handoff, Team
from handoff.selectors import accept_clock, clock_label
from handoff.states import Status
from leads.models import Source

DEFAULT_WEEKS = 8
MAX_RANGE_DAYS = 731
# Without percentile_cont (SQLite), percentiles of time to accept are computed in Python over
# at most this many of the latest accepts in the range; the figures say "sample" then.
ACCEPT_ROWS_LIMIT = 50000
# Pending handoffs past their deadline that the sweep has not flagged yet (normally none: the
# sweep runs every 30 s), read apart; more than this means the sweep is down.
UNFLAGGED_LIMIT = 10000
OPEN_LIST_SIZE = 10


# --- filters ----------------------------------------------------------------------------------


def local_today(now: dt.datetime) -> dt.date:
    return timezone.localtime(now).date()


def week_start(day: dt.date) -> dt.date:
    """The Monday of the ISO week of `day`."""
    return day - dt.timedelta(days=day.weekday())


def day_start(day: dt.date) -> dt.datetime:
    """Midnight starting `day` in the site's time zone (aware; a DST day has 23 or 25 hours)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class SlaFilters:
    """A range of local dates (both inclusive) and optionally one team."""

    start: dt.date
    end: dt.date
    team: int | None = None

    @classmethod
    def default(cls, *, now: dt.datetime, team: int | None = None) -> SlaFilters:
        today = local_today(now)
        return cls(
            start=week_start(today) - dt.timedelta(weeks=DEFAULT_WEEKS - 1), end=today, team=team
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, now: dt.datetime) -> SlaFilters:
        """Parse `date_from`, `date_to` (ISO dates; `start` and `end` are their older names,
        still read) and `team` (an id); a bad value raises ValidationFailed naming the field the
        client sent. Missing dates take the default range's."""

        def text(name: str) -> str:
            value = params.get(name)
            return str(value).strip() if value is not None else ""

        def parse_date(name: str) -> dt.date | None:
            raw = text(name)
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    f"{name} must be a date like 2026-01-31.", code="invalid_date", field=name
                ) from None

        team_raw = text("team")
        if team_raw and not team_raw.isdigit():
            raise ValidationFailed("team must be a team id.", code="invalid", field="team")
        default = cls.default(now=now)
        # The metrics APIs name their range date_from/date_to; the new name wins over the old.
        from_name = "date_from" if text("date_from") or not text("start") else "start"
        to_name = "date_to" if text("date_to") or not text("end") else "end"
        start = parse_date(from_name)
        end = parse_date(to_name)
        if start is None:
            start = default.start if end is None else end - (default.end - default.start)
        end = end or max(default.end, start)
        if start > end:
            raise ValidationFailed(
                f"{from_name} is after {to_name}.", code="invalid_range", field=from_name
            )
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(
                f"Give a range of at most {MAX_RANGE_DAYS} days.",
                code="invalid_range",
                field=to_name,
            )
        return cls(start=start, end=end, team=int(team_raw) if team_raw else None)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start of the first day, start of the day after the last) as aware datetimes."""
        return day_start(self.start), day_start(self.end + dt.timedelta(days=1))

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "team": self.team}


def _team_q(filters: SlaFilters) -> Q:
    return Q(team_id=filters.team) if filters.team is not None else Q()


def _created_in(filters: SlaFilters) -> Q:
    low, high = filters.bounds()
    return Q(created_at__gte=low, created_at__lt=high)


def _accepted_in(filters: SlaFilters) -> Q:
    low, high = filters.bounds()
    return Q(accepted_at__gte=low, accepted_at__lt=high)


# --- the SLA outcome of a handoff as SQL ------------------------------------------------------


def met_q() -> Q:
    """Answered at or before the deadline, never flagged as breached."""
    return SLA_MET


def _missed_at_deadline_q(now: dt.datetime) -> Q:
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
    return Q(breached_at__isnull=False) | _missed_at_deadline_q(now)


def outcome_at(now: dt.datetime) -> Case:
    """When the handoff's SLA outcome became known (NULL: no outcome, see the module doc)."""
    return Case(
        When(met_q(), then=F("responded_at")),
        When(breached_at__isnull=False, then=F("breached_at")),
        When(_missed_at_deadline_q(now), then=F("due_at")),
        default=None,
        output_field=DateTimeField(),
    )


def open_breach_q(now: dt.datetime) -> Q:
    """Pending past the deadline: flagged by the sweep, or due and not flagged yet."""
    return Q(status=Status.PENDING) & (Q(breached_at__isnull=False) | Q(due_at__lte=now))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- percentiles ------------------------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile: percentile_cont(f) WITHIN GROUP (ORDER BY expr)."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """The same linear interpolation as PostgreSQL's percentile_cont, over sorted values."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def has_percentile_cont() -> bool:
    return connection.vendor == "postgresql"


def _wall_minutes_expression() -> ExpressionWrapper:
    """Minutes from promotion to accept, minus the time paused for marketing (PostgreSQL)."""
    seconds = Func(
        F("accepted_at"),
        F("created_at"),
        arg_joiner=" - ",
        template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
        output_field=FloatField(),
    )
    minutes = ExpressionWrapper(
        (seconds - F("paused_seconds_total")) / Value(60.0), output_field=FloatField()
    )
    return ExpressionWrapper(Greatest(minutes, Value(0.0)), output_field=FloatField())


def _wall_minutes(created: dt.datetime, accepted: dt.datetime | None, paused: int) -> float:
    if accepted is None:  # callers read accepted rows only
        return 0.0
    return max((accepted - created).total_seconds() - (paused or 0), 0.0) / 60.0


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    values.sort()
    return _rounded(percentile_cont(values, 0.5)), _rounded(percentile_cont(values, 0.9))


# --- the four reads behind every figure -------------------------------------------------------
#
# Every handoff that counts for a range [low, high) was written at or after `low`: created in
# it, answered, accepted or flagged as breached in it (each transition and the sweep set
# updated_at), so `updated_at >= low` is a safe first cut, served by the handoff_metrics index
# (updated_at, INCLUDE the columns read here: an index-only range scan, not a pass over the
# wide handoff rows). The one exception, a pending handoff past its deadline that the sweep has
# not flagged yet (it was not written at its deadline), is read apart (_unflagged_breaches)
# over the handoff_due_open index, and left out of the main read so it is counted once.


def _since(low: dt.datetime) -> Q:
    return Q(updated_at__gte=low)


FUNNEL_COUNTS = ("mql", "sal", "sql", "returned", "open")


def _funnel_counts() -> dict[str, Count]:
    """The funnel's counts over handoffs (reassigned attempts left out of MQL/SAL/SQL: the next
    attempt of the same promotion carries its outcome)."""
    promotion = ~Q(status=Status.REASSIGNED)
    return {
        "mql": Count("id", filter=promotion),
        "sal": Count("id", filter=promotion & Q(accepted_at__isnull=False)),
        "sql": Count("id", filter=promotion & Q(qualified_at__isnull=False)),
        "returned": Count("id", filter=Q(status=Status.RETURNED)),
        "open": Count("id", filter=Q(status__in=(Status.PENDING, Status.WAITING))),
    }


def _cohort_rows(filters: SlaFilters) -> list[dict[str, Any]]:
    """The handoffs created in the range, counted per (source, team, rep): the funnel, the
    conversion by source and the attempts of the team and rep tables. One query."""
    low, _ = filters.bounds()
    rows = (
        Handoff.objects.filter(_since(low), _created_in(filters), _team_q(filters))
        .values("lead_source", "team_id", "assigned_to_id")
        .annotate(
            attempts=Count("id"),
            attempts_accepted=Count("id", filter=Q(accepted_at__isnull=False)),
            **_funnel_counts(),
        )
        .order_by()
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class _Outcomes:
    """SLA outcomes counted per (week of the outcome, in the range?, team, rep)."""

    rows: list[tuple[dt.date, bool, int | None, int | None, int, int]]  # ..., met, due
    this_week: dt.date


def _outcome_rows(filters: SlaFilters, *, now: dt.datetime) -> _Outcomes:
    """Outcomes in the range or this ISO week: one grouped query over the stored outcomes
    (`Handoff.sla_outcome_at`, an index-only range scan of handoff_sla_outcome), plus the
    not-yet-flagged breaches, whose outcome depends on `now` and so is not stored (one query
    over a partial index)."""
    low, high = filters.bounds()
    monday = week_start(local_today(now))
    week_low = day_start(monday)
    since = min(low, week_low)
    zone = timezone.get_current_timezone()
    in_range = Q(sla_outcome_at__gte=low, sla_outcome_at__lt=high)
    this_week = Q(sla_outcome_at__gte=week_low, sla_outcome_at__lt=now)
    unflagged = Q(status=Status.PENDING, breached_at__isnull=True)
    grouped = (
        Handoff.objects.filter(_team_q(filters))
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
    rows: list[tuple[dt.date, bool, int | None, int | None, int, int]] = []
    for row in grouped:
        week = row["week"]
        day = timezone.localtime(week, zone).date() if isinstance(week, dt.datetime) else week
        rows.append(
            (day, bool(row["in_range"]), row["team_id"], row["assigned_to_id"], row["met"],
             row["due"])
        )  # fmt: skip
    # Pending past the deadline and not flagged yet: missed, dated at the deadline.
    for team, rep, due_at in (
        Handoff.objects.filter(unflagged, _team_q(filters), due_at__gte=since, due_at__lte=now)
        .values_list("team_id", "assigned_to_id", "due_at")
        .order_by("due_at")[:UNFLAGGED_LIMIT]
    ):
        if due_at is None:  # excluded by the filter; keeps the types honest
            continue
        local = timezone.localtime(due_at, zone).date()
        rows.append((week_start(local), low <= due_at < high, team, rep, 0, 1))
    return _Outcomes(rows, monday)


@dataclass(frozen=True)
class _Accepts:
    """Time to accept over the accepts in the range: medians and p90s overall, and the medians
    of each team and each rep."""

    count: int
    wall: tuple[float | None, float | None]  # (median, p90), minutes
    business: tuple[float | None, float | None]
    basis: str  # "all", or "sample" when only the latest ACCEPT_ROWS_LIMIT were read
    # dimension ("team", "rep") -> key -> (wall median, business median)
    medians: dict[str, dict[Any, tuple[float | None, float | None]]]


def _accept_rows(filters: SlaFilters) -> _Accepts:
    """Time to accept, overall and per team and rep. One query.

    PostgreSQL computes the percentiles itself, over every accept of the range: one grouped
    read with GROUPING SETS ((), team, rep) and percentile_cont, a few dozen rows back instead
    of every accept (36,000 at 100,000 handoffs a year) sorted and fetched into Python.
    Elsewhere the latest ACCEPT_ROWS_LIMIT accepts are fetched and the same interpolation is
    done in Python."""
    low, _ = filters.bounds()
    qs = Handoff.objects.filter(_since(low), _accepted_in(filters), _team_q(filters))
    if has_percentile_cont():
        inner, params = (
            qs.annotate(wall=_wall_minutes_expression())
            .values_list("team_id", "assigned_to_id", "wall", "accept_business_minutes")
            .order_by()
            .query.sql_with_params()
        )
        cont = "percentile_cont({}) WITHIN GROUP (ORDER BY {})"
        sql = (
            "SELECT GROUPING(team_id), GROUPING(assigned_to_id), team_id, assigned_to_id, "
            f"COUNT(*), {cont.format(0.5, 'wall')}, {cont.format(0.9, 'wall')}, "
            f"{cont.format(0.5, 'accept_business_minutes')}, "
            f"{cont.format(0.9, 'accept_business_minutes')} "
            f"FROM ({inner}) AS accepts GROUP BY GROUPING SETS ((), (team_id), (assigned_to_id))"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            grouped = cursor.fetchall()
        medians: dict[str, dict[Any, tuple[float | None, float | None]]] = {"team": {}, "rep": {}}
        count = 0
        wall: tuple[float | None, float | None] = (None, None)
        business: tuple[float | None, float | None] = (None, None)
        for by_team, by_rep, team, rep, n, w50, w90, b50, b90 in grouped:
            if by_team and by_rep:  # the grand total (both columns rolled up)
                count = n
                wall, business = (_rounded(w50), _rounded(w90)), (_rounded(b50), _rounded(b90))
            elif by_rep:  # rolled up over reps: one team
                medians["team"][team] = (_rounded(w50), _rounded(b50))
            else:
                medians["rep"][rep] = (_rounded(w50), _rounded(b50))
        return _Accepts(count, wall, business, "all", medians)
    rows = [
        (team, rep, _wall_minutes(created, accepted, paused), business)
        for team, rep, created, accepted, paused, business in qs.filter(
            accepted_at__isnull=False
        ).order_by("-accepted_at").values_list(
            "team_id", "assigned_to_id", "created_at", "accepted_at",
            "paused_seconds_total", "accept_business_minutes",
        )[: ACCEPT_ROWS_LIMIT + 1]
    ]  # fmt: skip
    capped = len(rows) > ACCEPT_ROWS_LIMIT
    rows = rows[:ACCEPT_ROWS_LIMIT]
    per: dict[str, dict[Any, tuple[list[float], list[float]]]] = {"team": {}, "rep": {}}
    for team, rep, wall_minutes, business_minutes in rows:
        for dimension, key in (("team", team), ("rep", rep)):
            walls, businesses = per[dimension].setdefault(key, ([], []))
            walls.append(wall_minutes)
            if business_minutes is not None:
                businesses.append(business_minutes)
    return _Accepts(
        count=len(rows),
        wall=_percentiles([r[2] for r in rows]),
        business=_percentiles([r[3] for r in rows if r[3] is not None]),
        basis="sample" if capped else "all",
        medians={
            dimension: {
                key: (_percentiles(walls)[0], _percentiles(businesses)[0])
                for key, (walls, businesses) in groups.items()
            }
            for dimension, groups in per.items()
        },
    )


def _open_counts(*, now: dt.datetime, team: int | None) -> list[dict[str, Any]]:
    """Open breaches and at-risk handoffs now, per (team, rep). One query over the pending
    handoffs."""
    breach, risk = open_breach_q(now), at_risk_q(now)
    rows = (
        Handoff.objects.filter(Q(team_id=team) if team is not None else Q())
        .filter(status=Status.PENDING)
        .filter(breach | risk)
        .values("team_id", "assigned_to_id")
        .annotate(breached=Count("id", filter=breach), at_risk=Count("id", filter=risk))
        .order_by()
    )
    return [dict(row) for row in rows]


# --- shaping the reads into figures (no queries) ----------------------------------------------


def _funnel_row(counts: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {name: int(counts.get(name) or 0) for name in FUNNEL_COUNTS}
    row["mql_to_sal"] = _rate(row["sal"], row["mql"])
    row["sal_to_sql"] = _rate(row["sql"], row["sal"])
    row["mql_to_sql"] = _rate(row["sql"], row["mql"])
    return row


def _summed(rows: Sequence[Mapping[str, Any]], key: str | None) -> dict[Any, dict[str, int]]:
    totals: dict[Any, dict[str, int]] = {}
    for row in rows:
        group = totals.setdefault(row[key] if key else None, defaultdict(int))
        for name, value in row.items():
            if isinstance(value, int) and name not in ("team_id", "assigned_to_id"):
                group[name] += value
    return totals


def _funnel_from(cohort: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    row = _funnel_row(_summed(cohort, None).get(None, {}))
    row["steps"] = [
        {"stage": "mql", "label": "MQL (handed to sales)", "count": row["mql"], "rate": None},
        {"stage": "sal", "label": "SAL (accepted)", "count": row["sal"], "rate": row["mql_to_sal"]},
        {"stage": "sql", "label": "SQL (qualified)", "count": row["sql"], "rate": row["sal_to_sql"]},
    ]  # fmt: skip
    return row


def _sources_from(cohort: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    labels = dict(Source.choices)
    result = [
        {
            "source": source,
            "label": str(labels.get(source, source or "Unknown")),
            **_funnel_row(counts),
        }
        for source, counts in _summed(cohort, "lead_source").items()
    ]
    return sorted((r for r in result if r["mql"]), key=lambda r: (-r["mql"], r["label"]))


def _iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _compliance_from(outcomes: _Outcomes) -> dict[str, Any]:
    met = sum(r[4] for r in outcomes.rows if r[1])
    due = sum(r[5] for r in outcomes.rows if r[1])
    week_met = sum(r[4] for r in outcomes.rows if r[0] == outcomes.this_week)
    week_due = sum(r[5] for r in outcomes.rows if r[0] == outcomes.this_week)
    return {
        "met": met,
        "missed": due - met,
        "due": due,
        "compliance": _rate(met, due),
        "this_week": {
            "week": _iso_week(outcomes.this_week),
            "start": outcomes.this_week.isoformat(),
            "met": week_met,
            "missed": week_due - week_met,
            "due": week_due,
            "compliance": _rate(week_met, week_due),
        },
    }


def _weekly_from(outcomes: _Outcomes, filters: SlaFilters) -> list[dict[str, Any]]:
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
                "week": _iso_week(monday),
                "start": monday.isoformat(),
                "met": met,
                "missed": due - met,
                "due": due,
                "compliance": _rate(met, due),
            }
        )
        monday += dt.timedelta(weeks=1)
    return result


def _accept_times_from(accepts: _Accepts) -> dict[str, Any]:
    return {
        "accepted": accepts.count,
        "wall_minutes": {"median": accepts.wall[0], "p90": accepts.wall[1], "basis": accepts.basis},
        "business_minutes": {
            "median": accepts.business[0],
            "p90": accepts.business[1],
            "basis": accepts.basis,
        },
    }


GROUP_KEYS = {"team": ("team_id", 2), "rep": ("assigned_to_id", 3)}


def _labels(dimension: str, keys: set[Any]) -> dict[Any, str]:
    """Team names or rep names of the keys (one query)."""
    if dimension == "team":
        names = dict(Team.objects.filter(pk__in=keys - {None}).values_list("pk", "name"))
        return {key: names.get(key, "No team") for key in keys}
    users = {
        pk: (f"{first} {last}".strip() or username)
        for pk, username, first, last in get_user_model()
        .objects.filter(pk__in=keys - {None})
        .values_list("pk", "username", "first_name", "last_name")
    }
    return {key: users.get(key, "Unassigned (manager's queue)") for key in keys}


def _groups_from(
    dimension: str,
    cohort: Sequence[Mapping[str, Any]],
    outcomes: _Outcomes,
    accepts: _Accepts,
    open_rows: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The team or rep table from the four reads (plus one query for the names)."""
    field_name, outcome_index = GROUP_KEYS[dimension]
    attempts = _summed(cohort, field_name)
    outcome: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for row in outcomes.rows:
        if row[1]:
            outcome[row[outcome_index]][0] += row[4]
            outcome[row[outcome_index]][1] += row[5]
    medians = accepts.medians[dimension]
    breaches = _summed(open_rows, field_name)
    keys = (
        set(attempts)
        | set(outcome)
        | set(medians)
        | {k for k, v in breaches.items() if v.get("breached")}
    )
    labels = _labels(dimension, keys)
    result = []
    for key in keys:
        met, due = outcome.get(key, (0, 0))
        counts = attempts.get(key, {})
        result.append(
            {
                "key": key,
                "label": labels[key],
                "handoffs": counts.get("attempts", 0),
                "accepted": counts.get("attempts_accepted", 0),
                "returned": counts.get("returned", 0),
                "met": met,
                "missed": due - met,
                "compliance": _rate(met, due),
                "median_minutes_to_accept": medians.get(key, (None, None))[0],
                "median_business_minutes_to_accept": medians.get(key, (None, None))[1],
                "open_breaches": breaches.get(key, {}).get("breached", 0),
            }
        )
    return sorted(result, key=lambda r: (-r["handoffs"], -r["open_breaches"], str(r["label"])))


def _open_row(handoff: Handoff, now: dt.datetime) -> dict[str, Any]:
    clock = accept_clock(handoff, now=now)
    rep = handoff.assigned_to
    lead = handoff.lead
    return {
        "id": handoff.pk,
        "lead_id": handoff.lead_id,
        "lead": str(lead),
        "company": lead.company,
        "rep": (rep.get_full_name() or rep.get_username()) if rep is not None else None,
        "team": handoff.team.name if handoff.team is not None else None,
        "due_at": handoff.due_at,
        "at_risk_at": handoff.at_risk_at,
        "breached_at": handoff.breached_at,
        "business_minutes_left": clock.business_minutes_left,
        "label": clock_label(clock),
    }


def _open_now_from(
    open_rows: Sequence[Mapping[str, Any]], *, now: dt.datetime, team: int | None, limit: int
) -> dict[str, Any]:
    """Counts from the grouped read; the most urgent `limit` of each kind (one query each; the
    clock of each listed row is computed in Python)."""
    base = Handoff.objects.filter(Q(team_id=team) if team is not None else Q())
    related = ("lead", "assigned_to", "team", "calendar", "team__calendar")
    breached = (
        base.filter(open_breach_q(now)).select_related(*related).order_by("due_at", "id")[:limit]
    )
    at_risk = base.filter(at_risk_q(now)).select_related(*related).order_by("due_at", "id")[:limit]
    return {
        "breached": sum(r["breached"] for r in open_rows),
        "at_risk": sum(r["at_risk"] for r in open_rows),
        "breached_list": [_open_row(h, now) for h in breached],
        "at_risk_list": [_open_row(h, now) for h in at_risk],
    }


# --- the figures ------------------------------------------------------------------------------


def funnel(filters: SlaFilters) -> dict[str, Any]:
    """MQL -> SAL -> SQL over the handoffs promoted in the range (one query)."""
    return _funnel_from(_cohort_rows(filters))


# The qualification path frozen on the handoff at promotion (Handoff.pql_criteria: the PQL
# criteria the lead met then, empty for an MQL by score), so a lead that later stops or starts
# being a PQL never moves a past handoff between the columns.
FUNNEL_KINDS = {"mql": "MQL (score)", "pql": "PQL (product usage)"}


def funnel_by_kind(filters: SlaFilters) -> list[dict[str, Any]]:
    """The funnel for MQLs and PQLs side by side (one query): handoffs sent, accepted (SAL),
    qualified (SQL), returned and open, with the acceptance rate (SAL / sent) and the SQL rate
    (SQL / sent). Both kinds are always listed, in that order."""
    low, _ = filters.bounds()
    rows = (
        Handoff.objects.filter(_since(low), _created_in(filters), _team_q(filters))
        .annotate(kind=Case(When(pql_criteria=[], then=Value("mql")), default=Value("pql")))
        .values("kind")
        .annotate(**_funnel_counts())
        .order_by()
    )
    counts = {row["kind"]: row for row in rows}
    result = []
    for kind, label in FUNNEL_KINDS.items():
        row = _funnel_row(counts.get(kind, {}))
        result.append(
            {
                "kind": kind,
                "label": label,
                "sent": row["mql"],
                "accepted": row["sal"],
                "qualified": row["sql"],
                "returned": row["returned"],
                "open": row["open"],
                "acceptance_rate": row["mql_to_sal"],
                "sql_rate": row["mql_to_sql"],
            }
        )
    return result


def conversion_by_source(filters: SlaFilters) -> list[dict[str, Any]]:
    """The funnel per lead source at handover, largest first (one query)."""
    return _sources_from(_cohort_rows(filters))


def compliance(filters: SlaFilters, *, now: dt.datetime) -> dict[str, Any]:
    """Met / missed / compliance over the range and over this ISO week (two queries)."""
    return _compliance_from(_outcome_rows(filters, now=now))


def weekly_compliance(filters: SlaFilters, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Compliance per ISO week of the range, every week listed (two queries)."""
    return _weekly_from(_outcome_rows(filters, now=now), filters)


def accept_times(filters: SlaFilters) -> dict[str, Any]:
    """Median and p90 time to accept over the accepts in the range, in wall and business
    minutes (one query)."""
    return _accept_times_from(_accept_rows(filters))


def open_now(
    *, now: dt.datetime, team: int | None = None, limit: int = OPEN_LIST_SIZE
) -> dict[str, Any]:
    """Open breaches and at-risk handoffs right now: counts and the most urgent `limit` of
    each, with their clocks (three queries)."""
    return _open_now_from(_open_counts(now=now, team=team), now=now, team=team, limit=limit)


def by_group(dimension: str, filters: SlaFilters, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Per team or per rep: handoffs, accepted, returned, compliance, median time to accept,
    open breaches now; busiest first."""
    accepts = _accept_rows(filters)
    return _groups_from(
        dimension,
        _cohort_rows(filters),
        _outcome_rows(filters, now=now),
        accepts,
        _open_counts(now=now, team=filters.team),
    )


def sla_metrics(filters: SlaFilters, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard and the metrics API show, as plain dicts and lists: each of
    the four reads once, then the team and rep names and the two open lists (ten queries)."""
    now = now or timezone.now()
    cohort = _cohort_rows(filters)
    outcomes = _outcome_rows(filters, now=now)
    accepts = _accept_rows(filters)
    open_rows = _open_counts(now=now, team=filters.team)
    return {
        "filters": filters.as_dict(),
        "generated_at": now,
        "funnel": _funnel_from(cohort),
        "compliance": _compliance_from(outcomes),
        "weekly": _weekly_from(outcomes, filters),
        "time_to_accept": _accept_times_from(accepts),
        "open_now": _open_now_from(open_rows, now=now, team=filters.team, limit=OPEN_LIST_SIZE),
        "by_team": _groups_from("team", cohort, outcomes, accepts, open_rows),
        "by_rep": _groups_from("rep", cohort, outcomes, accepts, open_rows),
        "by_source": _sources_from(cohort),
    }


def summary(qs: QuerySet[Handoff], *, now: dt.datetime) -> dict[str, Any]:
    """The admin changelist's SLA summary of any handoff queryset (the filtered list): its
    compliance (over all its handoffs with an outcome), open breaches and at risk now, median
    wall time to accept. One aggregate query on PostgreSQL, two elsewhere."""
    qs = qs.order_by()
    breach, risk = open_breach_q(now), at_risk_q(now)
    has_outcome = met_q() | missed_q(now)
    aggregates: dict[str, Any] = {
        "handoffs": Count("id"),
        "due": Count("id", filter=has_outcome),
        "met": Count("id", filter=met_q()),
        "breached": Count("id", filter=breach),
        "at_risk": Count("id", filter=risk),
        "accepted": Count("id", filter=Q(accepted_at__isnull=False)),
    }
    if has_percentile_cont():
        was_accepted = Q(accepted_at__isnull=False)
        aggregates["median"] = PercentileCont(_wall_minutes_expression(), 0.5, filter=was_accepted)
        aggregates["business_median"] = PercentileCont(
            F("accept_business_minutes"), 0.5, filter=was_accepted
        )
    counts = qs.aggregate(**aggregates)
    if not has_percentile_cont():
        wall, business = [], []
        for created, accepted, paused, minutes in (
            qs.filter(accepted_at__isnull=False)
            .order_by("-accepted_at")
            .values_list("created_at", "accepted_at", "paused_seconds_total",
                         "accept_business_minutes")[:ACCEPT_ROWS_LIMIT]
        ):  # fmt: skip
            wall.append(_wall_minutes(created, accepted, paused))
            if minutes is not None:
                business.append(minutes)
        counts["median"] = _percentiles(wall)[0]
        counts["business_median"] = _percentiles(business)[0]
    due, met = counts["due"] or 0, counts["met"] or 0
    return {
        "handoffs": counts["handoffs"] or 0,
        "met": met,
        "missed": due - met,
        "compliance": _rate(met, due),
        "breached": counts["breached"] or 0,
        "at_risk": counts["at_risk"] or 0,
        "accepted": counts["accepted"] or 0,
        "median_minutes_to_accept": _rounded(counts["median"]),
        "median_business_minutes_to_accept": _rounded(counts["business_median"]),
    }


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

"""SLA and funnel metrics for sales managers: reads only, each figure a few SQL aggregates.

Definitions (the README's "Dashboard" section says the same in prose). A date range is two
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
  are continuous percentiles: PostgreSQL's percentile_cont in the aggregate query; elsewhere
  (SQLite) the same linear interpolation in Python over at most the latest 20,000 accepts.
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

from handoff.filters import at_risk_q
from handoff.models import Handoff
from handoff.selectors import accept_clock, clock_label
from handoff.states import Status
from leads.errors import ValidationFailed
from leads.models import Source

DEFAULT_WEEKS = 8
MAX_RANGE_DAYS = 731
# Where the database has no percentile function (SQLite), wall-time percentiles are computed
# in Python over at most this many of the latest accepts in the range.
PYTHON_PERCENTILE_LIMIT = 20000
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
        """Parse `start`, `end` (ISO dates) and `team` (an id); a bad value raises
        ValidationFailed naming the field. Missing dates take the default range's."""

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
        start = parse_date("start")
        end = parse_date("end")
        if start is None:
            start = default.start if end is None else end - (default.end - default.start)
        end = end or max(default.end, start)
        if start > end:
            raise ValidationFailed("start is after end.", code="invalid_range", field="start")
        if (end - start).days >= MAX_RANGE_DAYS:
            raise ValidationFailed(
                f"Give a range of at most {MAX_RANGE_DAYS} days.", code="invalid_range", field="end"
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
    return Q(
        responded_at__isnull=False,
        due_at__isnull=False,
        responded_at__lte=F("due_at"),
        breached_at__isnull=True,
    )


def _missed_at_deadline_q(now: dt.datetime) -> Q:
    """Missed, not flagged by the sweep (yet): its outcome is dated at `due_at`."""
    return Q(breached_at__isnull=True, due_at__isnull=False) & (
        Q(responded_at__gt=F("due_at"))
        | Q(status=Status.PENDING, responded_at__isnull=True, due_at__lte=now)
        | Q(status=Status.REASSIGNED, responded_at__isnull=True, closed_at__gte=F("due_at"))
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


def _outcome_in(low: dt.datetime, high: dt.datetime) -> Q:
    return Q(sla_outcome_at__gte=low, sla_outcome_at__lt=high)


def _with_outcome(qs: QuerySet[Handoff], now: dt.datetime) -> QuerySet[Handoff]:
    return qs.annotate(sla_outcome_at=outcome_at(now), sla_met=_met_flag())


def _met_flag() -> Case:
    return Case(When(met_q(), then=Value(1)), default=Value(0))


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


def _wall_minutes(created: dt.datetime, accepted: dt.datetime, paused: int) -> float:
    return max((accepted - created).total_seconds() - (paused or 0), 0.0) / 60.0


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _percentiles_python(
    qs: QuerySet[Handoff], group: str | None = None
) -> tuple[dict[Any, dict[str, float | None]], int]:
    """{group key: {"median", "p90", "business_median", "business_p90"}} over the latest
    accepts (at most PYTHON_PERCENTILE_LIMIT), and how many rows were read. One query."""
    fields = ["created_at", "accepted_at", "paused_seconds_total", "accept_business_minutes"]
    if group:
        fields.insert(0, group)
    rows = list(
        qs.filter(accepted_at__isnull=False)
        .order_by("-accepted_at")
        .values_list(*fields)[:PYTHON_PERCENTILE_LIMIT]
    )
    wall: dict[Any, list[float]] = defaultdict(list)
    business: dict[Any, list[float]] = defaultdict(list)
    for row in rows:
        key = row[0] if group else None
        created, accepted, paused, business_minutes = row[-4:]
        wall[key].append(_wall_minutes(created, accepted, paused))
        if business_minutes is not None:
            business[key].append(business_minutes)
    result: dict[Any, dict[str, float | None]] = {}
    for key, values in wall.items():
        values.sort()
        in_business = sorted(business.get(key, []))
        result[key] = {
            "median": _rounded(percentile_cont(values, 0.5)),
            "p90": _rounded(percentile_cont(values, 0.9)),
            "business_median": _rounded(percentile_cont(in_business, 0.5)),
            "business_p90": _rounded(percentile_cont(in_business, 0.9)),
        }
    return result, len(rows)


def _percentile_aggregates(accepted: Q | None = None) -> dict[str, PercentileCont]:
    """Median and p90 of wall and business minutes to accept, as PostgreSQL aggregates, over
    the accepted rows (and `accepted`, when given)."""
    only = Q(accepted_at__isnull=False) & (accepted if accepted is not None else Q())
    wall, business = _wall_minutes_expression(), F("accept_business_minutes")
    return {
        "median": PercentileCont(wall, 0.5, filter=only),
        "p90": PercentileCont(wall, 0.9, filter=only),
        "business_median": PercentileCont(business, 0.5, filter=only),
        "business_p90": PercentileCont(business, 0.9, filter=only),
    }


# --- the figures ------------------------------------------------------------------------------

FUNNEL_COUNTS = {
    "mql": Count("id"),
    "sal": Count("id", filter=Q(accepted_at__isnull=False)),
    "sql": Count("id", filter=Q(qualified_at__isnull=False)),
    "returned": Count("id", filter=Q(status=Status.RETURNED)),
    "open": Count("id", filter=Q(status__in=(Status.PENDING, Status.WAITING))),
}


def _funnel_row(counts: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {name: int(counts.get(name) or 0) for name in FUNNEL_COUNTS}
    row["mql_to_sal"] = _rate(row["sal"], row["mql"])
    row["sal_to_sql"] = _rate(row["sql"], row["sal"])
    row["mql_to_sql"] = _rate(row["sql"], row["mql"])
    return row


def _cohort(filters: SlaFilters) -> QuerySet[Handoff]:
    return (
        Handoff.objects.exclude(status=Status.REASSIGNED)
        .filter(_created_in(filters))
        .filter(_team_q(filters))
    )


def funnel(filters: SlaFilters) -> dict[str, Any]:
    """MQL -> SAL -> SQL over the handoffs promoted in the range (one query)."""
    row = _funnel_row(_cohort(filters).aggregate(**FUNNEL_COUNTS))
    row["steps"] = [
        {"stage": "mql", "label": "MQL (handed to sales)", "count": row["mql"], "rate": None},
        {"stage": "sal", "label": "SAL (accepted)", "count": row["sal"], "rate": row["mql_to_sal"]},
        {"stage": "sql", "label": "SQL (qualified)", "count": row["sql"], "rate": row["sal_to_sql"]},
    ]  # fmt: skip
    return row


def conversion_by_source(filters: SlaFilters) -> list[dict[str, Any]]:
    """The funnel per lead source at handover, largest first (one query)."""
    rows = _cohort(filters).values("lead_source").annotate(**FUNNEL_COUNTS).order_by()
    labels = dict(Source.choices)
    result = [
        {
            "source": row["lead_source"],
            "label": str(labels.get(row["lead_source"], row["lead_source"] or "Unknown")),
            **_funnel_row(row),
        }
        for row in rows
    ]
    return sorted(result, key=lambda r: (-r["mql"], r["label"]))


def compliance(filters: SlaFilters, *, now: dt.datetime) -> dict[str, Any]:
    """Met / missed / compliance over the range and over this ISO week (one query)."""
    low, high = filters.bounds()
    this_week = day_start(week_start(local_today(now)))
    in_range, in_week = _outcome_in(low, high), _outcome_in(this_week, now)
    counts = (
        _with_outcome(Handoff.objects.filter(_team_q(filters)), now)
        .filter(in_range | in_week)
        .aggregate(
            met=Count("id", filter=in_range & Q(sla_met=1)),
            due=Count("id", filter=in_range),
            week_met=Count("id", filter=in_week & Q(sla_met=1)),
            week_due=Count("id", filter=in_week),
        )
    )
    met, due = counts["met"] or 0, counts["due"] or 0
    week_met, week_due = counts["week_met"] or 0, counts["week_due"] or 0
    return {
        "met": met,
        "missed": due - met,
        "due": due,
        "compliance": _rate(met, due),
        "this_week": {
            "week": _iso_week(week_start(local_today(now))),
            "start": week_start(local_today(now)).isoformat(),
            "met": week_met,
            "missed": week_due - week_met,
            "due": week_due,
            "compliance": _rate(week_met, week_due),
        },
    }


def _iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_compliance(filters: SlaFilters, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Compliance per ISO week of the range, every week listed (one GROUP BY query)."""
    low, high = filters.bounds()
    rows = (
        _with_outcome(Handoff.objects.filter(_team_q(filters)), now)
        .filter(_outcome_in(low, high))
        .annotate(week=TruncWeek("sla_outcome_at", tzinfo=timezone.get_current_timezone()))
        .values("week")
        .annotate(due=Count("id"), met=Count("id", filter=Q(sla_met=1)))
        .order_by()
    )
    by_week: dict[dt.date, tuple[int, int]] = {}
    for row in rows:
        week = row["week"]
        day = timezone.localtime(week).date() if isinstance(week, dt.datetime) else week
        by_week[day] = (row["met"], row["due"])
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


def accept_times(filters: SlaFilters) -> dict[str, Any]:
    """Median and p90 time to accept over the accepts in the range, in wall and business
    minutes (one query)."""
    qs = Handoff.objects.filter(_accepted_in(filters)).filter(_team_q(filters))
    if has_percentile_cont():
        figures = qs.aggregate(accepted=Count("id"), **_percentile_aggregates())
        accepted, basis = figures["accepted"] or 0, "all"
    else:
        by_group, accepted = _percentiles_python(qs)
        figures = by_group.get(None, {})
        basis = "all" if accepted < PYTHON_PERCENTILE_LIMIT else "sample"
    return {
        "accepted": accepted,
        "wall_minutes": {
            "median": _rounded(figures.get("median")),
            "p90": _rounded(figures.get("p90")),
            "basis": basis,
        },
        "business_minutes": {
            "median": _rounded(figures.get("business_median")),
            "p90": _rounded(figures.get("business_p90")),
            "basis": basis,
        },
    }


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


def open_now(
    *, now: dt.datetime, team: int | None = None, limit: int = OPEN_LIST_SIZE
) -> dict[str, Any]:
    """Open breaches and at-risk handoffs right now: counts (one query) and the most urgent
    `limit` of each (one query each; the clock of each listed row is computed in Python)."""
    base = Handoff.objects.filter(Q(team_id=team) if team is not None else Q())
    breach, risk = open_breach_q(now), at_risk_q(now)
    counts = base.filter(breach | risk).aggregate(
        breached=Count("id", filter=breach), at_risk=Count("id", filter=risk)
    )
    related = ("lead", "assigned_to", "team", "calendar", "team__calendar")
    breached = base.filter(breach).select_related(*related).order_by("due_at", "id")[:limit]
    at_risk = base.filter(risk).select_related(*related).order_by("due_at", "id")[:limit]
    return {
        "breached": counts["breached"] or 0,
        "at_risk": counts["at_risk"] or 0,
        "breached_list": [_open_row(h, now) for h in breached],
        "at_risk_list": [_open_row(h, now) for h in at_risk],
    }


GROUPS = {
    "team": ("team_id", ("team__name",)),
    "rep": ("assigned_to_id", ("assigned_to__username", "assigned_to__first_name",
                               "assigned_to__last_name")),
}  # fmt: skip


def _group_label(dimension: str, row: Mapping[str, Any]) -> str:
    if dimension == "team":
        return row["team__name"] or "No team"
    full = " ".join(
        part for part in (row["assigned_to__first_name"], row["assigned_to__last_name"]) if part
    )
    return full or row["assigned_to__username"] or "Unassigned (manager's queue)"


def by_group(dimension: str, filters: SlaFilters, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Per team or per rep: handoffs, accepted, returned, compliance, median time to accept,
    open breaches now. One GROUP BY query with conditional counts (and on PostgreSQL the
    medians in it; elsewhere one more query for them), busiest first."""
    key, label_fields = GROUPS[dimension]
    low, high = filters.bounds()
    created, accepted_in = _created_in(filters), _accepted_in(filters)
    in_outcome, breach = _outcome_in(low, high), open_breach_q(now)
    aggregates: dict[str, Any] = {
        "handoffs": Count("id", filter=created),
        "accepted": Count("id", filter=created & Q(accepted_at__isnull=False)),
        "returned": Count("id", filter=created & Q(status=Status.RETURNED)),
        "due": Count("id", filter=in_outcome),
        "met": Count("id", filter=in_outcome & Q(sla_met=1)),
        "open_breaches": Count("id", filter=breach),
    }
    if has_percentile_cont():
        medians = _percentile_aggregates(accepted_in)
        aggregates["median"] = medians["median"]
        aggregates["business_median"] = medians["business_median"]
    qs = _with_outcome(Handoff.objects.filter(_team_q(filters)), now)
    rows = list(
        qs.filter(created | in_outcome | breach | accepted_in)
        .values(key, *label_fields)
        .annotate(**aggregates)
        .order_by()
    )
    if not has_percentile_cont():
        by_key, _ = _percentiles_python(
            Handoff.objects.filter(_team_q(filters)).filter(accepted_in), key
        )
        for row in rows:
            row["median"] = by_key.get(row[key], {}).get("median")
            row["business_median"] = by_key.get(row[key], {}).get("business_median")
    result = []
    for row in rows:
        due, met = row["due"], row["met"]
        result.append(
            {
                "key": row[key],
                "label": _group_label(dimension, row),
                "handoffs": row["handoffs"],
                "accepted": row["accepted"],
                "returned": row["returned"],
                "met": met,
                "missed": due - met,
                "compliance": _rate(met, due),
                "median_minutes_to_accept": _rounded(row["median"]),
                "median_business_minutes_to_accept": _rounded(row["business_median"]),
                "open_breaches": row["open_breaches"],
            }
        )
    return sorted(result, key=lambda r: (-r["handoffs"], -r["open_breaches"], str(r["label"])))


def sla_metrics(filters: SlaFilters, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard and the metrics API show, as plain dicts and lists."""
    now = now or timezone.now()
    return {
        "filters": filters.as_dict(),
        "generated_at": now,
        "funnel": funnel(filters),
        "compliance": compliance(filters, now=now),
        "weekly": weekly_compliance(filters, now=now),
        "time_to_accept": accept_times(filters),
        "open_now": open_now(now=now, team=filters.team),
        "by_team": by_group("team", filters, now=now),
        "by_rep": by_group("rep", filters, now=now),
        "by_source": conversion_by_source(filters),
    }


def summary(qs: QuerySet[Handoff], *, now: dt.datetime) -> dict[str, Any]:
    """The admin changelist's SLA summary of any handoff queryset (the filtered list): its
    compliance (over all its handoffs with an outcome), open breaches and at risk now, median
    wall time to accept. One aggregate query on PostgreSQL, two elsewhere."""
    qs = _with_outcome(qs.order_by(), now)
    breach, risk = open_breach_q(now), at_risk_q(now)
    has_outcome = Q(sla_outcome_at__isnull=False)
    aggregates: dict[str, Any] = {
        "handoffs": Count("id"),
        "due": Count("id", filter=has_outcome),
        "met": Count("id", filter=has_outcome & Q(sla_met=1)),
        "breached": Count("id", filter=breach),
        "at_risk": Count("id", filter=risk),
        "accepted": Count("id", filter=Q(accepted_at__isnull=False)),
    }
    if has_percentile_cont():
        medians = _percentile_aggregates()
        aggregates["median"] = medians["median"]
        aggregates["business_median"] = medians["business_median"]
    counts = qs.aggregate(**aggregates)
    if not has_percentile_cont():
        by_group, _ = _percentiles_python(qs)
        counts["median"] = by_group.get(None, {}).get("median")
        counts["business_median"] = by_group.get(None, {}).get("business_median")
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


def minutes_label(minutes: float | None) -> str:
    """ "45m", "3h 05m", "2d 4h" for a duration in minutes; "-" when unknown."""
    if minutes is None:
        return "-"
    total = round(minutes)
    hours, mins = divmod(total, 60)
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"

"""Revenue metrics: conversion, time-to-conversion and revenue of a promotion cohort.

The cohort is the handoffs promoted (created) in the date range, reassigned attempts excluded
(their next attempt counts): each is an MQL; a qualified one is an SQL. Opportunities are read
from their frozen attribution (source, campaign, score band, team, rep and promotion date copied
from the handoff when they opened), never from the live lead, and never joined to handoffs.

Amounts are in the company currency (settings.DEFAULT_CURRENCY): an opportunity in another
currency counts in the deal counts but never in a sum; the totals report those apart.

The figures are read from the revenue rollup (pipeline.rollup), as of its last refresh (`as_of`;
beat refreshes it every minute): per table one GROUP BY over its dimension's slice (promotion
day x team x value x currency) and one over the slice's hour histograms, the median and p90
being percentile_cont over the histogram (linear interpolation). Filtered by source or
campaign, the full rollup is read instead.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from core.errors import ValidationFailed
from handoff.models import Handoff, Team
from handoff.states import Status
from leads.models import Campaign, Source
from leads.selectors import score_bands
from pipeline import rollup
from pipeline.models import (
    LostReason,
    Opportunity,
    RevenueDuration,
    RevenueRollup,
    RevenueScore,
    RevenueSlice,
    RevenueSliceDuration,
)
from pipeline.states import Stage

DIMENSIONS = ("source", "campaign", "score_band", "team", "rep", "cohort_week", "qualification")
# PQLs (product usage criteria matched at promotion) beside MQLs (promoted on their score).
QUALIFICATION_LABELS = {"pql": "PQL (product usage)", "mql": "MQL (score)"}
CENT = Decimal("0.01")

PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Promoted on or after."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Promoted on or before."),
    OpenApiParameter("team", OpenApiTypes.INT, description="One team's handoffs."),
]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """percentile_cont in Python: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def default_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last 4 quarters: the current one and the three before it."""
    start = quarter_start(today)
    month = start.month - 9
    year = start.year
    while month < 1:
        month += 12
        year -= 1
    return dt.date(year, month, 1), today


@dataclass(frozen=True)
class RevenueFilters:
    date_from: dt.date
    date_to: dt.date
    team: int | None = None
    source: str | None = None
    campaign: int | None = None

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, today: dt.date | None = None
    ) -> RevenueFilters:
        today = today or timezone.localdate()
        default_from, default_to = default_range(today)

        def parse_date(name: str, default: dt.date) -> dt.date:
            raw = str(params.get(name) or "").strip()
            if not raw:
                return default
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise ValidationFailed(
                    f"{name} must be a date like 2026-01-31.", code="invalid_date", field=name
                ) from None

        team = str(params.get("team") or "").strip()
        if team and (not team.isdigit() or len(team) > 18):
            raise ValidationFailed("team must be a team id.", code="invalid", field="team")
        filters = cls(
            date_from=parse_date("date_from", default_from),
            date_to=parse_date("date_to", default_to),
            team=int(team) if team else None,
        )
        if filters.date_from > filters.date_to:
            raise ValidationFailed(
                "date_from is after date_to.", code="invalid_range", field="date_from"
            )
        return filters

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        start = timezone.make_aware(dt.datetime.combine(self.date_from, dt.time.min))
        end = timezone.make_aware(
            dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min)
        )
        return start, end

    def as_dict(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "team": self.team,
            "source": self.source,
            "campaign": self.campaign,
        }


# --- the cohort -------------------------------------------------------------------------------


def cohort_handoffs(filters: RevenueFilters) -> QuerySet[Handoff]:
    start, end = filters.bounds()
    qs = Handoff.objects.exclude(status=Status.REASSIGNED).filter(
        created_at__gte=start, created_at__lt=end
    )
    if filters.source:
        qs = qs.filter(lead_source=filters.source)
    if filters.campaign is not None:
        qs = qs.filter(lead_campaign_id=filters.campaign)
    return qs.filter(team_id=filters.team) if filters.team is not None else qs


def cohort_opportunities(filters: RevenueFilters) -> QuerySet[Opportunity]:
    start, end = filters.bounds()
    qs = Opportunity.objects.filter(promoted_at__gte=start, promoted_at__lt=end)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.campaign is not None:
        qs = qs.filter(campaign_id=filters.campaign)
    return qs.filter(team_id=filters.team) if filters.team is not None else qs


def _group(dimension: str, *, table: str) -> Any:
    """The expression grouping a table's rows by a dimension (None: all rows together)."""
    handoffs = table == "handoff"
    if dimension == "totals":
        return None
    if dimension == "source":
        return F("lead_source" if handoffs else "source")
    if dimension == "campaign":
        return F("lead_campaign_id" if handoffs else "campaign_id")
    if dimension == "team":
        return F("team_id")
    if dimension == "rep":
        return F("assigned_to_id" if handoffs else "owner_id")
    if dimension == "score_band":
        return rollup.band_case("score_snapshot") if handoffs else F("score_band")
    if dimension == "cohort_week":
        return TruncWeek("created_at" if handoffs else "promoted_at")
    raise ValueError(f"unknown dimension {dimension!r}")


def _rollup_group(dimension: str) -> Any:
    """The expression grouping rollup rows by a dimension (None: all rows together)."""
    if dimension == "totals":
        return None
    if dimension == "cohort_week":
        # Grouped by day and folded into weeks in Python (`_fold`): a plain column groups far
        # faster than a date_trunc over every row.
        return F("day")
    column = {
        "source": "source",
        "campaign": "campaign_id",
        "team": "team_id",
        "rep": "rep_id",
        "score_band": "score_band",
        "qualification": "qualification",
    }.get(dimension)
    if column is None:
        raise ValueError(f"unknown dimension {dimension!r}")
    return F(column)


def _cohort(model: Any, filters: RevenueFilters) -> QuerySet[Any]:
    """The rollup rows (counts or durations) of the promotion days in range."""
    qs = model.objects.filter(day__gte=filters.date_from, day__lte=filters.date_to)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.campaign is not None:
        qs = qs.filter(campaign_id=filters.campaign)
    return qs.filter(team_id=filters.team) if filters.team is not None else qs


def histogram_percentile(counts: Sequence[tuple[int, int]], fraction: float) -> float | None:
    """percentile_cont over a histogram: (value, how many) pairs, as if every value were
    listed (linear interpolation between the closest ranks)."""
    ordered = sorted((value, n) for value, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    position = fraction * (total - 1)
    low_rank = math.floor(position)
    high_rank = min(low_rank + 1, total - 1)
    low = high = None
    seen = 0
    for value, n in ordered:
        if low is None and low_rank < seen + n:
            low = value
        if high_rank < seen + n:
            high = value
            break
        seen += n
    assert low is not None and high is not None
    return low + (high - low) * (position - low_rank)


def _hours_to_days(hours: float | None) -> float | None:
    return None if hours is None else round(hours / 24, 2)


DURATION_NAMES = {"sql": "to_sql", "opportunity": "to_opportunity", "won": "to_won"}


def _assemble(
    dimension: str,
    counts: Iterable[tuple[Any, dict[str, Any]]],
    histogram: Iterable[tuple[Any, str, int, int]] | None,
) -> dict[Any, dict[str, Any]]:
    """key -> counts and sums, and (given the histogram rows: key, metric, hours, how many)
    `<duration>_median` and `<duration>_p90` in days. Days are folded into weeks for the
    cohort week."""
    fold = _monday if dimension == "cohort_week" else None
    result: dict[Any, dict[str, Any]] = {}
    for key, row in counts:
        if fold is None:
            result[key] = row
            continue
        into = result.setdefault(fold(key), dict.fromkeys(row, None))
        for name, value in row.items():
            if value is not None:
                into[name] = value if into[name] is None else into[name] + value
    if histogram is None:
        return result
    histograms: dict[Any, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for key, metric, hours, n in histogram:
        histograms[fold(key) if fold is not None else key][metric].append((hours, n))
    for key, row in result.items():
        for metric, name in DURATION_NAMES.items():
            found = histograms.get(key, {}).get(metric, [])
            row[f"{name}_median"] = _hours_to_days(histogram_percentile(found, 0.5))
            row[f"{name}_p90"] = _hours_to_days(histogram_percentile(found, 0.9))
    return result


# table -> (the slice it reads, the column it groups by; None: all rows together). Team and
# cohort week read the `total` slice (team and day are in every slice's key).
SLICE_OF = {
    "totals": ("total", None),
    "team": ("total", "team_id"),
    "cohort_week": ("total", "day"),
    "source": ("source", "value"),
    "campaign": ("campaign", "value"),
    "score_band": ("score_band", "value"),
    "rep": ("rep", "value"),
    "qualification": ("qualification", "value"),
}
_INT_VALUES = frozenset({"campaign", "rep"})  # ids kept as text in the slice's value


def _slice(model: Any, dimension: str, filters: RevenueFilters) -> QuerySet[Any]:
    """The slice rows of one table's dimension, of the promotion days (and team) in range."""
    qs = model.objects.filter(
        dimension=SLICE_OF[dimension][0], day__gte=filters.date_from, day__lte=filters.date_to
    )
    return qs.filter(team_id=filters.team) if filters.team is not None else qs


def _slice_key(dimension: str, value: Any) -> Any:
    if dimension in _INT_VALUES and value is not None:
        return int(value)
    return value


def _rolled_up(dimension: str, filters: RevenueFilters, *, durations: bool) -> dict[Any, dict]:
    """One dimension: one GROUP BY over its slice (or, filtered by source or campaign, over the
    whole rollup), one over the histograms."""
    if filters.source or filters.campaign is not None:
        return _rolled_up_detail(dimension, filters, durations=durations)
    _, column = SLICE_OF[dimension]
    group = F(column) if column is not None else Value(0, IntegerField())
    company = Q(currency=settings.DEFAULT_CURRENCY)
    rows = (
        _slice(RevenueSlice, dimension, filters)
        .annotate(k=group)
        .values("k")
        .annotate(
            mqls=Sum("mqls"),
            sqls=Sum("sqls"),
            opportunities=Sum("opportunities"),
            won=Sum("won"),
            lost=Sum("lost"),
            won_priced=Sum("won_priced", filter=company),
            won_amount=Sum("won_amount", filter=company),
            pipeline_amount=Sum("pipeline_amount", filter=company),
        )
        .order_by()
    )
    counts = [(_slice_key(dimension, row.pop("k")), row) for row in rows]
    histogram = None
    if durations:
        histogram = [
            (_slice_key(dimension, k), metric, hours, n)
            for k, metric, hours, n in _slice(RevenueSliceDuration, dimension, filters)
            .annotate(k=group)
            .values_list("k", "metric", "hours")
            .annotate(count=Sum("n"))
            .order_by()
        ]
    return _assemble(dimension, counts, histogram)


def _rolled_up_detail(
    dimension: str, filters: RevenueFilters, *, durations: bool
) -> dict[Any, dict]:
    """One dimension: one GROUP BY over the rollup, one over the histograms."""
    group = _rollup_group(dimension)
    company = Q(currency=settings.DEFAULT_CURRENCY)
    keyed = _cohort(RevenueRollup, filters).annotate(
        k=group if group is not None else Value(0, IntegerField())
    )
    rows = (
        keyed.values("k")
        .annotate(
            mqls=Sum("mqls"),
            sqls=Sum("sqls"),
            opportunities=Sum("opportunities"),
            won=Sum("won"),
            lost=Sum("lost"),
            won_priced=Sum("won_priced", filter=company),
            won_amount=Sum("won_amount", filter=company),
            pipeline_amount=Sum("pipeline_amount", filter=company),
        )
        .order_by()
    )
    counts = [(row.pop("k"), row) for row in rows]
    histogram = None
    if durations:
        histogram = (
            _cohort(RevenueDuration, filters)
            .annotate(k=group if group is not None else Value(0, IntegerField()))
            .values_list("k", "metric", "hours")
            .annotate(count=Sum("n"))
            .order_by()
        )
    return _assemble(dimension, counts, histogram)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def money(value: Decimal | None) -> str:
    """An amount as the API writes it: a string with two decimals."""
    return f"{(value or Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)}"


_money = money


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _row(key: Any, label: str, h: Mapping[str, Any], o: Mapping[str, Any]) -> dict[str, Any]:
    mqls = h.get("mqls") or 0
    won, lost = o.get("won") or 0, o.get("lost") or 0
    won_amount = o.get("won_amount") or Decimal(0)
    won_priced = o.get("won_priced") or 0
    return {
        "key": key,
        "label": label,
        "mqls": mqls,
        "sqls": h.get("sqls") or 0,
        "opportunities": o.get("opportunities") or 0,
        "won": won,
        "lost": lost,
        "win_rate": _ratio(won, won + lost),
        "won_amount": _money(won_amount),
        "pipeline_amount": _money(o.get("pipeline_amount")),
        "avg_deal": _money(won_amount / won_priced) if won_priced else None,
        "won_amount_per_mql": _money(won_amount / mqls) if mqls else None,
        "days_to_sql_median": h.get("to_sql_median"),
        "days_to_sql_p90": h.get("to_sql_p90"),
        "days_to_opportunity_median": o.get("to_opportunity_median"),
        "days_to_opportunity_p90": o.get("to_opportunity_p90"),
        "days_to_won_median": o.get("to_won_median"),
        "days_to_won_p90": o.get("to_won_p90"),
    }


def _labels(dimension: str, keys: Iterable[Any]) -> dict[Any, str]:
    keys = [k for k in keys if k is not None]
    if dimension == "source":
        return {k: str(Source(k).label) if k in Source.values else (k or "Unknown") for k in keys}
    if dimension == "campaign":
        return dict(Campaign.objects.filter(pk__in=keys).values_list("pk", "name"))
    if dimension == "team":
        return dict(Team.objects.filter(pk__in=keys).values_list("pk", "name"))
    if dimension == "rep":
        users = get_user_model().objects.filter(pk__in=keys)
        return {u.pk: (f"{u.first_name} {u.last_name}".strip() or u.get_username()) for u in users}
    if dimension == "qualification":
        return {k: QUALIFICATION_LABELS.get(k, str(k)) for k in keys}
    return {k: str(k) for k in keys}


def _week_key(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return str(value.isoformat())


NO_LABEL = {"campaign": "No campaign", "team": "No team", "rep": "Unassigned", "source": "Unknown"}


def by_dimension(
    dimension: str, filters: RevenueFilters, *, durations: bool = True
) -> list[dict[str, Any]]:
    """One row per group of the dimension (`totals`: one row), figures as the module says,
    read from the revenue rollup. `durations=False` leaves the days out (None): one query."""
    rolled = _rolled_up(dimension, filters, durations=durations)
    handoffs = opportunities = rolled
    if dimension == "cohort_week":
        handoffs = {_week_key(k): v for k, v in handoffs.items()}
        opportunities = {_week_key(k): v for k, v in opportunities.items()}
    keys = set(handoffs) | set(opportunities)
    if dimension == "score_band":
        keys |= {label for _, label in score_bands()}
    if dimension == "qualification":
        keys |= set(QUALIFICATION_LABELS)
    labels = _labels(dimension, keys)
    rows = [
        _row(
            key,
            labels.get(key) or NO_LABEL.get(dimension, str(key)),
            handoffs.get(key, {}),
            opportunities.get(key, {}),
        )
        for key in keys
    ]
    if dimension == "score_band":
        order = {label: i for i, (_, label) in enumerate(score_bands())}
        return sorted(rows, key=lambda r: order.get(r["key"], len(order)))
    if dimension == "cohort_week":
        return sorted(rows, key=lambda r: r["key"] or "")
    if dimension == "qualification":
        return sorted(rows, key=lambda r: list(QUALIFICATION_LABELS).index(r["key"]))
    return sorted(rows, key=lambda r: (-Decimal(r["won_amount"]), -r["mqls"], str(r["label"])))


def other_currencies(filters: RevenueFilters) -> list[dict[str, Any]]:
    """Won and open amounts in currencies other than the company's, each apart (one query
    over the rollup)."""
    source = (
        _cohort(RevenueRollup, filters)
        if filters.source or filters.campaign is not None
        else _slice(RevenueSlice, "totals", filters)
    )
    rows = (
        source.exclude(currency__in=["", settings.DEFAULT_CURRENCY])
        .values("currency")
        .annotate(
            opportunities=Sum("opportunities"),
            won=Sum("won"),
            won_amount=Sum("won_amount"),
            pipeline_amount=Sum("pipeline_amount"),
        )
        .order_by("currency")
    )
    return [
        {
            "currency": r["currency"],
            "opportunities": r["opportunities"],
            "won": r["won"],
            "won_amount": _money(r["won_amount"]),
            "pipeline_amount": _money(r["pipeline_amount"]),
        }
        for r in rows
    ]


def as_of() -> dt.datetime | None:
    """When the revenue rollup was last refreshed: the figures are as of then (None: never)."""
    return rollup.last_refresh()


def revenue_metrics(filters: RevenueFilters) -> dict[str, Any]:
    """Everything the revenue API, the dashboard section and the feedback report show: two
    queries per table. (One GROUPING SETS scan for every table measured slower on PostgreSQL:
    it sorts the histograms once per set.)"""
    totals = by_dimension("totals", filters)
    total = totals[0] if totals else _row(0, "All", {}, {})
    total.pop("key", None)
    total.pop("label", None)
    total["other_currencies"] = other_currencies(filters)
    return {
        "currency": settings.DEFAULT_CURRENCY,
        # The figures are the rollup's: as of its last refresh (changes since are counted by the
        # next one, within a minute).
        "as_of": as_of(),
        "filters": filters.as_dict(),
        "totals": total,
        **{f"by_{dim}": by_dimension(dim, filters) for dim in DIMENSIONS},
        "time_to_conversion": {
            "to_sql": {
                "median_days": total["days_to_sql_median"],
                "p90_days": total["days_to_sql_p90"],
            },
            "to_opportunity": {
                "median_days": total["days_to_opportunity_median"],
                "p90_days": total["days_to_opportunity_p90"],
            },
            "to_won": {
                "median_days": total["days_to_won_median"],
                "p90_days": total["days_to_won_p90"],
            },
        },
    }


def won_in_range(*, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Deals won between two moments (the dashboard's "won this quarter"), company currency."""
    row = Opportunity.objects.filter(stage=Stage.WON, won_at__gte=start, won_at__lt=end).aggregate(
        won=Count("id"),
        won_amount=Sum("amount", filter=Q(currency=settings.DEFAULT_CURRENCY)),
    )
    return {"won": row["won"], "won_amount": _money(row["won_amount"])}


def won_by_source(*, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Deals won between two moments by their frozen source, most revenue first (company
    currency; deals in other currencies counted in `won`, never summed): one GROUP BY."""
    rows = (
        Opportunity.objects.filter(stage=Stage.WON, won_at__gte=start, won_at__lt=end)
        .values("source")
        .annotate(
            won=Count("id"),
            won_amount=Sum("amount", filter=Q(currency=settings.DEFAULT_CURRENCY)),
        )
        .order_by()
    )
    labels = _labels("source", [r["source"] for r in rows])
    result = [
        {
            "key": r["source"],
            "label": labels.get(r["source"]) or NO_LABEL["source"],
            "won": r["won"],
            "won_amount": money(r["won_amount"]),
        }
        for r in rows
    ]
    return sorted(result, key=lambda r: (-Decimal(r["won_amount"]), -r["won"], r["label"]))


def open_pipeline() -> dict[str, Any]:
    """Every open opportunity now, whatever its cohort (company currency)."""
    row = Opportunity.objects.filter(stage=Stage.OPEN).aggregate(
        open=Count("id"),
        pipeline_amount=Sum("amount", filter=Q(currency=settings.DEFAULT_CURRENCY)),
    )
    return {"open": row["open"], "pipeline_amount": _money(row["pipeline_amount"])}


def lost_reasons_by(dimension: str, filters: RevenueFilters) -> list[dict[str, Any]]:
    """Lost deals of the cohort by source or campaign, with their reason mix, most lost first:
    one GROUP BY (dimension, reason) and the labels."""
    group = _group(dimension, table="opportunity")
    rows = (
        cohort_opportunities(filters)
        .filter(stage=Stage.LOST)
        .annotate(k=group)
        .values("k", "lost_reason_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    reasons = {r.pk: r for r in LostReason.objects.all()}
    grouped: dict[Any, list[tuple[int | None, int]]] = defaultdict(list)
    for row in rows:
        grouped[row["k"]].append((row["lost_reason_id"], row["n"]))
    labels = _labels(dimension, grouped)
    result = []
    for key, mix in grouped.items():
        lost = sum(n for _, n in mix)
        entries = []
        for reason_id, n in sorted(mix, key=lambda item: -item[1]):
            reason = reasons.get(reason_id) if reason_id is not None else None
            entries.append(
                {
                    "code": reason.code if reason else "",
                    "label": reason.label if reason else "No reason recorded",
                    "category": reason.category if reason else "",
                    "count": n,
                    "share": _ratio(n, lost),
                }
            )
        result.append(
            {
                "key": key,
                "label": labels.get(key) or NO_LABEL.get(dimension, str(key)),
                "lost": lost,
                "reasons": entries,
            }
        )
    return sorted(result, key=lambda r: (-r["lost"], str(r["label"])))


def won_by_score_threshold(
    *, start: dt.datetime | None, end: dt.datetime | None, thresholds: Sequence[int], **q: Any
) -> dict[int, dict[str, Any]]:
    """Won deals (company currency) by the highest candidate threshold their frozen score
    reaches (-1: below every candidate): one GROUP BY. `q` filters on the attribution."""
    bucket = Case(
        *[When(score__gte=t, then=Value(t)) for t in sorted(thresholds, reverse=True)],
        default=Value(-1),
        output_field=IntegerField(),
    )
    qs = Opportunity.objects.filter(stage=Stage.WON, **q)
    if start is not None:
        qs = qs.filter(promoted_at__gte=start)
    if end is not None:
        qs = qs.filter(promoted_at__lt=end)
    rows = (
        qs.annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            won=Count("id"),
            won_amount=Sum("amount", filter=Q(currency=settings.DEFAULT_CURRENCY)),
        )
        .order_by()
    )
    return {
        r["bucket"]: {"won": r["won"], "won_amount": r["won_amount"] or Decimal(0)} for r in rows
    }


def advisor_counts(
    *,
    thresholds: Sequence[int],
    date_from: dt.date | None,
    date_to: dt.date | None,
    team: int | None,
) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, Any]]]:
    """The threshold advisor's figures from its rollup (`RevenueScore`: day x team x score):
    handoffs by the highest candidate threshold their score reaches (-1: below every one) with
    sent, accepted, qualified and returned, and the won deals and company-currency amounts by
    the same buckets. One GROUP BY over a few thousand rows; as of the last refresh."""
    qs = RevenueScore.objects.all()
    if date_from is not None:
        qs = qs.filter(day__gte=date_from)
    if date_to is not None:
        qs = qs.filter(day__lte=date_to)
    if team is not None:
        qs = qs.filter(team_id=team)
    bucket = Case(
        *[When(score__gte=t, then=Value(t)) for t in sorted(thresholds, reverse=True)],
        default=Value(-1),
        output_field=IntegerField(),
    )
    rows = (
        qs.annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            sent=Sum("sent"),
            accepted=Sum("accepted"),
            qualified=Sum("qualified"),
            returned=Sum("returned"),
            won=Sum("won"),
            won_amount=Sum("won_amount"),
        )
        .order_by()
    )
    handoffs: dict[int, dict[str, int]] = {}
    won: dict[int, dict[str, Any]] = {}
    for r in rows:
        handoffs[r["bucket"]] = {
            n: r[n] or 0 for n in ("sent", "accepted", "qualified", "returned")
        }
        if r["won"]:
            won[r["bucket"]] = {"won": r["won"], "won_amount": r["won_amount"] or Decimal(0)}
    return handoffs, won


# --- the documented shape ---------------------------------------------------------------------


class RevenueRowSerializer(serializers.Serializer):
    key = serializers.JSONField(allow_null=True)
    label = serializers.CharField()  # type: ignore[assignment]
    mqls = serializers.IntegerField()
    sqls = serializers.IntegerField()
    opportunities = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    won_amount = serializers.CharField()
    pipeline_amount = serializers.CharField()
    avg_deal = serializers.CharField(allow_null=True)
    won_amount_per_mql = serializers.CharField(allow_null=True)
    days_to_sql_median = serializers.FloatField(allow_null=True)
    days_to_sql_p90 = serializers.FloatField(allow_null=True)
    days_to_opportunity_median = serializers.FloatField(allow_null=True)
    days_to_opportunity_p90 = serializers.FloatField(allow_null=True)
    days_to_won_median = serializers.FloatField(allow_null=True)
    days_to_won_p90 = serializers.FloatField(allow_null=True)


class RevenuePercentiles(serializers.Serializer):
    median_days = serializers.FloatField(allow_null=True)
    p90_days = serializers.FloatField(allow_null=True)


class TimeToConversion(serializers.Serializer):
    to_sql = RevenuePercentiles()
    to_opportunity = RevenuePercentiles()
    to_won = RevenuePercentiles()


class RevenueMetricsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    as_of = serializers.DateTimeField(
        allow_null=True,
        help_text="When the revenue rollup was last refreshed (beat, every minute): the figures "
        "are as of then. Null: never refreshed (run manage.py rebuild_revenue_rollup).",
    )
    filters = serializers.DictField()
    totals = serializers.DictField()
    by_source = RevenueRowSerializer(many=True)
    by_campaign = RevenueRowSerializer(many=True)
    by_score_band = RevenueRowSerializer(many=True)
    by_team = RevenueRowSerializer(many=True)
    by_rep = RevenueRowSerializer(many=True)
    by_cohort_week = RevenueRowSerializer(many=True)
    by_qualification = RevenueRowSerializer(many=True)
    time_to_conversion = TimeToConversion()

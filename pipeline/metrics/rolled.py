"""The revenue rollup read per table: one GROUP BY over a dimension's slice (or, filtered by
source or campaign, the whole rollup) and one over its hour histograms, the median and p90
being percentile_cont over the histogram (linear interpolation)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db.models import (
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
)

from pipeline.metrics.filters import RevenueFilters, _cohort
from pipeline.models import (
    RevenueDuration,
    RevenueRollup,
    RevenueSlice,
    RevenueSliceDuration,
)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """percentile_cont in Python: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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

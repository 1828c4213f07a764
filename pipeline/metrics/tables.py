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

This module: the tables of the answer (`revenue_metrics`, `by_dimension`, the other currencies).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Sum,
)
from django.utils import timezone

from handoff.models import Team
from leads.models import Campaign, Source
from leads.selectors import score_bands
from pipeline import rollup
from pipeline.metrics.filters import RevenueFilters, _cohort
from pipeline.metrics.rolled import _rolled_up, _slice
from pipeline.models import (
    RevenueRollup,
    RevenueSlice,
)

DIMENSIONS = ("source", "campaign", "score_band", "team", "rep", "cohort_week", "qualification")
# PQLs (product usage criteria matched at promotion) beside MQLs (promoted on their score).
QUALIFICATION_LABELS = {"pql": "PQL (product usage)", "mql": "MQL (score)"}
CENT = Decimal("0.01")


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

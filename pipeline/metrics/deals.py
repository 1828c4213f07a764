"""Deal figures read from the opportunities themselves (not the rollup): won in a range, won by
source, the open pipeline now, lost reasons by source or campaign, and the threshold advisor's
won deals and rollup counts by score bucket."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncWeek

from pipeline import rollup
from pipeline.metrics.filters import RevenueFilters, cohort_opportunities
from pipeline.metrics.tables import NO_LABEL, _labels, _money, _ratio, money
from pipeline.models import (
    LostReason,
    Opportunity,
    RevenueScore,
)
from pipeline.states import Stage


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

"""The MQL threshold advisor: for each candidate threshold, what sales decided on the handoffs
it would have sent and the won revenue it would have kept, and the suggested threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, IntegerField, Q, Value, When

from core.timefmt import day_start as _day_start
from feedback.selectors.filters import (
    ACCEPTED_OUTCOME,
    MetricsFilters,
    handoffs_for_metrics,
)
from feedback.selectors.outcomes import _rate
from handoff.states import Status
from leads.models import ScoringConfig
from pipeline.metrics import advisor_counts, won_by_score_threshold

THRESHOLD_RULE = (
    "The suggested MQL threshold is the lowest candidate threshold at which sales accepted at "
    "least {target:.0%} of the decided handoffs (accepted or returned) scoring at or above it, "
    "counting only thresholds with at least {min_decided} decided handoffs."
)
REVENUE_RULE = (
    "The revenue threshold is the candidate that keeps at least {share:.0%} of the won revenue "
    "(company currency, by each deal's score at promotion) with the fewest MQLs sent."
)


def _thresholds(thresholds: Sequence[int] | None = None) -> list[int]:
    return sorted(set(thresholds or settings.FEEDBACK_THRESHOLD_CANDIDATES))


def _threshold_bucket(thresholds: Sequence[int]) -> Case:
    """The highest candidate threshold a handoff's score reaches (-1: none)."""
    return Case(
        *[When(score_snapshot__gte=t, then=Value(t)) for t in reversed(thresholds)],
        default=Value(-1),
        output_field=IntegerField(),
    )


def threshold_advisor(
    filters: MetricsFilters | None = None,
    *,
    thresholds: Sequence[int] | None = None,
    target: float | None = None,
    min_decided: int | None = None,
    bucket_rows: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """For each candidate MQL threshold t: the handoffs that would have been sent (score
    snapshot >= t), how many sales decided on and what share it accepted, from the recorded
    outcomes; and the suggested threshold (THRESHOLD_RULE).

    One query over the advisor's rollup (pipeline.rollup: day x team x score, as of its last
    refresh; filtered by source or campaign, two over the raw handoffs and deals): counts by the
    highest candidate threshold a score reaches; "score >= t" is then the sum of the groups at
    or above t (a running sum over at most one row per candidate).

    It can only judge what was sent: scores below the threshold marketing used then are seen
    only when a marketer promoted such a lead by hand.
    """
    thresholds = _thresholds(thresholds)
    target = settings.FEEDBACK_TARGET_ACCEPTANCE if target is None else target
    min_decided = settings.FEEDBACK_MIN_DECIDED if min_decided is None else min_decided
    f = filters or MetricsFilters()
    by_bucket: Mapping[int, Mapping[str, Any]]
    if bucket_rows is not None:
        # The feedback payload's one pass over the handoffs counted the buckets already.
        by_bucket = {row["bucket"]: row for row in bucket_rows}
        won = _won_by_threshold(f, thresholds)
    elif not f.source and f.campaign is None:
        # Date range and team: the advisor's rollup (pipeline.metrics; as of its last refresh).
        by_bucket, won = advisor_counts(
            thresholds=thresholds, date_from=f.date_from, date_to=f.date_to, team=f.team
        )
    else:
        by_bucket, won = _raw_buckets(f, thresholds), _won_by_threshold(f, thresholds)
    all_sent = sum(row["sent"] for row in by_bucket.values())
    won_total = sum(row["won"] for row in won.values())
    revenue_total = sum((row["won_amount"] for row in won.values()), Decimal(0))
    won_kept, revenue_kept = 0, Decimal(0)
    running: dict[str, int] = dict.fromkeys(("sent", "accepted", "qualified", "returned"), 0)
    result_rows: list[dict[str, Any]] = []
    for t in reversed(thresholds):
        for name in running:
            running[name] += by_bucket.get(t, {}).get(name, 0)
        won_kept += won.get(t, {}).get("won", 0)
        revenue_kept += won.get(t, {}).get("won_amount", Decimal(0))
        accepted, returned = running["accepted"], running["returned"]
        decided = accepted + returned
        rate = _rate(accepted, decided)
        result_rows.append(
            {
                "threshold": t,
                "sent": running["sent"],
                "share_of_sent": _rate(running["sent"], all_sent),
                "decided": decided,
                "accepted": accepted,
                "qualified": running["qualified"],
                "returned": returned,
                "acceptance_rate": rate,
                "sql_rate": _rate(running["qualified"], decided),
                "meets_target": rate is not None and decided >= min_decided and rate >= target,
                "won_kept": won_kept,
                "won_lost": won_total - won_kept,
                "won_revenue_kept": f"{revenue_kept:.2f}",
                "won_revenue_lost": f"{revenue_total - revenue_kept:.2f}",
                "revenue_share_kept": float(round(revenue_kept / revenue_total, 4))
                if revenue_total
                else None,
            }
        )
    result_rows.reverse()
    suggested = next((row["threshold"] for row in result_rows if row["meets_target"]), None)
    keep = settings.PIPELINE_REVENUE_KEEP_SHARE
    keeping = [
        row
        for row in result_rows
        if row["revenue_share_kept"] is not None and row["revenue_share_kept"] >= keep
    ]
    revenue_threshold = (
        min(keeping, key=lambda row: (row["sent"], -row["threshold"]))["threshold"]
        if keeping
        else None
    )
    return {
        "target_acceptance": target,
        "min_decided": min_decided,
        "current_threshold": _current_threshold(),
        "suggested_threshold": suggested,
        "rule": THRESHOLD_RULE.format(target=target, min_decided=min_decided),
        "revenue_threshold": revenue_threshold,
        "revenue_rule": REVENUE_RULE.format(share=keep),
        "won_deals": won_total,
        "won_revenue": f"{revenue_total:.2f}",
        "currency": settings.DEFAULT_CURRENCY,
        "handoffs": all_sent,
        "rows": result_rows,
    }


def _raw_buckets(f: MetricsFilters, thresholds: Sequence[int]) -> dict[int, Mapping[str, Any]]:
    """The advisor's handoff counts by threshold bucket, read from the handoffs (filtered by
    source or campaign, which its rollup does not key)."""
    rows = (
        handoffs_for_metrics(f)
        .annotate(bucket=_threshold_bucket(thresholds))
        .values("bucket")
        .annotate(
            sent=Count("id"),
            accepted=Count("id", filter=Q(status__in=ACCEPTED_OUTCOME)),
            qualified=Count("id", filter=Q(status=Status.QUALIFIED)),
            returned=Count("id", filter=Q(status=Status.RETURNED)),
        )
        .order_by()
    )
    return {row["bucket"]: row for row in rows}


def _won_by_threshold(
    filters: MetricsFilters | None, thresholds: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """Won deals of the same promotion cohort by threshold bucket (pipeline.metrics)."""
    f = filters or MetricsFilters()
    q: dict[str, Any] = {}
    if f.team is not None:
        q["team_id"] = f.team
    if f.source:
        q["source"] = f.source
    if f.campaign is not None:
        q["campaign_id"] = f.campaign
    return won_by_score_threshold(
        start=_day_start(f.date_from) if f.date_from else None,
        end=_day_start(f.date_to + dt.timedelta(days=1)) if f.date_to else None,
        thresholds=thresholds,
        **q,
    )


def _current_threshold() -> int | None:
    config = ScoringConfig.objects.order_by("pk").first()
    return config.mql_threshold if config else None

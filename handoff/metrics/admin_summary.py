"""The admin changelist's SLA summary of any filtered handoff queryset."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from handoff.filters import at_risk_q
from handoff.metrics.durations import (
    ACCEPT_ROWS_LIMIT,
    PercentileCont,
    has_percentile_cont,
    percentiles,
    rounded,
    wall_minutes,
    wall_minutes_expression,
)
from handoff.metrics.filters import rate
from handoff.metrics.outcomes import met_q, missed_q, open_breach_q
from handoff.models import Handoff


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
        aggregates["median"] = PercentileCont(wall_minutes_expression(), 0.5, filter=was_accepted)
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
            wall.append(wall_minutes(created, accepted, paused))
            if minutes is not None:
                business.append(minutes)
        counts["median"] = percentiles(wall)[0]
        counts["business_median"] = percentiles(business)[0]
    due, met = counts["due"] or 0, counts["met"] or 0
    return {
        "handoffs": counts["handoffs"] or 0,
        "met": met,
        "missed": due - met,
        "compliance": rate(met, due),
        "breached": counts["breached"] or 0,
        "at_risk": counts["at_risk"] or 0,
        "accepted": counts["accepted"] or 0,
        "median_minutes_to_accept": rounded(counts["median"]),
        "median_business_minutes_to_accept": rounded(counts["business_median"]),
    }

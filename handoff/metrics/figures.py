"""Every figure of the dashboard and the metrics API in one call: each read once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from handoff.metrics.accepts import accept_rows, accept_times_from
from handoff.metrics.cohort import cohort_rows, funnel_from, sources_from
from handoff.metrics.filters import SlaFilters
from handoff.metrics.groups import groups_from
from handoff.metrics.open_lists import OPEN_LIST_SIZE, open_counts, open_now_from
from handoff.metrics.outcomes import compliance_from, outcome_rows, weekly_from


def sla_metrics(filters: SlaFilters, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard and the metrics API show, as plain dicts and lists: each of
    the four reads once, then the team and rep names and the two open lists (ten queries)."""
    now = now or timezone.now()
    cohort = cohort_rows(filters)
    outcomes = outcome_rows(filters, now=now)
    accepts = accept_rows(filters)
    open_rows = open_counts(now=now, team=filters.team)
    return {
        "filters": filters.as_dict(),
        "generated_at": now,
        "funnel": funnel_from(cohort),
        "compliance": compliance_from(outcomes),
        "weekly": weekly_from(outcomes, filters),
        "time_to_accept": accept_times_from(accepts),
        "open_now": open_now_from(open_rows, now=now, team=filters.team, limit=OPEN_LIST_SIZE),
        "by_team": groups_from("team", cohort, outcomes, accepts, open_rows),
        "by_rep": groups_from("rep", cohort, outcomes, accepts, open_rows),
        "by_source": sources_from(cohort),
    }

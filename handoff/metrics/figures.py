"""The public figures: each SLA figure of a range, and all of them at once (sla_metrics: each
read once). The counts come from the dashboard's daily rollup (rolled.py, brought up to date
first), time to accept and "open now" from the handoffs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from handoff.metrics import rolled
from handoff.metrics.accepts import accept_rows, accept_times_from
from handoff.metrics.cohort import funnel_from, kinds_from, sources_from
from handoff.metrics.filters import SlaFilters
from handoff.metrics.groups import groups_from
from handoff.metrics.open_lists import OPEN_LIST_SIZE, open_counts, open_now_from
from handoff.metrics.outcomes import compliance_from, weekly_from
from handoff.rollup import ensure_fresh


def funnel(filters: SlaFilters) -> dict[str, Any]:
    """MQL -> SAL -> SQL over the handoffs promoted in the range."""
    return funnel_from(rolled.promotion_rows(filters))


def funnel_by_kind(filters: SlaFilters) -> list[dict[str, Any]]:
    """The funnel for MQLs and PQLs side by side (cohort.kinds_from). The qualification path is
    the one frozen on the handoff at promotion (Handoff.pql_criteria: the PQL criteria the lead
    met then, empty for an MQL by score), so a lead that later stops or starts being a PQL never
    moves a past handoff between the columns."""
    return kinds_from(rolled.promotion_rows(filters))


def conversion_by_source(filters: SlaFilters) -> list[dict[str, Any]]:
    """The funnel per lead source at handover, largest first."""
    return sources_from(rolled.promotion_rows(filters))


def compliance(filters: SlaFilters, *, now: dt.datetime) -> dict[str, Any]:
    """Met / missed / compliance over the range and over this ISO week."""
    return compliance_from(rolled.outcome_rows(filters, now=now))


def weekly_compliance(filters: SlaFilters, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Compliance per ISO week of the range, every week listed."""
    return weekly_from(rolled.outcome_rows(filters, now=now), filters)


def by_group(dimension: str, filters: SlaFilters, *, now: dt.datetime) -> list[dict[str, Any]]:
    """Per team or per rep: handoffs, accepted, returned, compliance, median time to accept,
    open breaches now; busiest first."""
    zone = ensure_fresh()
    attempts, outcomes = rolled.rep_rows(filters, now=now, zone=zone)
    return groups_from(
        dimension,
        attempts,
        outcomes,
        accept_rows(filters, zone=zone),
        open_counts(now=now, team=filters.team),
    )


def sla_metrics(filters: SlaFilters, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard and the metrics API show, as plain dicts and lists: the rollup
    brought up to date (2 reads when nothing was written since its last check; about 10 after
    writes), its two reads (promotions; attempts and outcomes) and the unflagged breaches, the
    accepts, the open counts, the two open lists and the team and rep names (10 queries).
    `funnel_by_kind` is the MQL/PQL split (funnel_by_kind())."""
    now = now or timezone.now()
    zone = ensure_fresh()
    promotions = rolled.promotion_rows(filters, zone=zone)
    attempts, outcomes = rolled.rep_rows(filters, now=now, zone=zone)
    accepts = accept_rows(filters, zone=zone)
    open_rows = open_counts(now=now, team=filters.team)
    return {
        "filters": filters.as_dict(),
        "generated_at": now,
        "funnel": funnel_from(promotions),
        "compliance": compliance_from(outcomes),
        "weekly": weekly_from(outcomes, filters),
        "time_to_accept": accept_times_from(accepts),
        "open_now": open_now_from(open_rows, now=now, team=filters.team, limit=OPEN_LIST_SIZE),
        "by_team": groups_from("team", attempts, outcomes, accepts, open_rows),
        "by_rep": groups_from("rep", attempts, outcomes, accepts, open_rows),
        "by_source": sources_from(promotions),
        "funnel_by_kind": kinds_from(promotions),
    }

"""Open breaches and at-risk handoffs right now: counts per team and rep, and the most urgent
of each kind with their clocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import Count, Q

from handoff.filters import at_risk_q
from handoff.metrics.outcomes import open_breach_q
from handoff.models import Handoff
from handoff.selectors import accept_clock_of_values, clock_label
from handoff.states import Status

OPEN_LIST_SIZE = 10


def open_counts(*, now: dt.datetime, team: int | None) -> list[dict[str, Any]]:
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


# What a listed row shows, read as values (no model instances: 20 rows of five joined tables).
_OPEN_VALUES = (
    "id", "lead_id", "lead__first_name", "lead__last_name", "lead__email", "lead__company",
    "assigned_to_id", "assigned_to__first_name", "assigned_to__last_name",
    "assigned_to__username", "team_id", "team__name", "due_at", "at_risk_at", "breached_at",
    "status", "responded_at", "remaining_business_minutes", "calendar_id",
    "calendar__updated_at", "team__calendar_id", "team__calendar__updated_at",
)  # fmt: skip


def _open_row(values: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A listed handoff: its lead, rep and team, and its accept clock (on the handoff's
    calendar, else its team's, as handoff_calendar; from the calendars' cache)."""
    clock = accept_clock_of_values(values, now)
    lead_name = f"{values['lead__first_name']} {values['lead__last_name']}".strip()
    rep = None
    if values["assigned_to_id"] is not None:
        rep_name = f"{values['assigned_to__first_name']} {values['assigned_to__last_name']}"
        rep = rep_name.strip() or values["assigned_to__username"]
    return {
        "id": values["id"],
        "lead_id": values["lead_id"],
        "lead": lead_name or values["lead__email"],
        "company": values["lead__company"],
        "rep": rep,
        "team": values["team__name"] if values["team_id"] is not None else None,
        "due_at": values["due_at"],
        "at_risk_at": values["at_risk_at"],
        "breached_at": values["breached_at"],
        "business_minutes_left": clock.business_minutes_left,
        "label": clock_label(clock),
    }


def open_now_from(
    open_rows: Sequence[Mapping[str, Any]], *, now: dt.datetime, team: int | None, limit: int
) -> dict[str, Any]:
    """Counts from the grouped read; the most urgent `limit` of each kind (one query each, as
    values; the clock of each listed row is computed in Python)."""
    base = Handoff.objects.filter(Q(team_id=team) if team is not None else Q())
    breached = base.filter(open_breach_q(now)).order_by("due_at", "id").values(*_OPEN_VALUES)
    at_risk = base.filter(at_risk_q(now)).order_by("due_at", "id").values(*_OPEN_VALUES)
    return {
        "breached": sum(r["breached"] for r in open_rows),
        "at_risk": sum(r["at_risk"] for r in open_rows),
        "breached_list": [_open_row(row, now) for row in breached[:limit]],
        "at_risk_list": [_open_row(row, now) for row in at_risk[:limit]],
    }


def open_now(
    *, now: dt.datetime, team: int | None = None, limit: int = OPEN_LIST_SIZE
) -> dict[str, Any]:
    """Open breaches and at-risk handoffs right now: counts and the most urgent `limit` of
    each, with their clocks (three queries)."""
    return open_now_from(open_counts(now=now, team=team), now=now, team=team, limit=limit)

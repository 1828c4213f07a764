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
from handoff.selectors import accept_clock, clock_label
from handoff.states import Status

OPEN_LIST_SIZE = 10
_UNREAD = (
    "policy_snapshot", "context_note", "score_breakdown", "engagement_snapshot", "pql_criteria",
    "history_snapshot", "routing", "auto_promotion", "info_question", "info_answer", "bant",
    "return_note",
)  # fmt: skip


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


def open_now_from(
    open_rows: Sequence[Mapping[str, Any]], *, now: dt.datetime, team: int | None, limit: int
) -> dict[str, Any]:
    """Counts from the grouped read; the most urgent `limit` of each kind (one query each; the
    clock of each listed row is computed in Python)."""
    base = Handoff.objects.filter(Q(team_id=team) if team is not None else Q())
    related = ("lead", "assigned_to", "team", "calendar", "team__calendar")
    # The rows' JSON and notes are never shown here: not read (nor decoded), 20 rows of them.
    unread = (*_UNREAD, *(f"lead__{name}" for name in ("score_breakdown", "pql_criteria")))
    breached = (
        base.filter(open_breach_q(now)).select_related(*related).defer(*unread)
        .order_by("due_at", "id")[:limit]
    )  # fmt: skip
    at_risk = (
        base.filter(at_risk_q(now)).select_related(*related).defer(*unread)
        .order_by("due_at", "id")[:limit]
    )  # fmt: skip
    return {
        "breached": sum(r["breached"] for r in open_rows),
        "at_risk": sum(r["at_risk"] for r in open_rows),
        "breached_list": [_open_row(h, now) for h in breached],
        "at_risk_list": [_open_row(h, now) for h in at_risk],
    }


def open_now(
    *, now: dt.datetime, team: int | None = None, limit: int = OPEN_LIST_SIZE
) -> dict[str, Any]:
    """Open breaches and at-risk handoffs right now: counts and the most urgent `limit` of
    each, with their clocks (three queries)."""
    return open_now_from(open_counts(now=now, team=team), now=now, team=team, limit=limit)

"""Time to accept: median and p90 over the accepts of a range, overall and per team and rep."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from handoff.metrics.durations import (
    ACCEPT_ROWS_LIMIT,
    has_percentile_cont,
    percentiles,
    rounded,
    wall_minutes,
    wall_minutes_expression,
)
from handoff.metrics.filters import SlaFilters, accepted_in, since, team_q
from handoff.models import Handoff


@dataclass(frozen=True)
class Accepts:
    """Time to accept over the accepts in the range: medians and p90s overall, and the medians
    of each team and each rep."""

    count: int
    wall: tuple[float | None, float | None]  # (median, p90), minutes
    business: tuple[float | None, float | None]
    basis: str  # "all", or "sample" when only the latest ACCEPT_ROWS_LIMIT were read
    # dimension ("team", "rep") -> key -> (wall median, business median)
    medians: dict[str, dict[Any, tuple[float | None, float | None]]]


def accept_rows(filters: SlaFilters) -> Accepts:
    """Time to accept, overall and per team and rep. One query.

    PostgreSQL computes the percentiles itself, over every accept of the range: one grouped
    read with GROUPING SETS ((), team, rep) and percentile_cont, a few dozen rows back instead
    of every accept (36,000 at 100,000 handoffs a year) sorted and fetched into Python.
    Elsewhere the latest ACCEPT_ROWS_LIMIT accepts are fetched and the same interpolation is
    done in Python."""
    low, _ = filters.bounds()
    qs = Handoff.objects.filter(accepted_in(filters), team_q(filters))
    if has_percentile_cont():
        # The accepted_at range alone: an index-only scan of handoff_accepts (the accepted rows
        # with what the percentiles read; migration 0017), not of every row written since.
        inner, params = (
            qs.annotate(wall=wall_minutes_expression())
            .values_list("team_id", "assigned_to_id", "wall", "accept_business_minutes")
            .order_by()
            .query.sql_with_params()
        )
        cont = "percentile_cont({}) WITHIN GROUP (ORDER BY {})"
        sql = (
            "SELECT GROUPING(team_id), GROUPING(assigned_to_id), team_id, assigned_to_id, "
            f"COUNT(*), {cont.format(0.5, 'wall')}, {cont.format(0.9, 'wall')}, "
            f"{cont.format(0.5, 'accept_business_minutes')}, "
            f"{cont.format(0.9, 'accept_business_minutes')} "
            f"FROM ({inner}) AS accepts GROUP BY GROUPING SETS ((), (team_id), (assigned_to_id))"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            grouped = cursor.fetchall()
        medians: dict[str, dict[Any, tuple[float | None, float | None]]] = {"team": {}, "rep": {}}
        count = 0
        wall: tuple[float | None, float | None] = (None, None)
        business: tuple[float | None, float | None] = (None, None)
        for by_team, by_rep, team, rep, n, w50, w90, b50, b90 in grouped:
            if by_team and by_rep:  # the grand total (both columns rolled up)
                count = n
                wall, business = (rounded(w50), rounded(w90)), (rounded(b50), rounded(b90))
            elif by_rep:  # rolled up over reps: one team
                medians["team"][team] = (rounded(w50), rounded(b50))
            else:
                medians["rep"][rep] = (rounded(w50), rounded(b50))
        return Accepts(count, wall, business, "all", medians)
    rows = [
        (team, rep, wall_minutes(created, accepted, paused), business)
        for team, rep, created, accepted, paused, business in qs.filter(
            since(low), accepted_at__isnull=False
        ).order_by("-accepted_at").values_list(
            "team_id", "assigned_to_id", "created_at", "accepted_at",
            "paused_seconds_total", "accept_business_minutes",
        )[: ACCEPT_ROWS_LIMIT + 1]
    ]  # fmt: skip
    capped = len(rows) > ACCEPT_ROWS_LIMIT
    rows = rows[:ACCEPT_ROWS_LIMIT]
    per: dict[str, dict[Any, tuple[list[float], list[float]]]] = {"team": {}, "rep": {}}
    for team, rep, wall_value, business_minutes in rows:
        for dimension, key in (("team", team), ("rep", rep)):
            walls, businesses = per[dimension].setdefault(key, ([], []))
            walls.append(wall_value)
            if business_minutes is not None:
                businesses.append(business_minutes)
    return Accepts(
        count=len(rows),
        wall=percentiles([r[2] for r in rows]),
        business=percentiles([r[3] for r in rows if r[3] is not None]),
        basis="sample" if capped else "all",
        medians={
            dimension: {
                key: (percentiles(walls)[0], percentiles(businesses)[0])
                for key, (walls, businesses) in groups.items()
            }
            for dimension, groups in per.items()
        },
    )


def accept_times_from(accepts: Accepts) -> dict[str, Any]:
    return {
        "accepted": accepts.count,
        "wall_minutes": {"median": accepts.wall[0], "p90": accepts.wall[1], "basis": accepts.basis},
        "business_minutes": {
            "median": accepts.business[0],
            "p90": accepts.business[1],
            "basis": accepts.basis,
        },
    }


def accept_times(filters: SlaFilters) -> dict[str, Any]:
    """Median and p90 time to accept over the accepts in the range, in wall and business
    minutes (one query)."""
    return accept_times_from(accept_rows(filters))

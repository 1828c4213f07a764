"""Time to accept: median and p90 over the accepts of a range, overall and per team and rep."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from psycopg.pq import Format

from core.bulksql import fast_cursor
from core.timefmt import day_start
from handoff.metrics.durations import (
    ACCEPT_ROWS_LIMIT,
    has_percentile_cont,
    percentile_cont,
    percentiles,
    rounded,
    wall_minutes,
)
from handoff.metrics.filters import SlaFilters, accepted_in, since, team_q
from handoff.metrics.rolled import full_weeks
from handoff.models import Handoff
from handoff.rollup import ensure_fresh
from handoff.rollup_accepts import TABLE as ACCEPT_WEEKS
from handoff.rollup_accepts import accepts_sql

ONE_DAY = dt.timedelta(days=1)
BINARY = Format.BINARY


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


def accept_rows(filters: SlaFilters, *, zone: str | None = None) -> Accepts:
    """Time to accept, overall and per team and rep, over every accept of the range. One query
    on PostgreSQL (plus the rollup's refresh when no zone is given).

    On PostgreSQL from time to accept's rollup (handoff.rollup_accepts): the sorted values of
    the range's full ISO weeks, and the raw values of its edge days, merged and interpolated
    here as percentile_cont does: the same figures as raw_accept_rows (which sorts every accept
    of the range in the database three times over) for a read of a few rows per rep and week.
    Elsewhere the latest ACCEPT_ROWS_LIMIT accepts are fetched and interpolated in Python."""
    if not has_percentile_cont():
        return _sampled(filters)
    zone = zone or ensure_fresh()
    sql, params = _week_and_edge_sql(filters, zone)
    pairs: dict[tuple[Any, Any], tuple[list[float], list[float]]] = {}
    with fast_cursor() as cursor:
        # Binary results: 36,000 doubles a year at 100,000 handoffs, read without parsing text.
        cursor.cursor.format = BINARY
        cursor.execute(sql, params)
        for team, rep, walls, businesses in cursor.fetchall():
            pair = pairs.get((team, rep))
            if pair is None:
                pair = pairs[(team, rep)] = ([], [])
            pair[0].extend(walls)
            pair[1].extend(businesses)
    return _from_pairs(pairs)


def _week_and_edge_sql(filters: SlaFilters, zone: str) -> tuple[str, list[Any]]:
    """(team, rep, wall values, business values) rows: the rollup's rows of the range's full
    ISO weeks, and the range's edge days' accepts grouped the same way."""
    first, last = full_weeks(filters.start, filters.end)
    parts: list[str] = []
    params: list[Any] = []
    edges = [(filters.start, filters.end)]
    if first <= last:
        team = " AND team_id = %s" if filters.team is not None else ""
        parts.append(
            f"SELECT team_id, rep_id, wall, business FROM {ACCEPT_WEEKS} "
            f"WHERE zone = %s AND week >= %s AND week <= %s{team}"
        )
        params += [zone, first, last, *([filters.team] if filters.team is not None else [])]
        edges = [
            (filters.start, first - ONE_DAY),
            (last + dt.timedelta(days=7), filters.end),
        ]
    # Each edge its own part: an index-only range scan of handoff_accepts each (one OR of the
    # two ranges is a bitmap scan of the table).
    for low, high in edges:
        if low > high:
            continue
        within = Q(accepted_at__gte=day_start(low), accepted_at__lt=day_start(high + ONE_DAY))
        inner, inner_params = accepts_sql(within & team_q(filters))
        parts.append(
            "SELECT team_id, assigned_to_id, array_agg(wall), COALESCE(array_agg("
            "accept_business_minutes) FILTER (WHERE accept_business_minutes IS NOT NULL), "
            f"'{{}}') FROM ({inner}) AS edge GROUP BY team_id, assigned_to_id"
        )
        params += inner_params
    return " UNION ALL ".join(parts), params


def _sorted_union(lists: list[list[float]]) -> list[float]:
    if len(lists) == 1:
        return lists[0]  # sorted already
    merged: list[float] = []
    for values in lists:
        merged.extend(values)
    merged.sort()  # sorted runs: merged, not sorted from scratch
    return merged


def _from_pairs(pairs: dict[tuple[Any, Any], tuple[list[float], list[float]]]) -> Accepts:
    """The figures from each (team, rep)'s values: each pair's sorted once, the teams' and the
    reps' merged from them, the whole range's from the teams'."""
    groups: dict[str, dict[Any, tuple[list[list[float]], list[list[float]]]]] = {
        "team": {},
        "rep": {},
    }
    for (team, rep), (walls, businesses) in pairs.items():
        walls.sort()
        businesses.sort()
        for dimension, key in (("team", team), ("rep", rep)):
            lists = groups[dimension].setdefault(key, ([], []))
            lists[0].append(walls)
            lists[1].append(businesses)
    medians: dict[str, dict[Any, tuple[float | None, float | None]]] = {"team": {}, "rep": {}}
    every: tuple[list[list[float]], list[list[float]]] = ([], [])
    for dimension, by_key in groups.items():
        for key, (wall_lists, business_lists) in by_key.items():
            walls, businesses = _sorted_union(wall_lists), _sorted_union(business_lists)
            medians[dimension][key] = (
                rounded(percentile_cont(walls, 0.5)),
                rounded(percentile_cont(businesses, 0.5)),
            )
            if dimension == "team":  # every value is in one team's: the whole from the teams'
                every[0].append(walls)
                every[1].append(businesses)
    wall = _sorted_union(every[0]) if every[0] else []
    business = _sorted_union(every[1]) if every[1] else []
    return Accepts(
        count=len(wall),
        wall=(rounded(percentile_cont(wall, 0.5)), rounded(percentile_cont(wall, 0.9))),
        business=(
            rounded(percentile_cont(business, 0.5)),
            rounded(percentile_cont(business, 0.9)),
        ),
        basis="all",
        medians=medians,
    )


def raw_accept_rows(filters: SlaFilters) -> Accepts:
    """accept_rows from the handoffs themselves (PostgreSQL): one grouped read with GROUPING
    SETS ((), team, rep) and percentile_cont over every accept of the range; what the rollup's
    figures must equal (the tests compare them)."""
    # The accepted_at range alone: an index-only scan of handoff_accepts (the accepted rows
    # with what the percentiles read; migration 0017), not of every row written since.
    inner, params = accepts_sql(accepted_in(filters) & team_q(filters))
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


def _sampled(filters: SlaFilters) -> Accepts:
    """Without percentile_cont: the latest ACCEPT_ROWS_LIMIT accepts of the range, in Python."""
    low, _ = filters.bounds()
    qs = Handoff.objects.filter(accepted_in(filters), team_q(filters))
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

"""Time to accept's rollup (PostgreSQL): per zone, ISO week (local, dated on its Monday), team
and rep, the minutes to accept of the handoffs accepted that week, as two sorted arrays (wall
minutes, business minutes; the accepts without business minutes left out of the second).

The arrays hold the very values the raw read sorts (the same expression, wall_minutes_expression,
computed by the same database), so percentiles taken over a range's week rows and its edge days'
raw rows equal percentile_cont over the range's handoffs (handoff.metrics.accepts, which also
keeps the raw read the tests compare with). The rows are kept with the dashboard's daily rollup
(handoff.rollup): the days a refresh recounts include the accept day of every handoff written
since the last check, and the weeks of those days are rewritten here from the handoffs (delete,
insert: idempotent). A handoff's accept time is set once, by the accept. The table (no model:
its columns are PostgreSQL arrays) is created by migration 0022; SQLite has none and computes
the percentiles from the handoffs.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Q

from handoff.models import Handoff

TABLE = "handoff_acceptweek"

# The week's sorted values, computed by the database from the raw read's own expression.
_INSERT = """
INSERT INTO handoff_acceptweek (zone, week, team_id, rep_id, wall, business)
SELECT %s, date_trunc('week', a.accepted_at AT TIME ZONE %s)::date, a.team_id, a.assigned_to_id,
       array_agg(a.wall ORDER BY a.wall),
       COALESCE(array_agg(a.accept_business_minutes ORDER BY a.accept_business_minutes)
                FILTER (WHERE a.accept_business_minutes IS NOT NULL), '{{}}')
FROM ({inner}) AS a
GROUP BY 2, 3, 4
"""


def enabled() -> bool:
    return connection.vendor == "postgresql"


def accepts_sql(where: Q) -> tuple[str, list[Any]]:
    """The accepted handoffs matching `where`: accepted_at, team_id, assigned_to_id, wall (the
    minutes to accept, wall_minutes_expression) and accept_business_minutes, as SQL."""
    from handoff.metrics.durations import wall_minutes_expression  # handoff.metrics reads us

    sql, params = (
        Handoff.objects.filter(where, accepted_at__isnull=False)
        .annotate(wall=wall_minutes_expression())
        .values_list("accepted_at", "team_id", "assigned_to_id", "wall", "accept_business_minutes")
        .order_by()
        .query.sql_with_params()
    )
    return sql, list(params)


def _week_runs(mondays: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive weeks folded into (first Monday, last Monday) runs."""
    runs: list[tuple[dt.date, dt.date]] = []
    for monday in sorted(mondays):
        if runs and runs[-1][1] + dt.timedelta(days=7) == monday:
            runs[-1] = (runs[-1][0], monday)
        else:
            runs.append((monday, monday))
    return runs


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def recount_weeks(zone_key: str, mondays: set[dt.date] | None) -> int:
    """Rewrite the zone's rows of those ISO weeks (all: None) from the handoffs; rows written.
    Two statements (a DELETE, an INSERT ... SELECT); nothing on SQLite."""
    if not enabled() or (mondays is not None and not mondays):
        return 0
    zone = zoneinfo.ZoneInfo(zone_key)
    where = Q()
    with connection.cursor() as cursor:
        if mondays is None:
            cursor.execute(f"DELETE FROM {TABLE} WHERE zone = %s", [zone_key])
        else:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE zone = %s AND week = ANY(%s)",
                [zone_key, sorted(mondays)],
            )
            for first, last in _week_runs(mondays):
                where |= Q(
                    accepted_at__gte=_midnight(first, zone),
                    accepted_at__lt=_midnight(last + dt.timedelta(days=7), zone),
                )
        inner, params = accepts_sql(where)
        cursor.execute(_INSERT.format(inner=inner), [zone_key, zone_key, *params])
        return int(cursor.rowcount)

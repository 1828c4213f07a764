"""The dashboard's daily rollup (DashboardDay), brought up to date when it is read.

The SLA figures of a range (handoff.metrics) read the rollup's days instead of a year of
handoffs: the funnel, the MQL/PQL split and the conversion by source from the PROMOTIONS rows,
the team and rep tables' attempts and the compliance (range, this week, by week) from the REPS
rows. Time to accept reads its own week rows (handoff.rollup_accepts, PostgreSQL: the sorted
values per ISO week, team and rep), kept here with the days; "open now" still reads the
handoffs (the pending ones).

Days are local dates in the reader's zone (pages show the viewer's zone), so a zone's rows are
built the first time it is read (`rebuild(zone)`: one pass over the handoffs), then kept:

- `ensure_fresh()` runs before a read, in one transaction holding the zone's DashboardRefresh
  row (SELECT ... FOR UPDATE: one refresh of a zone at a time). Every write to a handoff stamps
  `updated_at` (the services and the sweep do), so the handoffs written since the last check,
  less MARGIN for transactions that stamped before it and committed after (and any stamped
  after the latest stamp it saw, see ensure_fresh), name the stale days:
  their promotion day, the day of their SLA outcome and the day of their accept. Those days
  are recounted from the raw rows (delete, insert: idempotent, no delta to drift), with their
  weeks' time to accept rows, and the check time moves on.
- A handoff's promotion day never changes, its stored SLA outcome (handoff.models,
  `sla_outcome_at`) goes from none to a date once, and so does its accept time: the days a
  write names are all the days it moved. A write stamped before both bounds (a transaction
  open for longer than MARGIN, a restored database) waits for `rebuild_dashboard_rollup`.
- Each recounted day's ISO week is folded again from its day rows (PROMOTIONS_WEEK and
  REPS_WEEK: one INSERT ... SELECT SUM per week, in the database), so a long range reads a row per
  week for its full weeks and day rows only at its edges (handoff.metrics.rolled).
- `manage.py rebuild_dashboard_rollup` rewrites every zone's rows from the handoffs (after a
  bulk load or a restore; `seed_demo` runs it).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Case, Max, Q, Value, When
from django.utils import timezone

from handoff.models import Handoff
from handoff.models.dashboard import DashboardDay, DashboardRefresh
from handoff.rollup_accepts import recount_weeks
from handoff.states import Status

# Transactions that stamped updated_at before a check and committed after it are caught by the
# next check when they committed within this margin.
MARGIN = dt.timedelta(minutes=2)
BATCH = 2000
_TICK = dt.timedelta(microseconds=1)

_PQL = Case(
    When(pql_criteria=[], then=Value(False)), default=Value(True), output_field=BooleanField()
)
_FIELDS = (
    "created_at",
    "sla_outcome_at",
    "sla_met",
    "team_id",
    "assigned_to_id",
    "lead_source",
    "status",
    "accepted_at",
    "qualified_at",
    "is_pql",
)
_OPEN = (Status.PENDING, Status.WAITING)
_DAILY = (DashboardDay.Part.PROMOTIONS, DashboardDay.Part.REPS)
_WEEKLY = (DashboardDay.Part.PROMOTIONS_WEEK, DashboardDay.Part.REPS_WEEK)
# A part's week rows are that part plus this (PROMOTIONS -> PROMOTIONS_WEEK, REPS -> REPS_WEEK).
WEEKLY_OFFSET = DashboardDay.Part.PROMOTIONS_WEEK - DashboardDay.Part.PROMOTIONS
_DAILY_SQL = f"({_DAILY[0].value}, {_DAILY[1].value})"
_WEEKLY_SQL = f"({_WEEKLY[0].value}, {_WEEKLY[1].value})"


def zone_name(zone: dt.tzinfo | None = None) -> str:
    """The key of a zone's rows: the active zone's name (the viewer's on a page)."""
    return str(zone or timezone.get_current_timezone())


def _zone(name: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name)


def _day_bounds(day: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)


def _runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days folded into (first, last) runs."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _rows_of(days: set[dt.date] | None, zone: dt.tzinfo) -> Iterable[tuple[Any, ...]]:
    """The handoffs promoted on those days or with an SLA outcome dated on them (all: None)."""
    qs = Handoff.objects.all()
    if days is not None:
        where = Q()
        for first, last in _runs(days):
            low, _ = _day_bounds(first, zone)
            _, high = _day_bounds(last, zone)
            where |= Q(created_at__gte=low, created_at__lt=high)
            where |= Q(sla_outcome_at__gte=low, sla_outcome_at__lt=high)
        qs = qs.filter(where)
    return qs.annotate(is_pql=_PQL).values_list(*_FIELDS).order_by().iterator(chunk_size=BATCH)


def count(
    rows: Iterable[tuple[Any, ...]], zone_key: str, days: set[dt.date] | None
) -> list[DashboardDay]:
    """The rollup rows of those days (all: None) from the raw handoff rows (no query)."""
    zone = _zone(zone_key)
    promotions: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reps: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for created, outcome_at, met, team, rep, source, status, accepted, qualified, pql in rows:
        day = created.astimezone(zone).date()
        if days is None or day in days:
            counts = promotions[(day, team, source or "", bool(pql))]
            if status != Status.REASSIGNED:
                counts["mql"] += 1
                counts["sal"] += accepted is not None
                counts["sql"] += qualified is not None
            counts["returned"] += status == Status.RETURNED
            counts["open"] += status in _OPEN
            attempt = reps[(day, team, rep)]
            attempt["attempts"] += 1
            attempt["attempts_accepted"] += accepted is not None
            attempt["returned"] += status == Status.RETURNED
        if outcome_at is not None:
            day = outcome_at.astimezone(zone).date()
            if days is None or day in days:
                outcome = reps[(day, team, rep)]
                outcome["due"] += 1
                outcome["met"] += bool(met)
    part = DashboardDay.Part
    return [
        DashboardDay(zone=zone_key, day=day, part=part.PROMOTIONS, team_id=team, source=source,
                     pql=pql, **counts)
        for (day, team, source, pql), counts in promotions.items()
    ] + [
        DashboardDay(zone=zone_key, day=day, part=part.REPS, team_id=team, rep_id=rep, **counts)
        for (day, team, rep), counts in reps.items()
    ]  # fmt: skip


def _delete(zone_key: str, days: set[dt.date] | None) -> None:
    """One DELETE of those days' rows and of their weeks' rows (days None: every row of the
    zone). No collector: nothing refers to the rollup."""
    table = DashboardDay._meta.db_table
    with connection.cursor() as cursor:
        if days is None:
            cursor.execute(f"DELETE FROM {table} WHERE zone = %s", [zone_key])
            return
        mondays = {week_start(day) for day in days}
        cursor.execute(
            f"DELETE FROM {table} WHERE zone = %s AND ("
            f"(part IN {_DAILY_SQL} AND day IN ({', '.join(['%s'] * len(days))})) OR "
            f"(part IN {_WEEKLY_SQL} AND day IN ({', '.join(['%s'] * len(mondays))})))",
            [zone_key, *sorted(days), *sorted(mondays)],
        )


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


_COUNTS = ("mql", "sal", "sql", "returned", "open", "attempts", "attempts_accepted", "due", "met")
_KEYS = "zone, day, part, team_id, rep_id, source, pql, " + ", ".join(_COUNTS)
_SUMS = ", ".join(f"SUM({name})" for name in _COUNTS)
# The Monday of a date column, per database.
_MONDAY = {
    "postgresql": "date_trunc('week', day)::date",
    "sqlite": "date(day, 'weekday 0', '-6 days')",  # the Sunday on or after, less six days
}

# A week's rows are the sums of its day rows (both parts), dated on its Monday.
_FOLD_WEEKS = f"""
INSERT INTO {{day}} ({_KEYS})
SELECT zone, {{monday}}, part + {WEEKLY_OFFSET}, team_id, rep_id, source, pql, {_SUMS}
FROM {{day}}
WHERE zone = %s AND part IN {_DAILY_SQL} AND ({{weeks}})
GROUP BY zone, {{monday}}, part, team_id, rep_id, source, pql
"""


def _fold_weeks(zone_key: str, mondays: set[dt.date] | None) -> int:
    """Write the week rows of those ISO weeks (all: None; deleted before) from their day rows,
    in the database: one INSERT ... SELECT SUM ... GROUP BY; rows written."""
    if mondays is not None and not mondays:
        return 0
    weeks = sorted(mondays) if mondays is not None else []
    sql = _FOLD_WEEKS.format(
        day=DashboardDay._meta.db_table,
        monday=_MONDAY[connection.vendor],
        weeks=" OR ".join(["(day >= %s AND day <= %s)"] * len(weeks)) or "1 = 1",
    )
    params: list[Any] = [zone_key]
    for monday in weeks:
        params += [monday, monday + dt.timedelta(days=6)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def recount(zone_key: str, days: set[dt.date] | None) -> int:
    """Rewrite a zone's rows of those days (all: None) and of their weeks from the handoffs,
    with time to accept's rows of those weeks (rollup_accepts, PostgreSQL); rows written."""
    mondays = {week_start(day) for day in days} if days is not None else None
    accept_weeks = recount_weeks(zone_key, mondays)
    if days is None and connection.vendor == "postgresql":
        _delete(zone_key, None)
        return _insert_all(zone_key) + accept_weeks
    rows = count(_rows_of(days, _zone(zone_key)), zone_key, days)
    _delete(zone_key, days)
    DashboardDay.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows) + _fold_weeks(zone_key, mondays) + accept_weeks


# A whole zone on PostgreSQL: the same counts as count() in one INSERT ... SELECT GROUP BY (a
# zone read for the first time is built in the request that reads it).
_INSERT_ALL = """
INSERT INTO {day} (zone, day, part, team_id, rep_id, source, pql, mql, sal, sql, returned, open,
                   attempts, attempts_accepted, due, met)
SELECT %(zone)s, (created_at AT TIME ZONE %(zone)s)::date, 0, team_id, NULL, lead_source,
       COALESCE(pql_criteria <> '[]'::jsonb, true),
       count(*) FILTER (WHERE status <> 'reassigned'),
       count(*) FILTER (WHERE status <> 'reassigned' AND accepted_at IS NOT NULL),
       count(*) FILTER (WHERE status <> 'reassigned' AND qualified_at IS NOT NULL),
       count(*) FILTER (WHERE status = 'returned'),
       count(*) FILTER (WHERE status IN ('pending', 'waiting')), 0, 0, 0, 0
FROM {handoff}
GROUP BY 2, team_id, lead_source, 7
UNION ALL
SELECT %(zone)s, day, 1, team_id, rep, '', false, 0, 0, 0, sum(returned), 0, sum(attempts),
       sum(accepted), sum(due), sum(met)
FROM (
  SELECT (created_at AT TIME ZONE %(zone)s)::date AS day, team_id, assigned_to_id AS rep,
         1 AS attempts, (accepted_at IS NOT NULL)::int AS accepted,
         (status = 'returned')::int AS returned, 0 AS due, 0 AS met
  FROM {handoff}
  UNION ALL
  SELECT (sla_outcome_at AT TIME ZONE %(zone)s)::date, team_id, assigned_to_id, 0, 0, 0, 1,
         sla_met::int
  FROM {handoff} WHERE sla_outcome_at IS NOT NULL
) AS facts
GROUP BY day, team_id, rep
"""


def _insert_all(zone_key: str) -> int:
    """Every day of the zone in one INSERT ... SELECT, then every week folded from them."""
    sql = _INSERT_ALL.format(day=DashboardDay._meta.db_table, handoff=Handoff._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"zone": zone_key})
        written = int(cursor.rowcount)
    return written + _fold_weeks(zone_key, None)


def _changed_days(zone_key: str, start: dt.datetime) -> tuple[set[dt.date], dt.datetime | None]:
    """The days named by the handoffs written since `start`, and the latest stamp seen."""
    zone = _zone(zone_key)
    days: set[dt.date] = set()
    latest = None
    for created, outcome_at, accepted, updated in Handoff.objects.filter(
        updated_at__gte=start
    ).values_list("created_at", "sla_outcome_at", "accepted_at", "updated_at"):
        days.add(created.astimezone(zone).date())
        for moment in (outcome_at, accepted):  # the outcome's day; the accept's (its week)
            if moment is not None:
                days.add(moment.astimezone(zone).date())
        latest = updated if latest is None or updated > latest else latest
    return days, latest


def ensure_fresh(zone_key: str | None = None) -> str:
    """Bring the zone's rows up to date (see the module doc) and return the zone's key. Two
    reads and nothing written when no handoff was written since the last check (no lock, no
    transaction); when some were, their days are recounted in a transaction holding the zone's
    state (the state and the handoffs read again only if another check moved the state in
    between); a zone read for the first time is built whole.

    The handoffs read are those stamped since the earlier of: the last check's clock less
    MARGIN (transactions committed late), and just after the latest stamp the last check saw
    (writes stamped with their own `now`, behind this clock: a test playing a history). A quiet
    read leaves the check time where it was, so the next check reads from there: never less."""
    zone_key = zone_key or zone_name()
    clock = timezone.now()
    seen = (
        DashboardRefresh.objects.filter(zone=zone_key)
        .values_list("checked_at", "watermark")
        .first()
    )
    changed: tuple[set[dt.date], dt.datetime | None] | None = None
    if seen is not None and seen[0] is not None and seen[1] is not None:
        changed = _changed_days(zone_key, min(seen[0] - MARGIN, seen[1]))
        if not changed[0]:
            return zone_key
    with transaction.atomic():
        state = DashboardRefresh.objects.select_for_update().filter(zone=zone_key).first()
        if state is None:
            DashboardRefresh.objects.get_or_create(zone=zone_key)
            state = DashboardRefresh.objects.select_for_update().get(zone=zone_key)
        if state.checked_at is None or state.watermark is None:
            latest = _build(zone_key)
        else:
            if changed is None or (state.checked_at, state.watermark) != seen:
                start = min(state.checked_at - MARGIN, state.watermark)
                changed = _changed_days(zone_key, start)
            days, latest = changed
            if days:
                recount(zone_key, days)
        if latest is not None:
            watermark = max(latest + _TICK, state.watermark or latest + _TICK)
        else:
            watermark = state.watermark or clock
        DashboardRefresh.objects.filter(pk=state.pk).update(checked_at=clock, watermark=watermark)
    return zone_key


def _build(zone_key: str) -> dt.datetime | None:
    """Every day of the zone; the latest stamp of the handoffs."""
    latest = Handoff.objects.aggregate(latest=Max("updated_at"))["latest"]
    recount(zone_key, None)
    return latest


def rebuild(zones: Iterable[str] = ()) -> dict[str, int]:
    """Rewrite the rows of every zone read so far, of the given zones, of the site's zone and of
    the team calendars' zones, from the handoffs; rows written per zone."""
    from handoff.models import BusinessCalendar

    wanted = {settings.TIME_ZONE, *zones}
    wanted |= set(BusinessCalendar.objects.values_list("timezone", flat=True))
    written = {}
    with transaction.atomic():
        for zone_key in sorted(wanted):
            DashboardRefresh.objects.get_or_create(zone=zone_key)
        known = list(
            DashboardRefresh.objects.select_for_update()
            .order_by("zone")
            .values_list("zone", flat=True)
        )
        clock = timezone.now()
        latest = Handoff.objects.aggregate(latest=Max("updated_at"))["latest"]
        for zone_key in known:
            written[zone_key] = recount(zone_key, None)
        DashboardRefresh.objects.update(
            checked_at=clock, watermark=latest + _TICK if latest is not None else clock
        )
    return written

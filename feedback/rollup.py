"""The feedback rollup: the analytics' handoffs counted per promotion month, kept exact by
database triggers, so the metrics payload reads a few thousand rows per month instead of every
handoff.

`FeedbackRollup` keys: the month of promotion in the site's zone (settings.TIME_ZONE), source
and campaign snapshots, the raw score (bands and candidate thresholds are settings: folding a
raw score stays right when they change), team, rep, return reason, PQL or not; counts: handoffs,
open, accepted, qualified, returned. Reassigned handoffs are left out, as everywhere in the
analytics.

Kept exact in the writing transaction (the handoff app knows nothing of it): triggers on the
handoffs table (`install_triggers`, migration feedback.0008) append *delta* rows on every insert,
every delete and every update that changes a counted column (status, created_at, source,
campaign, score, team, rep, return reason, PQL criteria): -1 for the row as it was, +1 for the row
as it is. A delta row commits or rolls back with the change that wrote it, so the sum of the
rows equals the recount of the raw handoffs at every commit, and a reader (one statement, one
snapshot) sees both or neither. Inserting only, the triggers never wait for one another.

`compact()` folds the delta rows of their months into one row per combination: per month,
DELETE ... RETURNING and INSERT the sums in one statement (PostgreSQL). It deletes only rows
its snapshot sees (committed ones); a delta committed later, or still uncommitted, stays for
the next compaction, so nothing is lost or counted twice; two compactions never delete the
same row (the second skips what the first deleted). The readers compact when more than
`COMPACT_AFTER` delta rows have piled up, and read the delta rows with the rest meanwhile.

A range's months: the payload reads the rollup's whole months inside the range and the
handoffs of the edge days (before the first whole month, after the last) raw, in the same
statement (`combination_sql`); a range in another zone (a page in the viewer's zone) works the
same, by instants.

`rebuild()` (`manage.py rebuild_feedback_rollup`): recount everything from the handoffs, e.g.
after changing TIME_ZONE (it re-creates the trigger function for the new zone).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Case, Count, Q, Value, When

from core.timefmt import day_start
from feedback.models import FeedbackRollup
from handoff.models import Handoff
from handoff.states import Status

KEYS = (
    "lead_source", "lead_campaign_id", "score", "team_id", "assigned_to_id",
    "return_reason_code", "pql",
)  # fmt: skip
COUNTS = ("handoffs", "open", "accepted", "qualified", "returned")
# Two kinds of rows, for two ways of grouping: by every key but the score (score 0), and by
# score and return reason alone (no source, campaign, team, rep, PQL). The score crossed with
# the others would make the rollup nearly as long as the handoffs (459,289 rows for 1,000,000
# bench handoffs, against 35,150 + 9,828 for the two kinds).
BY_KEYS, BY_SCORE = 0, 1
OPEN = (Status.PENDING, Status.WAITING)
ACCEPTED = (Status.ACCEPTED, Status.QUALIFIED)
# The readers fold the delta rows into the rollup once more than this many piled up.
COMPACT_AFTER = 2000
_LOCK = (0x46424B52, 1)  # "FBKR": one compaction at a time (tried, not waited for)
# Handoff columns whose change moves a count (the trigger's WHEN).
WATCHED = (
    "status", "created_at", "lead_source", "lead_campaign_id", "score_snapshot", "team_id",
    "assigned_to_id", "return_reason_code", "pql_criteria",
)  # fmt: skip
TRIGGER = "feedback_rollup"  # name prefix of the triggers on the handoffs table
_FUNCTION = "feedback_rollup_handoff"  # PostgreSQL: what they run


def site_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _in(statuses: Sequence[str]) -> str:
    return ", ".join(f"'{Status(s).value}'" for s in statuses)  # our own codes, as literals


def period_sql(vendor: str, zone: str, column: str) -> str:
    """The first day of the month (in `zone`) of a UTC timestamp column, as SQL."""
    zoneinfo.ZoneInfo(zone)  # a real zone name: no quote can reach the SQL
    if vendor == "postgresql":
        return f"date_trunc('month', {column} AT TIME ZONE '{zone}')::date"
    if zone == "UTC":
        return f"strftime('%Y-%m-01', {column})"
    # SQLite stores UTC text; another zone needs Django's function (its connections only).
    return f"substr(django_datetime_cast_date({column}, '{zone}', 'UTC'), 1, 7) || '-01'"


def _pql_sql(vendor: str, column: str) -> str:
    if vendor == "postgresql":
        return f"({column} <> '[]'::jsonb)"
    return f"(json({column}) <> '[]')"


def _values(vendor: str, zone: str, row: str, sign: int, kind: int) -> list[str]:
    """The rollup columns of one handoff row (`NEW`, `OLD` or a table alias) counted `sign`, as
    a row of `kind`: the period, the kind, the keys, the counts."""
    counts = [
        f"{sign}",
        f"CASE WHEN {row}.status IN ({_in(OPEN)}) THEN {sign} ELSE 0 END",
        f"CASE WHEN {row}.status IN ({_in(ACCEPTED)}) THEN {sign} ELSE 0 END",
        f"CASE WHEN {row}.status = '{Status.QUALIFIED.value}' THEN {sign} ELSE 0 END",
        f"CASE WHEN {row}.status = '{Status.RETURNED.value}' THEN {sign} ELSE 0 END",
    ]
    by_score = kind == BY_SCORE
    false = "FALSE" if vendor == "postgresql" else "0"
    null = "CAST(NULL AS BIGINT)"  # typed: a bare NULL in a subquery is text on PostgreSQL
    return [
        period_sql(vendor, zone, f"{row}.created_at"),
        str(kind),
        "''" if by_score else f"{row}.lead_source",
        null if by_score else f"{row}.lead_campaign_id",
        f"{row}.score_snapshot" if by_score else "0",
        null if by_score else f"{row}.team_id",
        null if by_score else f"{row}.assigned_to_id",
        f"{row}.return_reason_code",
        false if by_score else _pql_sql(vendor, f"{row}.pql_criteria"),
        *counts,
    ]


def _columns() -> str:
    return ", ".join(_quote(c) for c in ("period", "kind", *KEYS, *COUNTS, "delta"))


def trigger_sql(vendor: str, zone: str) -> list[str]:
    """The statements (re)creating the triggers that append the delta rows (see the module
    docstring), for the site's zone `zone`."""
    table, handoffs = FeedbackRollup._meta.db_table, Handoff._meta.db_table
    reassigned = Status.REASSIGNED.value
    true = "TRUE" if vendor == "postgresql" else "1"

    def insert(row: str, sign: int, where: str = "") -> str:
        return f"INSERT INTO {table} ({_columns()}) " + " UNION ALL ".join(
            f"SELECT {', '.join(_values(vendor, zone, row, sign, kind))}, {true}{where}"
            for kind in (BY_KEYS, BY_SCORE)
        )

    distinct = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in WATCHED)
    drops = [
        f"DROP TRIGGER IF EXISTS {TRIGGER}_{op}"
        + (f" ON {handoffs}" if vendor == "postgresql" else "")
        for op in ("insert", "update", "delete")
    ]
    if vendor == "postgresql":
        body = (
            f"BEGIN IF TG_OP <> 'INSERT' AND OLD.status <> '{reassigned}' THEN "
            f"{insert('OLD', -1)}; END IF; "
            f"IF TG_OP <> 'DELETE' AND NEW.status <> '{reassigned}' THEN "
            f"{insert('NEW', 1)}; END IF; RETURN NULL; END"
        )
        return [
            f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ {body} $$",
            *drops,
            f"CREATE TRIGGER {TRIGGER}_insert AFTER INSERT ON {handoffs} FOR EACH ROW "
            f"EXECUTE FUNCTION {_FUNCTION}()",
            f"CREATE TRIGGER {TRIGGER}_update AFTER UPDATE ON {handoffs} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION {_FUNCTION}()",
            f"CREATE TRIGGER {TRIGGER}_delete AFTER DELETE ON {handoffs} FOR EACH ROW "
            f"EXECUTE FUNCTION {_FUNCTION}()",
        ]
    return [
        *drops,
        f"CREATE TRIGGER {TRIGGER}_insert AFTER INSERT ON {handoffs} FOR EACH ROW "
        f"WHEN NEW.status <> '{reassigned}' BEGIN {insert('NEW', 1)}; END",
        f"CREATE TRIGGER {TRIGGER}_update AFTER UPDATE ON {handoffs} FOR EACH ROW "
        f"WHEN {changed} BEGIN "
        f"{insert('OLD', -1, f' WHERE OLD.status <> {chr(39)}{reassigned}{chr(39)}')}; "
        f"{insert('NEW', 1, f' WHERE NEW.status <> {chr(39)}{reassigned}{chr(39)}')}; END",
        f"CREATE TRIGGER {TRIGGER}_delete AFTER DELETE ON {handoffs} FOR EACH ROW "
        f"WHEN OLD.status <> '{reassigned}' BEGIN {insert('OLD', -1)}; END",
    ]


def drop_trigger_sql(vendor: str) -> list[str]:
    handoffs = Handoff._meta.db_table
    on = f" ON {handoffs}" if vendor == "postgresql" else ""
    statements = [
        f"DROP TRIGGER IF EXISTS {TRIGGER}_{op}{on}" for op in ("insert", "update", "delete")
    ]
    if vendor == "postgresql":
        statements.append(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")
    return statements


def install_triggers(using: Any = None, *, zone_only: bool = False) -> None:
    """(Re)create the triggers for the site's zone. With `zone_only`, on PostgreSQL only the
    function is replaced (no lock on the handoffs table)."""
    conn = using or connection
    statements = trigger_sql(conn.vendor, settings.TIME_ZONE)
    if zone_only and conn.vendor == "postgresql":
        statements = statements[:1]
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _count_all_sql(vendor: str, zone: str, kind: int) -> str:
    """INSERT the rollup's rows of `kind` recounted from the handoffs (one statement)."""
    table, handoffs = FeedbackRollup._meta.db_table, Handoff._meta.db_table
    values = _values(vendor, zone, "h", 1, kind)
    width = 2 + len(KEYS)
    inner = ", ".join(f"{value} AS v{i}" for i, value in enumerate(values))
    group = ", ".join(f"v{i}" for i in range(width))
    counts = ", ".join(f"SUM(v{i})" for i in range(width, len(values)))
    false = "FALSE" if vendor == "postgresql" else "0"
    return (
        f"INSERT INTO {table} ({_columns()}) SELECT {group}, {counts}, {false} "
        f"FROM (SELECT {inner} FROM {handoffs} h WHERE h.status <> "
        f"'{Status.REASSIGNED.value}') AS r GROUP BY {group}"
    )


def rebuild(using: Any = None) -> int:
    """Recount the whole rollup from the handoffs in one transaction (rows written). On
    PostgreSQL the rollup table is locked first (EXCLUSIVE: it waits for the transactions
    that wrote delta rows to end, and handoff writes wait for the rebuild), so no change is
    counted twice or missed."""
    conn = using or connection
    table = FeedbackRollup._meta.db_table
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        install_triggers(conn, zone_only=True)
        cursor.execute(f"DELETE FROM {table}")
        for kind in (BY_KEYS, BY_SCORE):
            cursor.execute(_count_all_sql(conn.vendor, settings.TIME_ZONE, kind))
        if conn.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")  # the planner's estimates for the new rows
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def compact(*, after: int = COMPACT_AFTER) -> int | None:
    """Fold the delta rows into one row per month and combination once more than `after` of
    them piled up (0: whenever there is one). One query when there is nothing to do. The
    number of delta rows folded, 0 when under `after`, None when another compaction runs."""
    table = FeedbackRollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE delta LIMIT %s) d", [after + 1]
        )
        if cursor.fetchone()[0] <= after:
            return 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", list(_LOCK))
            if not cursor.fetchone()[0]:
                return None
        cursor.execute(f"SELECT period, count(*) FROM {table} WHERE delta GROUP BY period")
        periods = cursor.fetchall()
        if not periods:
            return 0
        months = [p for p, _ in periods]
        keys = ", ".join(_quote(c) for c in ("period", "kind", *KEYS))
        sums = ", ".join(f"SUM({_quote(c)})" for c in COUNTS)
        columns = _columns()
        if connection.vendor == "postgresql":
            # Rows this statement's snapshot sees only: a delta committed after it began, or
            # still open, stays (a row, once deleted here, is skipped by any other DELETE).
            cursor.execute(
                f"WITH gone AS (DELETE FROM {table} WHERE period = ANY(%s) RETURNING *) "
                f"INSERT INTO {table} ({columns}) SELECT {keys}, {sums}, FALSE FROM gone "
                f"GROUP BY {keys} HAVING SUM(handoffs) <> 0",
                [months],
            )
        else:  # one writer at a time: read, delete, write in this transaction
            marks = ", ".join(["%s"] * len(months))
            cursor.execute(
                f"SELECT {keys}, {sums} FROM {table} WHERE period IN ({marks}) "
                f"GROUP BY {keys} HAVING SUM(handoffs) <> 0",
                months,
            )
            rows = cursor.fetchall()
            cursor.execute(f"DELETE FROM {table} WHERE period IN ({marks})", months)
            values = ", ".join(["%s"] * (len(KEYS) + len(COUNTS) + 2))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({values}, 0)", [list(r) for r in rows]
            )
        return sum(n for _, n in periods)


# --- reading: whole months from the rollup, edge days raw -------------------------------------


def _month_start(moment: dt.datetime, *, ceil: bool) -> dt.datetime:
    """The site-zone month start at or before `moment` (at or after it with `ceil`)."""
    zone = site_zone()
    local = moment.astimezone(zone)
    start = dt.datetime(local.year, local.month, 1, tzinfo=zone)
    if ceil and start < moment:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        start = dt.datetime(year, month, 1, tzinfo=zone)
    return start


def split_range(
    start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.date | None, dt.date | None, list[tuple[dt.datetime | None, dt.datetime | None]]]:
    """A promotion range [start, end) as (first whole month, month after the last whole month,
    raw ranges): the rollup answers the months >= the first and < the second (None: unbounded),
    the raw ranges are read from the handoffs. No whole month: (x, x, [(start, end)])."""
    first = _month_start(start, ceil=True) if start else None
    stop = _month_start(end, ceil=False) if end else None
    if first and stop and first >= stop:
        return first.date(), first.date(), [(start, end)]
    raw: list[tuple[dt.datetime | None, dt.datetime | None]] = []
    if start and first and start < first:
        raw.append((start, first))
    if end and stop and stop < end:
        raw.append((stop, end))
    return (first.date() if first else None), (stop.date() if stop else None), raw


def combination_sql(
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    team: int | None = None,
    source: str | None = None,
    campaign: int | None = None,
    keys: Sequence[str] = KEYS,
    counts: Sequence[str] = COUNTS,
    kind: int = BY_KEYS,
) -> tuple[str, list[Any]]:
    """SQL (and params) of the handoffs promoted in [start, end) with the filters, counted by
    `keys` (a subset of KEYS, in that order, then `counts`): the rollup's whole months UNION ALL
    the edge days' handoffs read raw, summed by key. Portable (PostgreSQL and SQLite)."""
    first, stop, raw = split_range(start, end)
    if kind == BY_SCORE and (team is not None or source or campaign is not None):
        # The score rows keep no team, source or campaign: read such a range raw.
        first, stop, raw = dt.date.min, dt.date.min, [(start, end)]
    rollup = FeedbackRollup.objects.filter(kind=kind)
    if first is not None:
        rollup = rollup.filter(period__gte=first)
    if stop is not None:
        rollup = rollup.filter(period__lt=stop)
    where = Q()
    if team is not None:
        where &= Q(team_id=team)
    if source:
        where &= Q(lead_source=source)
    if campaign is not None:
        where &= Q(lead_campaign_id=campaign)
    fields = {"score": "score_snapshot"}
    parts = []
    if first is None or stop is None or first < stop:
        sql, params = (
            rollup.filter(where).values_list(*keys, *counts).order_by().query.sql_with_params()
        )
        parts.append((sql, list(params)))
    # Each edge range its own part: one range scan of the created_at index each (as one OR,
    # PostgreSQL scanned a whole index and filtered it).
    edges = set()
    for low, high in raw:
        within = Q()
        if low is not None:
            within &= Q(created_at__gte=low)
        if high is not None:
            within &= Q(created_at__lt=high)
        edge = (
            Handoff.objects.exclude(status=Status.REASSIGNED)
            .filter(within & where)
            .annotate(
                pql=Case(
                    When(pql_criteria=[], then=Value(False)),
                    default=Value(True),
                    output_field=BooleanField(),
                )
            )
            .values(*(fields.get(k, k) for k in keys))
            .annotate(**{f"c_{c}": OUTCOME_COUNTS[c] for c in counts})
            .order_by()
        )
        sql, params = edge.query.sql_with_params()
        edges.add(len(parts))
        parts.append((sql, list(params)))
    # Each part's columns named alike (SQLite has no column list on a subquery alias).
    named = []
    for i, (sql, _) in enumerate(parts):
        raw_part = i in edges
        columns = [
            f"p{i}.{_quote(fields.get(k, k) if raw_part else k)} AS {_quote(k)}" for k in keys
        ] + [f"p{i}.{_quote(f'c_{c}' if raw_part else c)} AS n_{c}" for c in counts]
        named.append(f"SELECT {', '.join(columns)} FROM ({sql}) AS p{i}")
    group = ", ".join(_quote(k) for k in keys)
    sums = ", ".join(f"SUM(n_{c}) AS {_quote(c)}" for c in counts)
    sql = f"SELECT {group + ', ' if keys else ''}{sums} FROM ({' UNION ALL '.join(named)}) AS u"
    if keys:
        sql += f" GROUP BY {group}"
    return sql, [p for _, params in parts for p in params]


# The outcome counts of a set of handoffs (feedback.selectors counts the raw figures with
# them too).
OUTCOME_COUNTS = {
    "handoffs": Count("id"),
    "open": Count("id", filter=Q(status__in=OPEN)),
    "accepted": Count("id", filter=Q(status__in=ACCEPTED)),
    "qualified": Count("id", filter=Q(status=Status.QUALIFIED)),
    "returned": Count("id", filter=Q(status=Status.RETURNED)),
}


def range_of(date_from: dt.date | None, date_to: dt.date | None) -> tuple[Any, Any]:
    """The filters' whole days as instants (the current zone's midnights, as the raw filters)."""

    start = day_start(date_from) if date_from else None
    end = day_start(date_to + dt.timedelta(days=1)) if date_to else None
    return start, end

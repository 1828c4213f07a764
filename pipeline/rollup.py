"""The revenue rollup: each promotion day's cohort counted and summed by every dimension.

The revenue metrics read `RevenueRollup` (counts and sums) and `RevenueDuration` (histograms of
the hours from promotion to SQL, to opportunity and to won) instead of a million handoffs.

Kept up to date off the request path:
- the transaction that changes a figure only marks its promotion day dirty (`mark_dirty`: one
  INSERT ... ON CONFLICT DO NOTHING into `RevenueDirtyDay`):
  - the opportunity services mark the deal's promotion day when they write an event (open,
    update, win, lose, CRM sync: every change writes one);
  - the handoff app knows nothing of this: a database trigger (`pipeline_revenue_dirty_day`,
    installed by migration pipeline.0008; `pipeline.dirty_marks`) on the insert of a handoff event
    marks the handoff's promotion day for the events that move a figure (a new handoff, a rep
    change, a move into or out of accepted, qualified, returned or reassigned: the threshold
    advisor counts accepts and returns; never a note or a pause), with the same INSERT and
    transaction id as `mark_dirty`: no query of the request's own;
- `refresh_dirty()` (Celery beat every minute, and `manage.py rebuild_revenue_rollup --dirty`)
  recounts the dirty days and deletes their marks, then records `RevenueRefresh.refreshed_at`:
  the figures' `as_of`.

A recount recomputes one promotion day from the raw rows: delete that day's rows, insert them
again with one INSERT ... SELECT GROUP BY. A day's raw rows are few, and a recount cannot drift
the way a delta can (it is idempotent).

Races (PostgreSQL, READ COMMITTED): a mark carries its transaction's id, so two open
transactions never share a mark. The refresh deletes the marks it can see (those of committed
transactions) and only then recounts, with statements whose snapshots see those transactions'
rows; a mark still uncommitted stays for the next run. One refresh at a time: a transaction
advisory lock, tried, not waited for (a second worker finds it taken and returns).

Days are in the company's zone (settings.TIME_ZONE), score bands are the ones configured when
the row was written: after changing FEEDBACK_SCORE_BANDS run `manage.py rebuild_revenue_rollup`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate

from handoff.models import Handoff
from handoff.states import Status
from leads.selectors import score_bands
from pipeline.dirty_marks import install_dirty_trigger
from pipeline.models import (
    Opportunity,
    RevenueDirtyDay,
    RevenueDuration,
    RevenueRefresh,
    RevenueRollup,
    RevenueScore,
    RevenueSlice,
    RevenueSliceDuration,
)
from pipeline.states import Stage

KEYS = ("day", "team_id", "rep_id", "source", "campaign_id", "score_band", "qualification")
COUNTS = (
    "mqls",
    "sqls",
    "opportunities",
    "won",
    "lost",
    "won_priced",
    "won_amount",
    "pipeline_amount",
)
HANDOFF_SIDE, OPPORTUNITY_SIDE = 0, 1
_LOCK_CLASS = 0x52455655  # "REVU": the advisory lock namespace of the rollup


def company_zone() -> dt.tzinfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def day_of(moment: dt.datetime) -> dt.date:
    """The promotion day a moment belongs to, in the company's zone."""
    return moment.astimezone(company_zone()).date()


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = company_zone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)


def band_case(field: str) -> Case:
    bands = score_bands()
    whens = [
        When(**{f"{field}__lt": bands[i + 1][0]}, then=Value(bands[i][1]))
        for i in range(len(bands) - 1)
    ]
    return Case(*whens, default=Value(bands[-1][1]))


def _qualification(prefix: str) -> Case:
    """ "mql" for a handoff promoted on its score alone, "pql" when PQL criteria matched."""
    return Case(When(**{f"{prefix}pql_criteria": []}, then=Value("mql")), default=Value("pql"))


# --- the raw rows, keyed ----------------------------------------------------------------------


def _handoffs(day: dt.date | None) -> QuerySet[Handoff]:
    qs = Handoff.objects.exclude(status=Status.REASSIGNED)
    if day is not None:
        start, end = _day_bounds(day)
        qs = qs.filter(created_at__gte=start, created_at__lt=end)
    return qs.annotate(
        k_day=TruncDate("created_at", tzinfo=company_zone()),
        k_team=F("team_id"),
        k_rep=F("assigned_to_id"),
        k_source=F("lead_source"),
        k_campaign=F("lead_campaign_id"),
        k_band=band_case("score_snapshot"),
        k_qual=_qualification(""),
    )


def _opportunities(day: dt.date | None) -> QuerySet[Opportunity]:
    qs = Opportunity.objects.all()
    if day is not None:
        start, end = _day_bounds(day)
        qs = qs.filter(promoted_at__gte=start, promoted_at__lt=end)
    return qs.annotate(
        k_day=TruncDate("promoted_at", tzinfo=company_zone()),
        k_team=F("team_id"),
        k_rep=F("owner_id"),
        k_source=F("source"),
        k_campaign=F("campaign_id"),
        k_band=F("score_band"),
        k_qual=_qualification("handoff__"),
    )


_KEYED = ("k_day", "k_team", "k_rep", "k_source", "k_campaign", "k_band", "k_qual")


def _insert_counts(qs: QuerySet[Any], *, side: int) -> None:
    """INSERT ... SELECT the grouped counts of the keyed rows (one statement)."""
    if side == HANDOFF_SIDE:
        grouped = qs.values(*_KEYED).annotate(
            c_mqls=Count("id"), c_sqls=Count("id", filter=Q(status=Status.QUALIFIED))
        )
        values = "'', c_mqls, c_sqls, 0, 0, 0, 0, 0, 0"
    else:
        won = Q(stage=Stage.WON)
        grouped = qs.values(*_KEYED, "currency").annotate(
            c_opportunities=Count("id"),
            c_won=Count("id", filter=won),
            c_lost=Count("id", filter=Q(stage=Stage.LOST)),
            c_won_priced=Count("id", filter=won & Q(amount__isnull=False)),
            c_won_amount=Sum("amount", filter=won),
            c_pipeline_amount=Sum("amount", filter=Q(stage=Stage.OPEN)),
        )
        values = (
            "g.currency, 0, 0, c_opportunities, c_won, c_lost, c_won_priced, "
            "COALESCE(c_won_amount, 0), COALESCE(c_pipeline_amount, 0)"
        )
    sql, params = grouped.order_by().query.sql_with_params()
    table = RevenueRollup._meta.db_table
    columns = ", ".join((*KEYS, "currency", *COUNTS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {', '.join(_KEYED)}, {values} FROM ({sql}) g",
            params,
        )


def _seconds(value: Any) -> float:
    return value.total_seconds()


def _insert_durations(rows: Iterable[tuple[Any, ...]], metric: str) -> None:
    """rows: (key..., duration): counted by whole hours, written in batches."""
    counts: Counter[tuple[Any, ...]] = Counter()
    for *key, duration in rows:
        if duration is not None:
            counts[(*key, int(_seconds(duration) // 3600))] += 1
    RevenueDuration.objects.bulk_create(
        (
            RevenueDuration(
                **dict(zip(KEYS, key[:-1], strict=True)), metric=metric, hours=key[-1], n=n
            )
            for key, n in counts.items()
        ),
        batch_size=2000,
    )


def _durations(qs: QuerySet[Any], metric: str, end: str, start: str, cond: Q) -> None:
    rows = (
        qs.filter(cond)
        .annotate(k_duration=ExpressionWrapper(F(end) - F(start), output_field=DurationField()))
        .values_list(*_KEYED, "k_duration")
        .order_by()
    )
    _insert_durations(rows.iterator(chunk_size=5000), metric)


def _lock(day: dt.date, side: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, day.toordinal() * 2 + side]
            )


# --- kept in step -----------------------------------------------------------------------------


def mark_dirty(day: dt.date) -> None:
    """Mark a promotion day's rollup stale (one statement, in the caller's transaction)."""
    txn = "txid_current()" if connection.vendor == "postgresql" else "0"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RevenueDirtyDay._meta.db_table} (day, txn) VALUES (%s, {txn}) "
            "ON CONFLICT (day, txn) DO NOTHING",
            [day],
        )


# --- the slices: the rollup folded to one dimension at a time --------------------------------

# dimension -> the rollup column it keeps (as text; `total` keeps none).
SLICES = {
    "total": "CAST(NULL AS TEXT)",
    "source": "source",
    "campaign": "CAST(campaign_id AS TEXT)",
    "score_band": "score_band",
    "rep": "CAST(rep_id AS TEXT)",
    "qualification": "qualification",
}


def derive_slices(day: dt.date | None) -> None:
    """(Re)write the slices of one promotion day (None: every day) from the rollup rows: two
    INSERT ... SELECT ... GROUP BY statements (counts, histograms), every dimension at once."""
    where, params = ("WHERE day = %s", [day]) if day is not None else ("", [])
    if day is not None:
        RevenueSlice.objects.filter(day=day).delete()
        RevenueSliceDuration.objects.filter(day=day).delete()
    sums = ", ".join(f"SUM({c})" for c in COUNTS)
    counts_sql = " UNION ALL ".join(
        f"SELECT day, team_id, '{dim}', {expr}, currency, {sums} "
        f"FROM {RevenueRollup._meta.db_table} {where} GROUP BY day, team_id, {expr}, currency"
        for dim, expr in SLICES.items()
    )
    durations_sql = " UNION ALL ".join(
        f"SELECT day, team_id, '{dim}', {expr}, metric, hours, SUM(n) "
        f"FROM {RevenueDuration._meta.db_table} {where} GROUP BY day, team_id, {expr}, metric, "
        "hours"
        for dim, expr in SLICES.items()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RevenueSlice._meta.db_table} "
            f"(day, team_id, dimension, value, currency, {', '.join(COUNTS)}) {counts_sql}",
            params * len(SLICES),
        )
        cursor.execute(
            f"INSERT INTO {RevenueSliceDuration._meta.db_table} "
            f"(day, team_id, dimension, value, metric, hours, n) {durations_sql}",
            params * len(SLICES),
        )


# --- the threshold advisor's rollup: day x team x score ---------------------------------------

ADVISOR_ACCEPTED = (Status.ACCEPTED, Status.QUALIFIED)


def count_scores(day: dt.date | None) -> None:
    """(Re)write the advisor's rows of one promotion day (None: every day): the handoffs by
    score with what sales decided, and the won deals by frozen score. Two INSERT ... SELECT."""
    if day is not None:
        RevenueScore.objects.filter(day=day).delete()
    handoffs = (
        _day_filtered(Handoff.objects.exclude(status=Status.REASSIGNED), "created_at", day)
        .annotate(
            k_day=TruncDate("created_at", tzinfo=company_zone()),
            k_team=F("team_id"),
            k_score=F("score_snapshot"),
        )
        .values("k_day", "k_team", "k_score")
        .annotate(
            c_sent=Count("id"),
            c_accepted=Count("id", filter=Q(status__in=ADVISOR_ACCEPTED)),
            c_qualified=Count("id", filter=Q(status=Status.QUALIFIED)),
            c_returned=Count("id", filter=Q(status=Status.RETURNED)),
        )
        .order_by()
    )
    won = (
        _day_filtered(Opportunity.objects.filter(stage=Stage.WON), "promoted_at", day)
        .annotate(
            k_day=TruncDate("promoted_at", tzinfo=company_zone()),
            k_team=F("team_id"),
            k_score=F("score"),
        )
        .values("k_day", "k_team", "k_score")
        .annotate(
            c_won=Count("id"),
            c_won_amount=Sum("amount", filter=Q(currency=settings.DEFAULT_CURRENCY)),
        )
        .order_by()
    )
    table = RevenueScore._meta.db_table
    columns = "day, team_id, score, sent, accepted, qualified, returned, won, won_amount"
    with connection.cursor() as cursor:
        sql, params = handoffs.query.sql_with_params()
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT k_day, k_team, k_score, c_sent, c_accepted, "
            f"c_qualified, c_returned, 0, 0 FROM ({sql}) g",
            params,
        )
        sql, params = won.query.sql_with_params()
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT k_day, k_team, k_score, 0, 0, 0, 0, c_won, "
            f"COALESCE(c_won_amount, 0) FROM ({sql}) g",
            params,
        )


def _day_filtered(qs: QuerySet[Any], field: str, day: dt.date | None) -> QuerySet[Any]:
    if day is None:
        return qs
    start, end = _day_bounds(day)
    return qs.filter(**{f"{field}__gte": start, f"{field}__lt": end})


def refresh_day(day: dt.date) -> None:
    """Recount one promotion day: both sides from the raw rows, then its slices and the
    advisor's rows."""
    refresh_handoffs(day)
    refresh_opportunities(day)
    derive_slices(day)
    count_scores(day)


def _try_refresh_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: one writer at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, -1])
        return bool(cursor.fetchone()[0])


def refresh_dirty(now: dt.datetime | None = None) -> list[dt.date] | None:
    """Recount every dirty promotion day (both sides), delete their marks and record the refresh
    time. The days recounted, or None when another refresh holds the lock."""
    now = now or dt.datetime.now(dt.UTC)
    with transaction.atomic():
        if not _try_refresh_lock():
            return None
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {RevenueDirtyDay._meta.db_table} RETURNING day")
            days = sorted({_as_date(row[0]) for row in cursor.fetchall()})
        for day in days:
            refresh_day(day)
        _refreshed(now)
    return days


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _refreshed(now: dt.datetime) -> None:
    RevenueRefresh.objects.update_or_create(pk=1, defaults={"refreshed_at": now})


def last_refresh() -> dt.datetime | None:
    """When the rollup was last brought up to date (None: never)."""
    return RevenueRefresh.objects.filter(pk=1).values_list("refreshed_at", flat=True).first()


def refresh_handoffs(day: dt.date, *, durations: bool = True) -> None:
    """Recount one promotion day's handoffs (MQLs, SQLs, and with `durations` the hours to
    SQL)."""
    # No savepoint: the caller's transaction is the unit (and a savepoint costs two queries).
    with transaction.atomic(savepoint=False):
        _lock(day, HANDOFF_SIDE)
        RevenueRollup.objects.filter(day=day, currency="").delete()
        _insert_counts(_handoffs(day), side=HANDOFF_SIDE)
        if durations:
            RevenueDuration.objects.filter(day=day, metric=RevenueDuration.Metric.TO_SQL).delete()
            _handoff_durations(_handoffs(day))


def refresh_opportunities(day: dt.date) -> None:
    """Recount one promotion day's opportunities."""
    with transaction.atomic(savepoint=False):
        _lock(day, OPPORTUNITY_SIDE)
        RevenueRollup.objects.filter(day=day).exclude(currency="").delete()
        _insert_counts(_opportunities(day), side=OPPORTUNITY_SIDE)
        RevenueDuration.objects.filter(day=day).exclude(
            metric=RevenueDuration.Metric.TO_SQL
        ).delete()
        _opportunity_durations(_opportunities(day))


def _handoff_durations(qs: QuerySet[Handoff]) -> None:
    _durations(
        qs, RevenueDuration.Metric.TO_SQL, "qualified_at", "created_at", Q(status=Status.QUALIFIED)
    )


def _opportunity_durations(qs: QuerySet[Opportunity]) -> None:
    _durations(qs, RevenueDuration.Metric.TO_OPPORTUNITY, "opened_at", "promoted_at", Q())
    _durations(qs, RevenueDuration.Metric.TO_WON, "won_at", "promoted_at", Q(stage=Stage.WON))


def rebuild() -> dict[str, int]:
    """Rewrite the whole rollup from the raw rows (one transaction; the tables are locked
    against concurrent refreshes on PostgreSQL) and clear the dirty marks it covers. Rows
    written, by table."""
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"LOCK TABLE {RevenueRollup._meta.db_table}, "
                    f"{RevenueDuration._meta.db_table}, {RevenueSlice._meta.db_table}, "
                    f"{RevenueSliceDuration._meta.db_table}, {RevenueScore._meta.db_table} "
                    "IN EXCLUSIVE MODE"
                )
        install_dirty_trigger(zone_only=True)
        # Marks of transactions committed before this point: their rows are counted below.
        RevenueDirtyDay.objects.all().delete()
        RevenueRollup.objects.all().delete()
        RevenueDuration.objects.all().delete()
        RevenueSlice.objects.all().delete()
        RevenueSliceDuration.objects.all().delete()
        RevenueScore.objects.all().delete()
        _insert_counts(_handoffs(None), side=HANDOFF_SIDE)
        _insert_counts(_opportunities(None), side=OPPORTUNITY_SIDE)
        _handoff_durations(_handoffs(None))
        _opportunity_durations(_opportunities(None))
        derive_slices(None)
        count_scores(None)
        _refreshed(now)
        return {
            "revenue_rollup": RevenueRollup.objects.count(),
            "revenue_duration": RevenueDuration.objects.count(),
            "revenue_slice": RevenueSlice.objects.count(),
            "revenue_slice_duration": RevenueSliceDuration.objects.count(),
            "revenue_score": RevenueScore.objects.count(),
        }

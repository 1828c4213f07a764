"""Benchmark: the revenue metrics over 1,000,000 handoffs and 300,000 opportunities on PostgreSQL.

    .venv/bin/python bench/revenue.py [--handoffs 1000000] [--opportunities 300000] [--keep]
                                      [--reuse]

Creates a scratch database (bench_revenue; dropped at the end unless --keep), loads leads,
handoffs and feedback rows as bench/feedback.py does, then opportunities grown from accepted or
qualified handoffs (a third won, a third lost, the rest open, 5% in EUR) with INSERT ... SELECT
generate_series, and times each aggregate of pipeline.metrics (best of 3 warm runs) beside raw
baselines measured in the same run: a bare count(*), the plain GROUP BYs the figures are made
of, and the opportunity -> handoff join that attribution would cost without the frozen copy.
Target: each aggregate under 1 s. Prints the machine's load average before and after.

The loader writes rows by SQL, past the services, so the revenue rollup (pipeline.rollup) is
rebuilt after the load and the rebuild is timed; the metrics then read the rollup's per-dimension
slices. Also timed: one dirty mark (what each opportunity or handoff change pays in its
transaction) and one refresh of a promotion day (what the beat refresh pays per dirty day).
--database names the scratch database (default bench_revenue); with --reuse the kept rollup is
read again, its slices derived when missing (or with --slices), --rebuild rewrites it all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# bench/feedback.py holds the loader of leads, handoffs and feedback rows: loaded by path (its
# module name would shadow the feedback app).
_spec = importlib.util.spec_from_file_location("bench_feedback", ROOT / "bench" / "feedback.py")
assert _spec is not None and _spec.loader is not None
feedback_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(feedback_bench)

feedback_bench.DB_NAME = DB_NAME = "bench_revenue"
TARGET_SECONDS = 1.0


def load_opportunities(n: int) -> None:
    from django.db import connection

    from pipeline.models import LostReason, Opportunity

    reasons = list(LostReason.objects.values_list("pk", flat=True))
    reason_array = "ARRAY[" + ",".join(str(r) for r in reasons) + "]"
    t = time.perf_counter()
    # stage by row: 0-34 won, 35-64 lost, 65-99 open (per hundred), deterministic per id.
    stage = "CASE WHEN h.id % 100 < 35 THEN 'won' WHEN h.id % 100 < 65 THEN 'lost' ELSE 'open' END"
    cols, vals = feedback_bench.column_defaults(
        Opportunity,
        {
            "lead_id": "h.lead_id",
            "handoff_id": "h.id",
            "owner_id": "h.assigned_to_id",
            "opened_by_id": "h.assigned_to_id",
            "team_id": "h.team_id",
            "stage": stage,
            "amount": "(1000 + (h.id * 37) % 60000)::numeric(14, 2)",
            "currency": "CASE WHEN h.id % 20 = 0 THEN 'EUR' ELSE 'USD' END",
            "expected_close_date": "(h.created_at + interval '60 days')::date",
            "external_id": "'crm-' || h.id",
            "source": "h.lead_source",
            "campaign_id": "h.lead_campaign_id",
            "score": "h.score_snapshot",
            "score_band": (
                "CASE WHEN h.score_snapshot < 40 THEN '0-39' WHEN h.score_snapshot < 60 "
                "THEN '40-59' WHEN h.score_snapshot < 80 THEN '60-79' ELSE '80-100' END"
            ),
            "promoted_at": "h.created_at",
            "sql_at": "h.created_at + interval '2 days'",
            "opened_at": "h.created_at + (3 + h.id % 10) * interval '1 day'",
            "won_at": f"CASE WHEN {stage} = 'won' THEN h.created_at + (20 + h.id % 60) * interval '1 day' END",
            "lost_at": f"CASE WHEN {stage} = 'lost' THEN h.created_at + (15 + h.id % 50) * interval '1 day' END",
            "lost_reason_id": f"CASE WHEN {stage} = 'lost' THEN ({reason_array})[1 + (h.id % {len(reasons)})] END",
            "lost_note": "''",
            "updated_at": "now()",
        },
    )
    with connection.cursor() as cur:
        # Qualified handoffs become SQL leads; the loader's timestamps are days in the past.
        cur.execute(
            "UPDATE handoff_handoff SET qualified_at = created_at + interval '2 days' "
            "WHERE status = 'qualified'"
        )
        cur.execute(
            f"INSERT INTO {Opportunity._meta.db_table} ({', '.join(cols)}) "
            f"SELECT {', '.join(vals)} FROM ("
            "  SELECT * FROM handoff_handoff WHERE status IN ('qualified', 'accepted') "
            f"  ORDER BY id LIMIT {int(n)}) h"
        )
    print(f"  opportunities      {time.perf_counter() - t:6.1f} s")
    import psycopg

    with psycopg.connect(
        f"{feedback_bench.SERVER}/{feedback_bench.DB_NAME}", autocommit=True
    ) as conn:
        conn.execute("VACUUM ANALYZE")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handoffs", type=int, default=1_000_000)
    parser.add_argument("--opportunities", type=int, default=300_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="reuse a loaded scratch database")
    parser.add_argument("--database", default=DB_NAME, help="the scratch database's name")
    parser.add_argument(
        "--rebuild", action="store_true", help="with --reuse: rebuild the rollup again"
    )
    parser.add_argument(
        "--slices",
        action="store_true",
        help="with --reuse: derive the per-dimension slices again from the kept rollup",
    )
    args = parser.parse_args()
    feedback_bench.DB_NAME = args.database

    reuse = args.reuse and feedback_bench.database_exists()
    if not reuse:
        feedback_bench.admin_sql(f"DROP DATABASE IF EXISTS {args.database}")
        feedback_bench.admin_sql(f"CREATE DATABASE {args.database}")
    feedback_bench.setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from feedback import selectors as feedback_selectors
    from handoff.models import Handoff
    from pipeline import metrics
    from pipeline.models import Opportunity

    try:
        call_command("migrate", verbosity=0)
        if not reuse:
            print(f"Loading {args.handoffs:,} handoffs, {args.opportunities:,} opportunities ...")
            t = time.perf_counter()
            feedback_bench.load(args.handoffs)
            load_opportunities(args.opportunities)
            print(f"  total              {time.perf_counter() - t:6.1f} s")
        # The rows were loaded by SQL, past the services: the rollup is rebuilt, as an operator
        # would after such a load (manage.py rebuild_revenue_rollup).
        from pipeline import rollup
        from pipeline.models import RevenueRollup, RevenueScore, RevenueSlice, RevenueSliceDuration

        if reuse and not args.rebuild and RevenueRollup.objects.exists():
            print("  rollup kept from the previous run (--rebuild to time it again)")
            if args.slices or not RevenueScore.objects.exists():
                # The threshold advisor's rollup (day x team x score) from the raw rows.
                t = time.perf_counter()
                with transaction.atomic():
                    RevenueScore.objects.all().delete()
                    rollup.count_scores(None)
                print(
                    f"  advisor rollup     {time.perf_counter() - t:6.1f} s "
                    f"({RevenueScore.objects.count():,} rows)"
                )
            if args.slices or not RevenueSlice.objects.exists():
                # The slices (one dimension at a time) derived again from the kept rollup.
                t = time.perf_counter()
                with transaction.atomic():
                    RevenueSlice.objects.all().delete()
                    RevenueSliceDuration.objects.all().delete()
                    rollup.derive_slices(None)
                print(
                    f"  slices derived     {time.perf_counter() - t:6.1f} s "
                    f"({RevenueSlice.objects.count():,} count rows, "
                    f"{RevenueSliceDuration.objects.count():,} histogram rows)"
                )
        else:
            t = time.perf_counter()
            written = rollup.rebuild()
            print(
                f"  rollup rebuilt     {time.perf_counter() - t:6.1f} s "
                f"({written['revenue_rollup']:,} count rows, "
                f"{written['revenue_duration']:,} histogram rows, "
                f"slices {written['revenue_slice']:,} + {written['revenue_slice_duration']:,}, "
                f"advisor {written['revenue_score']:,})"
            )
        with connection.cursor() as cur:
            for table in ("rollup", "duration", "slice", "sliceduration", "score"):
                cur.execute(f"ANALYZE pipeline_revenue{table}")
        handoffs = Handoff.objects.count()
        opportunities = Opportunity.objects.count()
        print(
            f"\n{handoffs:,} handoffs, {opportunities:,} opportunities, PostgreSQL "
            f"{connection.pg_version // 10000}, best of 3 warm runs; load average "
            f"{load_average()}\n"
        )
        filters = metrics.RevenueFilters.from_params({})
        start = filters.date_from.isoformat()
        h, o = "handoff_handoff", "pipeline_opportunity"
        team = Handoff.objects.values_list("team_id", flat=True).first()
        one_team = metrics.RevenueFilters(filters.date_from, filters.date_to, team=team)
        raw = feedback_bench.raw
        from django.utils import timezone

        week_ago = timezone.now() - dt.timedelta(days=7)
        busiest = timezone.localdate() - dt.timedelta(days=30)

        def refresh_one_day() -> None:
            # What the beat refresh pays per dirty day: both sides of one day and its slices,
            # in a rolled-back block.
            with transaction.atomic():
                rollup.refresh_day(busiest)
                transaction.set_rollback(True)

        def mark_one_day() -> None:
            # What a change pays in its transaction: one dirty mark (rolled back).
            with transaction.atomic():
                rollup.mark_dirty(busiest)
                transaction.set_rollback(True)

        cases: list[tuple[str, Callable[[], Any]]] = [
            ("baseline: SELECT count(*) FROM handoffs", raw(f"SELECT count(*) FROM {h}")),
            (
                "baseline: handoffs of the range GROUP BY source",
                raw(
                    f"SELECT lead_source, count(*), count(*) FILTER (WHERE status = 'qualified') "
                    f"FROM {h} WHERE created_at >= '{start}' GROUP BY 1"
                ),
            ),
            (
                "baseline: opportunities GROUP BY source, sum(amount)",
                raw(
                    f"SELECT source, count(*), sum(amount) FILTER (WHERE stage = 'won') "
                    f"FROM {o} WHERE promoted_at >= '{start}' GROUP BY 1"
                ),
            ),
            (
                "baseline: opportunity JOIN handoff GROUP BY source",
                raw(
                    f"SELECT x.lead_source, count(*), sum(y.amount) FROM {o} y "
                    f"JOIN {h} x ON x.id = y.handoff_id WHERE x.created_at >= '{start}' "
                    "GROUP BY 1"
                ),
            ),
            *[
                (
                    f"by_{dim} (with median and p90 days)",
                    lambda d=dim: metrics.by_dimension(d, filters),
                )  # type: ignore[misc]
                for dim in ("totals", *metrics.DIMENSIONS)
            ],
            (
                "by_source, no durations (dashboard)",
                lambda: metrics.by_dimension("source", filters, durations=False),
            ),
            ("by_rep, one team", lambda: metrics.by_dimension("rep", one_team)),
            ("other_currencies", lambda: metrics.other_currencies(filters)),
            ("lost_reasons_by source", lambda: metrics.lost_reasons_by("source", filters)),
            ("lost_reasons_by campaign", lambda: metrics.lost_reasons_by("campaign", filters)),
            ("open_pipeline (now)", metrics.open_pipeline),
            (
                "won_by_source, last 7 days (digest)",
                lambda: metrics.won_by_source(start=week_ago, end=timezone.now()),
            ),
            ("one dirty mark (what a change pays)", lambda: mark_one_day()),
            (
                "one refresh of a promotion day (handoffs + opportunities + slices; beat)",
                lambda: refresh_one_day(),
            ),
            (
                "threshold_advisor (with won revenue)",
                lambda: feedback_selectors.threshold_advisor(),
            ),
            (
                "baseline: the advisor's raw GROUP BY score bucket (handoffs)",
                lambda: feedback_selectors._raw_buckets(
                    feedback_selectors.MetricsFilters(), settings.FEEDBACK_THRESHOLD_CANDIDATES
                ),
            ),
            ("revenue_metrics (the whole API answer)", lambda: metrics.revenue_metrics(filters)),
        ]
        width = max(len(name) for name, _ in cases)
        print(f"{'query'.ljust(width)}  {'seconds':>8}  target")
        slow = []
        for name, fn in cases:
            seconds, _ = feedback_bench.best_of(fn)
            plain = name.startswith(("baseline", "revenue_metrics"))
            mark = "" if plain else ("ok" if seconds < TARGET_SECONDS else "SLOW")
            if mark == "SLOW":
                slow.append(name)
            print(f"{name.ljust(width)}  {seconds:8.3f}  {mark}")
        print(
            f"\n{len(slow)} aggregate(s) over {TARGET_SECONDS:.0f} s"
            + (f": {slow}" if slow else "")
            + f"; load average {load_average()}"
        )
    finally:
        connection.close()
        if not args.keep:
            feedback_bench.admin_sql(f"DROP DATABASE IF EXISTS {args.database}")


if __name__ == "__main__":
    main()

"""Benchmark: the feedback analytics over 1,000,000 handoffs on PostgreSQL.

    .venv/bin/python bench/feedback.py [--handoffs 1000000] [--keep] [--reuse]

Creates a scratch database (bench_feedback; dropped at the end unless --keep), migrates it,
bulk-loads leads, handoffs with recorded outcomes and the feedback rows of the returned ones
with INSERT ... SELECT generate_series (no Python loop over rows), then times each aggregate of
feedback.selectors (best of 3 warm runs) beside raw baselines measured in the same run: a bare
count(*) of the handoffs, plain GROUP BYs, and the handoff -> lead join GROUP BY source that
the by-source figures would cost without the handoff's source snapshot. Target: each aggregate
under 1 s, and the whole payload (feedback_metrics, what the API answers) under 1 s.

The payload reads the feedback rollup (feedback.rollup): after the load (by SQL, with its
triggers on) the bench recounts it with rollup.rebuild() and prints the time and rows; the
per-figure functions (outcome_totals, outcomes_by, ...) still read the raw handoffs, so they are
the payload's raw baselines. Last, the first API read after N handoff changes (the newest
pending handoffs accepted in one UPDATE; undone after), then a second read.

--reuse skips the load when the scratch database already holds the data (for re-timing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = os.environ.get("BENCH_DB", "bench_feedback")
SERVER = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
TARGET_SECONDS = 1.0


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def database_exists() -> bool:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
    return row is not None


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()


def column_defaults(model: Any, overrides: dict[str, str]) -> tuple[list[str], list[str]]:
    """(columns, SQL expressions) for an INSERT ... SELECT into the model's table: the overrides
    where given, else what Django would have written by default (the database has no defaults)."""
    from django.db import models

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.generated:  # the database fills generated columns
            continue
        column = field.column
        columns.append(column)
        if column in overrides:
            values.append(overrides[column])
        elif field.null:
            values.append("NULL")
        elif isinstance(field, models.JSONField):
            default = field.get_default()
            values.append("'[]'::jsonb" if isinstance(default, list) else "'{}'::jsonb")
        elif isinstance(field, models.BooleanField):
            values.append("true" if field.get_default() else "false")
        elif isinstance(field, models.IntegerField | models.FloatField):
            values.append(str(field.get_default() or 0))
        elif isinstance(field, models.DateTimeField):
            values.append("now()")
        else:
            values.append(f"'{field.get_default() or ''}'")
    return columns, values


def load(n_handoffs: int) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from core.roles import SALES
    from feedback.models import RejectionReason, ReturnFeedback
    from handoff.models import BusinessCalendar, Handoff, Team
    from leads.models import Campaign, Lead, Source

    sales = Group.objects.get(name=SALES)
    reps = []
    for i in range(24):
        user = User.objects.create(username=f"rep{i}", first_name="Rep", last_name=str(i))
        user.groups.add(sales)
        reps.append(user.pk)
    calendar = BusinessCalendar.objects.create(name="Bench", timezone="UTC")
    teams = [Team.objects.create(name=f"Team {i}", calendar=calendar).pk for i in range(4)]
    campaigns = [Campaign.objects.create(name=f"Campaign {i}").pk for i in range(40)]
    sources = Source.values
    reasons = list(RejectionReason.objects.values_list("pk", "code"))

    def arr(values: list[Any]) -> str:
        return "ARRAY[" + ",".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + "]"

    with connection.cursor() as cur:
        t = time.perf_counter()
        # Leads: one per handoff; a third without a campaign.
        lead_cols, lead_vals = column_defaults(
            Lead,
            {
                "email": "'lead' || g || '@bench' || (g % 997) || '.test'",
                "company": "'Company ' || (g % 50000)",
                "domain": "'bench' || (g % 997) || '.test'",
                "source": f"({arr(sources)})[1 + (g % {len(sources)})]",
                "campaign_id": f"CASE WHEN g % 3 = 0 THEN NULL ELSE ({arr(campaigns)})[1 + (g % {len(campaigns)})] END",
                "stage": "'mql'",
                "score": "(20 + (g * 37) % 81)",
                "created_at": "now() - (g % 365) * interval '1 day'",
                "updated_at": "now()",
            },
        )
        cur.execute(
            f"INSERT INTO {Lead._meta.db_table} ({', '.join(lead_cols)}) "
            f"SELECT {', '.join(lead_vals)} FROM generate_series(1, {int(n_handoffs)}) AS g"
        )
        cur.execute(f"SELECT min(id) FROM {Lead._meta.db_table}")
        first_lead = cur.fetchone()[0]
        print(f"  leads loaded       {time.perf_counter() - t:6.1f} s")

        t = time.perf_counter()
        # Outcomes: acceptance rises with the score (20% at 20 points, 90% at 100); 5% pending,
        # 2% waiting, 3% reassigned; of the accepted, 40% qualified. Deterministic per row.
        cur.execute(
            f"""
            CREATE TEMP TABLE bench_rows AS
            SELECT g, (20 + (g * 37) % 81) AS score,
                   ((g * 7919) % 10007) / 10007.0 AS r1,
                   ((g * 104729) % 10009) / 10009.0 AS r2
            FROM generate_series(1::bigint, {int(n_handoffs)}) AS g
            """
        )
        status = (
            "CASE WHEN r1 < 0.05 THEN 'pending' WHEN r1 < 0.07 THEN 'waiting' "
            "WHEN r1 < 0.10 THEN 'reassigned' "
            "WHEN r2 < 0.2 + 0.7 * (score - 20) / 80.0 THEN "
            "  CASE WHEN r2 < 0.4 * (0.2 + 0.7 * (score - 20) / 80.0) THEN 'qualified' "
            "  ELSE 'accepted' END "
            "ELSE 'returned' END"
        )
        h_cols, h_vals = column_defaults(
            Handoff,
            {
                "lead_id": f"{first_lead} - 1 + g",
                # The same expressions as the lead's: the snapshot of its source and campaign.
                "lead_source": f"({arr(sources)})[1 + (g % {len(sources)})]",
                "lead_campaign_id": f"CASE WHEN g % 3 = 0 THEN NULL ELSE ({arr(campaigns)})[1 + (g % {len(campaigns)})] END",
                "assigned_to_id": f"({arr(reps)})[1 + (g % {len(reps)})]",
                "team_id": f"({arr(teams)})[1 + (g % {len(teams)})]",
                "status": "status",
                "score_snapshot": "score",
                "created_at": "now() - (g % 365) * interval '1 day'",
                "due_at": "now() - (g % 365) * interval '1 day' + interval '4 hours'",
                "attempt": "1",
                "return_reason_code": (
                    f"CASE WHEN status = 'returned' THEN "
                    f"({arr([c for _, c in reasons])})[1 + (g % {len(reasons)})] ELSE '' END"
                ),
                "returned_at": "CASE WHEN status = 'returned' THEN now() - (g % 365) * interval '1 day' + interval '2 hours' END",
                "updated_at": "now()",
            },
        )
        cur.execute(
            f"INSERT INTO {Handoff._meta.db_table} ({', '.join(h_cols)}) "
            f"SELECT {', '.join(h_vals)} FROM (SELECT *, {status} AS status FROM bench_rows) s"
        )
        print(f"  handoffs loaded    {time.perf_counter() - t:6.1f} s")

        t = time.perf_counter()
        reason_ids = {code: pk for pk, code in reasons}
        reason_case = " ".join(f"WHEN '{c}' THEN {pk}" for c, pk in reason_ids.items())
        f_cols, f_vals = column_defaults(
            ReturnFeedback,
            {
                "handoff_id": "h.id",
                "lead_id": "h.lead_id",
                "reason_id": f"CASE h.return_reason_code {reason_case} END",
                "returned_by_id": "h.assigned_to_id",
                "returned_at": "h.returned_at",
                "lead_effect": "'recycle'",
                "acknowledged_at": "CASE WHEN h.id % 4 <> 0 THEN h.returned_at + interval '1 day' END",
                "dispute_status": "CASE WHEN h.id % 97 = 0 THEN 'open' ELSE '' END",
                "follow_up": "CASE WHEN h.id % 97 = 0 THEN 'dispute' ELSE '' END",
            },
        )
        cur.execute(
            f"INSERT INTO {ReturnFeedback._meta.db_table} ({', '.join(f_cols)}) "
            f"SELECT {', '.join(f_vals)} FROM {Handoff._meta.db_table} h "
            f"WHERE h.status = 'returned'"
        )
        print(f"  feedback loaded    {time.perf_counter() - t:6.1f} s")
    t = time.perf_counter()
    # VACUUM cannot run inside a transaction block: use an autocommit connection.
    import psycopg

    with psycopg.connect(f"{SERVER}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  vacuum analyze     {time.perf_counter() - t:6.1f} s")


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (figures are read beside them)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def api_answer(filters: Any) -> dict[str, Any]:
    """What GET /api/metrics/feedback/ computes (feedback.apis.FeedbackMetricsApi)."""
    from feedback import contradictions, selectors

    return {
        **selectors.feedback_metrics(filters),
        "contradicted_rules": contradictions.contradicted_rules(filters),
    }


def best_of(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def raw(sql: str) -> Callable[[], Any]:
    from django.db import connection

    def run() -> Any:
        with connection.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    return run


def first_reads(api_answer: Callable[[Any], Any]) -> None:
    """What the first API read costs after N handoff changes (the newest pending handoffs
    accepted in one UPDATE: the triggers append 2 delta rows each; a read folds them once more
    than rollup.COMPACT_AFTER piled up), then a second read; the changes are undone after."""
    from django.db import connection

    from feedback import rollup, selectors

    h = "handoff_handoff"
    print(
        f"\nfirst read after N handoff changes (folds deltas above {rollup.COMPACT_AFTER:,} rows)"
    )
    for n in (100, 1_000, 10_000):
        with connection.cursor() as cur:
            t = time.perf_counter()
            cur.execute(
                f"UPDATE {h} SET status = 'accepted' WHERE id IN (SELECT id FROM {h} "
                f"WHERE status = 'pending' ORDER BY created_at DESC LIMIT {n}) RETURNING id"
            )
            ids = [row[0] for row in cur.fetchall()]
            changed = time.perf_counter() - t
        filters = selectors.MetricsFilters()
        t = time.perf_counter()
        api_answer(filters)
        first = time.perf_counter() - t
        t = time.perf_counter()
        api_answer(filters)
        second = time.perf_counter() - t
        print(
            f"  {n:>6,} changes (UPDATE {changed:.3f} s): first read {first:.3f} s, "
            f"second {second:.3f} s"
        )
        with connection.cursor() as cur:
            cur.execute(f"UPDATE {h} SET status = 'pending' WHERE id = ANY(%s)", [ids])
        rollup.compact(after=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handoffs", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="reuse a loaded scratch database")
    args = parser.parse_args()

    reuse = args.reuse and database_exists()
    if not reuse:
        admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        admin_sql(f"CREATE DATABASE {DB_NAME}")
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from feedback import rollup, selectors
    from handoff.models import Handoff

    try:
        if reuse:
            call_command("migrate", verbosity=0)  # indexes added since the load
        else:
            print(f"Loading {args.handoffs:,} handoffs into {DB_NAME} ...")
            t = time.perf_counter()
            call_command("migrate", verbosity=0)
            load(args.handoffs)
            print(f"  total              {time.perf_counter() - t:6.1f} s")
        # The load writes the handoffs by SQL with the triggers on (the migration counted any
        # loaded before it): recount the rollup as an operator would after a bulk load.
        t = time.perf_counter()
        rows = rollup.rebuild()
        print(f"feedback rollup rebuilt: {rows:,} rows in {time.perf_counter() - t:.2f} s")
        total = Handoff.objects.count()
        returned = Handoff.objects.filter(status="returned").count()
        print(f"load average before: {load_average()}")
        print(f"\n{total:,} handoffs ({returned:,} returned), PostgreSQL "
              f"{getattr(connection, 'pg_version', 0) // 10000}, best of 3 warm runs\n")  # fmt: skip

        h, lead = "handoff_handoff", "leads_lead"
        last_90 = selectors.MetricsFilters(date_from=dt.date.today() - dt.timedelta(days=90))
        team = selectors.MetricsFilters(
            team=Handoff.objects.values_list("team_id", flat=True).first()
        )
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("baseline: SELECT count(*) FROM handoffs", raw(f"SELECT count(*) FROM {h}")),
            (
                "baseline: count(*) GROUP BY status",
                raw(f"SELECT status, count(*) FROM {h} GROUP BY status"),
            ),
            (
                "baseline: count(*) GROUP BY lead_source",
                raw(f"SELECT lead_source, count(*) FROM {h} GROUP BY lead_source"),
            ),
            (
                "baseline: handoff JOIN lead GROUP BY source",
                raw(
                    f"SELECT l.source, count(*) FROM {h} x JOIN {lead} l ON l.id = x.lead_id "
                    "GROUP BY l.source"
                ),
            ),
            ("outcome_totals", lambda: selectors.outcome_totals()),
            ("outcomes_by source (+ reason mix)", lambda: selectors.outcomes_by("source")),
            ("outcomes_by campaign (+ reason mix)", lambda: selectors.outcomes_by("campaign")),
            ("outcomes_by score_band (+ reason mix)", lambda: selectors.outcomes_by("score_band")),
            ("outcomes_by team (+ reason mix)", lambda: selectors.outcomes_by("team")),
            ("outcomes_by rep (+ reason mix)", lambda: selectors.outcomes_by("rep")),
            ("reason_mix", lambda: selectors.reason_mix()),
            ("acceptance_by_score_band", lambda: selectors.acceptance_by_score_band()),
            ("threshold_advisor (14 thresholds)", lambda: selectors.threshold_advisor()),
            ("outcomes_by source, last 90 days", lambda: selectors.outcomes_by("source", last_90)),
            ("outcomes_by rep, one team", lambda: selectors.outcomes_by("rep", team)),
            ("threshold_advisor, last 90 days", lambda: selectors.threshold_advisor(last_90)),
            (
                "review queue: first page (50)",
                lambda: list(selectors.feedback_queue()[:50]),
            ),
            ("open disputes: first page (50)", lambda: list(selectors.feedback_disputes()[:50])),
            (
                "feedback_metrics (all of the above, whole API)",
                lambda: selectors.feedback_metrics(),
            ),
            (
                "API answer: feedback_metrics + contradicted rules",
                lambda: api_answer(selectors.MetricsFilters()),
            ),
            (
                "API answer, default range (last 8 weeks)",
                lambda: api_answer(
                    selectors.MetricsFilters(date_from=dt.date.today() - dt.timedelta(weeks=8))
                ),
            ),
        ]
        width = max(len(name) for name, _ in cases)
        print(f"{'query'.ljust(width)}  {'seconds':>8}  target")
        slow = []
        for name, fn in cases:
            seconds, _ = best_of(fn)
            is_baseline = name.startswith("baseline")
            whole = name.startswith(("feedback_metrics", "API answer"))
            mark = "" if is_baseline or whole else ("ok" if seconds < TARGET_SECONDS else "SLOW")
            if mark == "SLOW":
                slow.append(name)
            print(f"{name.ljust(width)}  {seconds:8.3f}  {mark}")
        first_reads(api_answer)
        print(f"load average after: {load_average()}")
        print(
            f"\n{len(slow)} aggregate(s) over {TARGET_SECONDS:.0f} s"
            + (f": {slow}" if slow else "")
        )
    finally:
        connection.close()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()

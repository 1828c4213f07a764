"""Benchmark: the SLA sweep over 100,000 and then 1,000,000 open handoffs on PostgreSQL.

    .venv/bin/python bench/sweep.py [--sizes 100000 1000000] [--due 10000] [--batch-size N]
                                    [--repeat 3] [--keep]

Creates a scratch database (bench_sweep; dropped at the end unless --keep), migrates it, and
bulk-loads leads and pending handoffs with INSERT ... SELECT generate_series (no Python loop
over rows). Of the open handoffs, `--due` are past their deadline at the sweep's `now`; the rest
are due (and at risk) days later. For each size it prints, in the same run:

- the empty sweep (nothing due; the advisory lock and one claim per ladder step), median of 50;
- the sweep flagging the due handoffs, with one HandoffEvent each and their manager's
  notifications (every due handoff is on one team: per batch of more than five, one grouped
  alert, see handoff.sweep.ladder), best and median of --repeat runs (the rows are reset
  between runs);
- the raw baselines, run in turn with the sweep (medians of --repeat): one bare `UPDATE ... SET
  breached_at = due_at WHERE <due>` of the same rows, and the set-based floor with events
  (`WITH u AS (UPDATE ... RETURNING) INSERT INTO events`), the baseline the sweep is held to
  (at most 1.5 times it);
- the load average (/proc/loadavg) before and after;

then the 1M/100k time ratios. Targets: empty sweep under 20 ms at 1M open; 10,000 breaches
flagged in under 2 s; 1M/100k ratio under 1.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = os.environ.get("BENCH_DB", "bench_sweep")
SERVER = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
NOW = dt.datetime(2025, 3, 4, 15, 0, tzinfo=dt.UTC)


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    # The sweep queues the sender on commit; nothing consumes it here.
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    import django

    django.setup()


def insert_select(model: Any, overrides: dict[str, str], count: int, start: int) -> None:
    """INSERT ... SELECT FROM generate_series(start, start+count-1) AS g: the overrides (SQL
    expressions over g) where given, else what Django writes by default (the database itself
    has no column defaults)."""
    from django.db import connection

    columns, exprs, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.generated:  # the database fills generated columns
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.attname in overrides:
            exprs.append(overrides[f.attname])
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            exprs.append("%s")
            params.append(NOW - dt.timedelta(days=1))
        elif f.null and not f.has_default():
            exprs.append("NULL")
        else:
            exprs.append("%s")
            params.append(f.get_db_prep_save(f.get_default(), connection))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM generate_series({start}, {start + count - 1}) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


class World:
    def __init__(self) -> None:
        from django.contrib.auth.models import Group, User

        from core.roles import SALES, SALES_MANAGER
        from handoff.models import BusinessCalendar, Team, WorkingWindow

        self.manager = User.objects.create_user(
            "bench.manager", "manager@bench.example", "x", first_name="Bea"
        )
        self.manager.groups.add(Group.objects.get(name=SALES_MANAGER))
        self.rep = User.objects.create_user("bench.rep", "rep@bench.example", "x")
        self.rep.groups.add(Group.objects.get(name=SALES))
        self.calendar = BusinessCalendar.objects.create(name="Bench 24x7", timezone="UTC")
        for day in range(7):
            WorkingWindow.objects.create(
                calendar=self.calendar, weekday=day, start=dt.time(0), end=dt.time(0)
            )
        self.team = Team.objects.create(name="Bench", calendar=self.calendar, manager=self.manager)
        self.loaded = 0

    def grow_to(self, total: int, due: int) -> float:
        """Add leads and pending handoffs up to `total`; the first `due` are overdue at NOW."""
        from django.db import connection, transaction

        from handoff.models import Handoff
        from leads.models import Lead

        started = time.perf_counter()
        count = total - self.loaded
        first = self.loaded + 1
        with transaction.atomic():
            insert_select(
                Lead,
                {
                    "email": "'bench' || g || '@example.com'",
                    "first_name": "'Lead'",
                    "last_name": "'#' || g",
                    "company": "'Company ' || (g %% 5000)",
                    "stage": "'mql'",
                    "score": "60 + g %% 40",
                },
                count,
                first,
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT min(id) FROM leads_lead WHERE email = %s", [f"bench{first}@example.com"]
                )
                lead_base = cursor.fetchone()[0] - first
            snapshot = (
                '{"name": "Bench", "version": 1, "accept_within_minutes": 240, '
                '"at_risk_ratio": 0.75, "notify_manager_on_breach": true, '
                '"reassign_on_breach": false, "max_reassignments": 2}'
            )
            now = f"'{NOW.isoformat()}'::timestamptz"
            # Handoff g <= due: overdue by g seconds (at risk an hour before). Others: due days
            # after NOW, spread over a week, at risk 3 h before their deadline.
            due_expr = (
                f"CASE WHEN g <= {due} THEN {now} - g * interval '1 second' "
                f"ELSE {now} + interval '1 day' + (g %% 604800) * interval '1 second' END"
            )
            insert_select(
                Handoff,
                {
                    "lead_id": f"g + {lead_base}",
                    "assigned_to_id": str(self.rep.pk),
                    "team_id": str(self.team.pk),
                    "calendar_id": str(self.calendar.pk),
                    "policy_snapshot": f"'{snapshot}'::jsonb",
                    "status": "'pending'",
                    "score_snapshot": "60 + g %% 40",
                    "created_at": f"({due_expr}) - interval '4 hours'",
                    "due_at": due_expr,
                    "at_risk_at": f"({due_expr}) - interval '3 hours'",
                },
                count,
                first,
            )
        self.loaded = total
        vacuum()
        return time.perf_counter() - started


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "leads_lead",
            "handoff_handoff",
            "handoff_handoffevent",
            "handoff_notification",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def reset_flags(due: int) -> None:
    """Undo a flagging run: the due rows unflagged again, their events and messages gone."""
    from django.db import connection

    with connection.cursor() as cursor:
        # TRUNCATE: events are append-only (a trigger refuses DELETE), and this is a reset.
        cursor.execute("TRUNCATE handoff_notification, handoff_handoffevent")
        cursor.execute(
            "UPDATE handoff_handoff SET breached_at = NULL, at_risk_flagged_at = NULL "
            "WHERE breached_at IS NOT NULL OR at_risk_flagged_at IS NOT NULL"
        )
    vacuum()


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def raw_update() -> tuple[float, int]:
    from django.db import connection, transaction

    def run() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE handoff_handoff SET breached_at = due_at WHERE status = 'pending' "
                "AND breached_at IS NULL AND due_at <= %s",
                [NOW],
            )
            return cursor.rowcount

    return timed(run)


def raw_update_with_events() -> tuple[float, int]:
    from django.db import connection, transaction

    def run() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "WITH u AS (UPDATE handoff_handoff SET breached_at = due_at, updated_at = %s "
                "WHERE status = 'pending' AND breached_at IS NULL AND due_at <= %s "
                "RETURNING id, due_at) "
                "INSERT INTO handoff_handoffevent (handoff_id, kind, from_status, to_status, "
                "reason, note, at, payload) SELECT id, 'breached', '', '', 'sla_sweep', '', "
                "due_at, '{}'::jsonb FROM u",
                [NOW, NOW],
            )
            return cursor.rowcount

    return timed(run)


def explain_claim(batch_size: int) -> str:
    """The plan of the statement the sweep runs per batch on PostgreSQL (claim, flag, events,
    outbox rows), for the first batch of the breach step; rolled back."""
    from django.db import connection

    from handoff.sweep import STEPS
    from handoff.sweep.runner import _Sweep

    sql, params = _Sweep(now=NOW, batch_size=batch_size)._statement(STEPS[0])
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SET LOCAL jit = off")  # as the sweep runs it
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        plan = "\n".join("      " + row[0] for row in cursor.fetchall())
        cursor.execute("ROLLBACK")
    return plan


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:  # not Linux
        return "unknown"


def expected_messages(due: int, batch_size: int) -> tuple[int, int]:
    """(grouped alerts, single breach messages) the sweep writes for `due` breaches of one
    manager in batches of `batch_size`."""
    from handoff.sweep.ladder import group_breaches_above

    alerts = singles = 0
    for start in range(0, due, batch_size):
        size = min(batch_size, due - start)
        if size > group_breaches_above():
            alerts += 1
        else:
            singles += size
    return alerts, singles


def measure(world: World, *, total: int, due: int, batch_size: int, repeat: int) -> dict:
    from handoff.models import HandoffEvent, Notification
    from handoff.notifications import handoff_link
    from handoff.sweep import sla_sweep

    load = world.grow_to(total, due)
    print(f"\n{total:,} open handoffs ({due:,} due), loaded in {load:.1f} s")

    before = NOW - dt.timedelta(days=30)  # nothing due, nothing at risk
    sla_sweep(now=before)  # warm the connection and the caches
    handoff_link(1)  # and the URL resolver, built once per process (a worker pays it once)
    empties = [timed(lambda: sla_sweep(now=before))[0] for _ in range(50)]
    empty = statistics.median(empties)
    print(f"  empty sweep:                       {empty * 1000:8.2f} ms  (median of 50, max "
          f"{max(empties) * 1000:.2f} ms)")  # fmt: skip

    # The sweep and its raw baselines take turns, so that each median saw the same load.
    raws, raw_events, runs = [], [], []
    load_before = load_average()
    for _ in range(repeat):
        seconds, n = raw_update()
        assert n == due, n
        raws.append(seconds)
        reset_flags(due)
        seconds, n = raw_update_with_events()
        assert n == due, n
        raw_events.append(seconds)
        reset_flags(due)
        seconds, result = timed(lambda: sla_sweep(now=NOW, batch_size=batch_size))
        assert len(result.breached) == due, result.summary()
        assert HandoffEvent.objects.filter(kind="breached").count() == due
        messages = (
            Notification.objects.filter(kind="breaches").count(),
            Notification.objects.filter(kind="breached").count(),
        )
        assert messages == expected_messages(due, batch_size), messages
        runs.append(seconds)
        reset_flags(due)
    raw, raw_ev, flag = (statistics.median(x) for x in (raws, raw_events, runs))
    alerts, singles = expected_messages(due, batch_size)
    print(
        f"  sweep flagging {due:,} breaches:     {min(runs):8.3f} s best, {flag:.3f} s median"
        f" of {repeat} (batch {batch_size}; + {due:,} events, {alerts:,} grouped alerts,"
        f" {singles:,} single messages)"
    )
    print(f"  raw UPDATE of the same rows:       {raw:8.3f} s median")
    print(f"  raw UPDATE + INSERT events (CTE):  {raw_ev:8.3f} s median (the raw baseline)")
    print(f"  sweep / raw UPDATE:                {flag / raw:8.2f} x")  # fmt: skip
    print(f"  sweep / raw UPDATE + events:       {flag / raw_ev:8.2f} x  (target <= 1.5)")  # fmt: skip
    print(f"  load average before / after:       {load_before} / {load_average()}")  # fmt: skip
    return {"empty": empty, "flag": flag, "raw": raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: settings.SLA_SWEEP_BATCH_SIZE"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    try:
        setup_django()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            print(cursor.fetchone()[0].split(",")[0])
        from django.conf import settings

        batch_size = args.batch_size or settings.SLA_SWEEP_BATCH_SIZE
        world = World()
        results = {}
        for size in sorted(args.sizes):
            results[size] = measure(
                world, total=size, due=args.due, batch_size=batch_size, repeat=args.repeat
            )
        largest = max(results)
        print(f"\nplan of one batch at {largest:,} open (the breach step's first {batch_size:,}):")
        print(explain_claim(batch_size))
        smallest = min(results)
        if largest != smallest:
            big, small = results[largest], results[smallest]
            print(f"\n{largest // 1000}k/{smallest // 1000}k ratios: flag "
                  f"{big['flag'] / small['flag']:.2f}, empty {big['empty'] / small['empty']:.2f}, "
                  f"raw UPDATE {big['raw'] / small['raw']:.2f}")  # fmt: skip
        big = results[largest]
        print(
            f"targets: empty < 20 ms at {largest:,}: {big['empty'] * 1000:.2f} ms "
            f"{'OK' if big['empty'] < 0.020 else 'MISSED'}; {args.due:,} flagged < 2 s: "
            f"{big['flag']:.3f} s {'OK' if big['flag'] < 2 else 'MISSED'}"
            + (
                f"; ratio < 1.5: {big['flag'] / results[smallest]['flag']:.2f} "
                f"{'OK' if big['flag'] / results[smallest]['flag'] < 1.5 else 'MISSED'}"
                if largest != smallest
                else ""
            )
        )
    finally:
        from django.db import connection

        connection.close()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()

"""Benchmark: breach-detection lag with a real Celery worker + beat on Redis.

    .venv/bin/python bench/sweep_lag.py [--handoffs 300] [--spread 240] [--interval 30]

Creates a scratch PostgreSQL database (bench_sweep_lag, dropped at the end unless --keep),
writes `--handoffs` pending handoffs whose deadlines fall at evenly spread instants over the
next `--spread` seconds, starts `celery -A config worker -B` (its own process group, a queue of
its own, on CELERY_BROKER_URL when it is redis://, else redis://127.0.0.1:6379/4) with the
production beat schedule at SLA_SWEEP_INTERVAL_SECONDS=`--interval`, waits until every deadline
has passed by two intervals, and reports the lag between each deadline and the moment its
breach was flagged (the sweep's time, kept in the breach event's payload["flagged_at"]), and
between the deadline and the manager's email being handed to the mail backend (sent_at).
Target: p99 flag lag under 60 s with a 30 s interval. Then kills the worker's process group.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_sweep_lag"
SERVER = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else "redis://127.0.0.1:6379/4"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def describe(name: str, lags: list[float]) -> str:
    return (
        f"  {name:<34} n={len(lags):<4} p50 {percentile(lags, 0.5):6.1f} s   "
        f"p90 {percentile(lags, 0.9):6.1f} s   p99 {percentile(lags, 0.99):6.1f} s   "
        f"max {max(lags):6.1f} s   mean {statistics.fmean(lags):6.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--handoffs", type=int, default=300)
    parser.add_argument(
        "--spread", type=float, default=240.0, help="seconds over which they fall due"
    )
    parser.add_argument("--interval", type=float, default=30.0, help="SLA_SWEEP_INTERVAL_SECONDS")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import redis

    url = broker_url()
    redis.Redis.from_url(url, socket_connect_timeout=2).ping()

    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"  # this process publishes nothing
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from core.roles import SALES, SALES_MANAGER
    from handoff.models import (
        BusinessCalendar,
        Handoff,
        HandoffEvent,
        Notification,
        Team,
        WorkingWindow,
    )
    from leads.models import Lead

    call_command("migrate", verbosity=0)
    manager = User.objects.create_user("lag.manager", "manager@lag.example", "x")
    manager.groups.add(Group.objects.get(name=SALES_MANAGER))
    rep = User.objects.create_user("lag.rep", "rep@lag.example", "x")
    rep.groups.add(Group.objects.get(name=SALES))
    calendar = BusinessCalendar.objects.create(name="Lag 24x7", timezone="UTC")
    WorkingWindow.objects.bulk_create(
        WorkingWindow(calendar=calendar, weekday=d, start=dt.time(0), end=dt.time(0))
        for d in range(7)
    )
    team = Team.objects.create(name="Lag", calendar=calendar, manager=manager)

    tmp = Path(tempfile.mkdtemp(prefix="sweep-lag-"))
    queue = f"sweeplag-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"{SERVER}/{DB_NAME}",
        "CELERY_BROKER_URL": url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SLA_SWEEP_INTERVAL_SECONDS": str(args.interval),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--loglevel=INFO",
             "--concurrency=2", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"{queue}@%h", "--schedule", str(tmp / "beat-schedule")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # Deadlines start a little after the worker, so beat's phase is arbitrary relative to
        # them, as in production.
        start = timezone.now() + dt.timedelta(seconds=10)
        step = args.spread / max(1, args.handoffs - 1)
        leads = Lead.objects.bulk_create(
            Lead(email=f"lag{i}@example.com", first_name="Lag", last_name=str(i), stage="mql")
            for i in range(args.handoffs)
        )
        handoffs = []
        for i, lead in enumerate(leads):
            due = start + dt.timedelta(seconds=i * step)
            handoffs.append(
                Handoff(
                    lead=lead,
                    team=team,
                    calendar=calendar,
                    assigned_to=rep,
                    status="pending",
                    created_at=due - dt.timedelta(minutes=10),
                    due_at=due,
                    at_risk_at=due - dt.timedelta(seconds=90),
                    policy_snapshot={"name": "Lag", "notify_manager_on_breach": True},
                )
            )
        Handoff.objects.bulk_create(handoffs)
        last_due = start + dt.timedelta(seconds=args.spread)
        print(
            f"{args.handoffs} handoffs due {start:%H:%M:%S}..{last_due:%H:%M:%S} UTC; worker + "
            f"beat on {url.rsplit('@', 1)[-1]} queue {queue}, sweep every {args.interval:g} s"
        )
        deadline = last_due + dt.timedelta(seconds=2 * args.interval + 5)
        while timezone.now() < deadline:
            if worker.poll() is not None:
                raise SystemExit(f"worker exited:\n{log_path.read_text()[-3000:]}")
            flagged = Handoff.objects.filter(breached_at__isnull=False).count()
            sent = Notification.objects.filter(kind="breached", sent_at__isnull=False).count()
            if flagged == args.handoffs and sent == args.handoffs:
                break
            time.sleep(2)
        connection.close()

        flag_lags, send_lags = [], []
        for event in HandoffEvent.objects.filter(kind="breached").select_related("handoff"):
            flagged_at = dt.datetime.fromisoformat(event.payload["flagged_at"])
            flag_lags.append((flagged_at - event.handoff.due_at).total_seconds())
            assert event.handoff.breached_at == event.handoff.due_at
        for note in Notification.objects.filter(kind="breached", sent_at__isnull=False):
            send_lags.append((note.sent_at - note.handoff.due_at).total_seconds())
        sweeps = log_path.read_text(errors="replace").count("Task handoff.tasks.sla_sweep[")
        events_per = HandoffEvent.objects.filter(kind="breached").count()
        print(f"flagged {len(flag_lags)}/{args.handoffs} (breach events {events_per}), "
              f"emails sent {len(send_lags)}, sweeps run {sweeps}")  # fmt: skip
        print(describe("deadline -> breach flagged", flag_lags))
        if send_lags:
            print(describe("deadline -> manager's email sent", send_lags))
        p99 = percentile(flag_lags, 0.99)
        print(f"target p99 flag lag < 60 s: {p99:.1f} s {'OK' if p99 < 60 else 'MISSED'}")
    finally:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        client = redis.Redis.from_url(url)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        from django.db import connection as conn

        conn.close()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()

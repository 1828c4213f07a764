"""Benchmark: webhook delivery to 3 local endpoints (one answering in 2 s) by a real worker.

    .venv/bin/python bench/webhooks.py [--events 10000] [--rate 100] [--concurrency 4]

Creates a scratch PostgreSQL database (bench_webhooks, dropped at the end unless --keep),
starts three receivers on 127.0.0.1 (two answer at once, one after 2 s) and a
`celery -A config worker -B` process group on Redis (CELERY_BROKER_URL when it is redis://,
else redis://127.0.0.1:6379/14), registers the receivers as endpoints for every event, then
publishes `--events` events at `--rate` per second through the task outbox, as the services do
(one transaction and one fan-out task per batch of 10). Each delivery's lag is the time from the
event (its envelope timestamp) to its arrival at the receiver.

Beside it, in the same run, the raw baseline: a bare HTTP client (one thread per receiver,
http.client, no database, no broker) posting the same bodies at the same pace; its lag is the
time from the moment the body was due to its arrival. Prints deliveries per second and lag
p50/p99 for the two fast endpoints of both, and the load average. Target: lag p99 under 5 s
for the fast endpoints while the slow one lags.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_webhooks"
SERVER = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
BATCH = 10


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else "redis://127.0.0.1:6379/14"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def event_data(i: int) -> dict:
    return {
        "handoff": {"id": i, "status": "pending", "attempt": 1},
        "lead": {"id": i, "name": f"Bench {i}", "company": "Bench", "email": f"b{i}@bench.example"},
        "rep": None,
        "team": None,
    }


def lags_of(receiver, *, key: str) -> list[float]:
    out = []
    for request in receiver.received:
        body = json.loads(request.body)
        sent = float(request.headers["x-due"]) if key == "due" else _parse(body["timestamp"])
        out.append(request.at - sent)
    return out


def _parse(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def baseline(receivers, bodies: list[bytes], rate: float, until: float) -> float:
    """Post the same bodies with a bare client, one thread per receiver, paced like the run."""
    start = time.time()

    def post_all(receiver) -> None:
        parts = urlsplit(receiver.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        for i, body in enumerate(bodies):
            due = start + i / rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() > until:
                return
            conn.request(
                "POST", parts.path, body, {"Content-Type": "application/json", "X-Due": str(due)}
            )
            conn.getresponse().read(1024)

    threads = [threading.Thread(target=post_all, args=(r,), daemon=True) for r in receivers]
    for thread in threads:
        thread.start()
    for thread in threads[:2]:
        thread.join()
    return time.time() - start


def report(name: str, fast, seconds: float) -> tuple[float, float]:
    lags = [lag for receiver in fast for lag in lags_of(receiver, key=name)]
    count = sum(len(r.received) for r in fast)
    p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
    print(
        f"  {name:<9} fast endpoints: {count} deliveries in {seconds:.1f} s = "
        f"{count / seconds:.1f}/s; lag p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(lags):.3f} s"
    )
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import redis

    from tests.integrations.receivers import Receiver

    url = broker_url()
    redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    queue = f"benchhooks-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DATABASE_URL=f"{SERVER}/{DB_NAME}",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CELERY_BROKER_URL=url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from integrations.models import Endpoint, Message
    from integrations.services import endpoint_create
    from leads.events import publish_events

    call_command("migrate", verbosity=0)
    fast = [Receiver().start(), Receiver().start()]
    slow = Receiver(delay=2.0).start()
    for receiver in [*fast, slow]:
        endpoint_create(data={"url": receiver.url, "event_types": ["*"]})

    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SLA_SWEEP_INTERVAL_SECONDS": "3600",
           "WEBHOOK_DISPATCH_INTERVAL_SECONDS": "2"}  # fmt: skip
    log_path = tmp / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--loglevel=WARNING",
             f"--concurrency={args.concurrency}", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"{queue}@%h", "--schedule", str(tmp / "beat")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        time.sleep(8)  # the worker's processes start
        load_before = os.getloadavg()
        started = time.time()
        for first in range(0, args.events, BATCH):
            due = started + first / args.rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            with transaction.atomic():
                publish_events(
                    ("lead.promoted", event_data(i))
                    for i in range(first, min(first + BATCH, args.events))
                )
        published = time.time() - started
        expected = args.events
        give_up = time.time() + 120
        while time.time() < give_up and any(len(r.received) < expected for r in fast):
            if worker.poll() is not None:
                raise SystemExit(f"worker exited:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        run_seconds = max(r.received[-1].at for r in fast if r.received) - started
        load_after = os.getloadavg()
        slow_delivered = len(slow.received)
        pending = Message.objects.filter(status="pending").count()
        connection.close()
        print(
            f"{args.events} events at {args.rate:g}/s (published in {published:.1f} s), 3 "
            f"endpoints, worker concurrency {args.concurrency}; load average "
            f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
        )
        _, p99 = report("timestamp", fast, run_seconds)
        print(
            f"  slow endpoint (2 s answers): {slow_delivered} delivered meanwhile, "
            f"{pending} messages still pending overall"
        )
        bodies = [
            json.dumps(
                {"type": "lead.promoted", "timestamp": "", "data": event_data(i)},
                separators=(",", ":"),
            ).encode()
            for i in range(args.events)
        ]
        raw_fast = [Receiver().start(), Receiver().start()]
        raw_slow = Receiver(delay=2.0).start()
        seconds = baseline([*raw_fast, raw_slow], bodies, args.rate, until=time.time() + 600)
        report("due", raw_fast, seconds)
        print("  (timestamp: the desk's pipeline; due: the bare HTTP client baseline)")
        print(f"target lag p99 < 5 s for the fast endpoints: {p99:.2f} s "
              f"{'OK' if p99 < 5 else 'MISSED'}")  # fmt: skip
        del Endpoint
    finally:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        client = redis.Redis.from_url(url)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()

"""Speed to lead: demo requests reach a rep while bulk ingestion runs, with the real worker.

    .venv/bin/python bench/speed_to_lead.py                        # 500 events over 5 minutes
    .venv/bin/python bench/speed_to_lead.py --events 60 --duration 30 --background-rate 500

What it does, in one run:
1. creates a scratch PostgreSQL database (BENCH_DATABASE_URL, default `bench_speed_to_lead`,
   dropped at the end unless --keep-db), migrates it and sets up a round-the-clock calendar, a
   catch-all team of 20 reps and SLA policy, the default scoring rules, one active
   auto-promotion rule (demo_request within 60 minutes) and N leads that match it;
2. starts gunicorn (production settings), a Celery worker and a separate beat on the broker at
   CELERY_BROKER_URL (Redis), with an in-memory mail backend in the worker;
3. in the background, POSTs batches of 1,000 new leads (bench/ingest.py's rows, without the
   rule's event kinds) to /api/leads/bulk/ paced at --background-rate leads/s;
4. meanwhile sends N demo requests for the matching leads evenly over --duration seconds, one
   request each, alternating `POST /api/events/bulk/` and `POST /api/leads/{id}/events/`;
5. after each answer, times the raw cost of the same INSERTs (the event row, the handoff row,
   the assignment's outbox row, with the values the desk wrote) into scratch tables shaped
   like them, over psycopg in one transaction: what the database alone takes for that write;
6. waits for the outbox and prints, per event, p50 / p99 / max of: the request (sent ->
   answered), event received -> handoff created, handoff created relative to the answer
   (negative: before it), event received -> notification sent (outbox row marked sent); the
   raw INSERTs beside them; the background rate reached; CPU by process and the load average.

Targets: notification p99 under 10 s; handoff created p99 under 1 s after the request returns.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (  # a sibling script, not a package
    ROOT,
    backend_pids,
    build_rows,
    drop_database,
    group_pids,
    log,
    machine_busy,
    manage,
    process_cpu,
    recreate_database,
    spare_port,
)

DEFAULT_URL = "postgres://root@127.0.0.1:5432/bench_speed_to_lead"
RULE_KINDS = ("demo_request", "contact_form")
TARGET_NOTIFY_P99 = 10.0
TARGET_CREATED_P99 = 1.0

SETUP = """
import datetime as dt
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from handoff.models import AutoPromotionRule, BusinessCalendar, SlaPolicy, Team, TeamMembership
from leads import services
services.scoring_rules_install_defaults()
marketer, _ = User.objects.get_or_create(username="bench.marketer")
marketer.groups.add(Group.objects.get(name="Marketing"))
calendar = BusinessCalendar.objects.create(name="Round the clock", timezone="UTC")
for day in range(7):
    calendar.windows.create(weekday=day, start=dt.time(0), end=dt.time(0))
team = Team.objects.create(name="Everyone", calendar=calendar)
sales = Group.objects.get(name="Sales")
for n in range({reps}):
    rep = User.objects.create(username=f"bench.rep{{n}}", email=f"rep{{n}}@bench.example")
    rep.groups.add(sales)
    TeamMembership.objects.create(team=team, rep=rep, capacity=100000, position=n)
SlaPolicy.objects.create(name="Catch-all", accept_within_minutes=60, first_touch_within_minutes=240)
AutoPromotionRule.objects.create(name="Demo request", event_kinds=["demo_request"], within_minutes=60)
rows = [{{"email": f"hot{{n}}@buyer{{n}}.example", "first_name": "Hot", "last_name": str(n),
          "country": "US", "title": "VP Finance", "industry": "fintech",
          "employee_band": "201-500", "source": "paid_search"}} for n in range({targets})]
outcome = services.leads_bulk_upsert(rows=rows, actor=marketer)
assert outcome.failed == 0, outcome.results[:3]
from leads.models import Lead
ids = list(Lead.objects.filter(email__startswith="hot").order_by("id").values_list("id", flat=True))
print(Token.objects.get_or_create(user=marketer)[0].key)
print(",".join(map(str, ids)))
"""


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def line(label: str, values: list[float], unit: str = "s") -> str:
    if not values:
        return f"  {label:<52} (none)"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return (
        f"  {label:<52} p50 {p50:8.3f} {unit}  p99 {p99:8.3f} {unit}  "
        f"max {max(values):8.3f} {unit}  (n={len(values)})"
    )


def request(port: int, token: str, method: str, path: str, body: Any) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(
        method,
        path,
        body=body if isinstance(body, bytes) else json.dumps(body),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {token}",
            "X-Forwarded-Proto": "https",
            "Host": "127.0.0.1",
        },
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


# --- the background: bulk ingestion at a steady rate ----------------------------------------


class Background:
    def __init__(self, *, port: int, token: str, rate: int, batch: int, clients: int) -> None:
        self.port, self.token, self.rate, self.batch = port, token, rate, batch
        self.clients = clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.next_batch = 0
        self.sent_leads = 0
        self.errors: list[str] = []
        self.started = 0.0
        self.threads: list[threading.Thread] = []

    def body(self, index: int) -> bytes:
        rows = build_rows(self.batch, index, dt.datetime.now(dt.UTC))
        for n, row in enumerate(rows):
            row["email"] = f"bg.{index}.{n}.{uuid.uuid4().hex[:6]}@bulk{n % 500}.example"
            row["events"] = [e for e in row["events"] if e["kind"] not in RULE_KINDS]
        return json.dumps({"leads": rows}).encode()

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                index = self.next_batch
                self.next_batch += 1
            due = self.started + index * self.batch / self.rate
            body = self.body(index)
            wait = due - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                return
            status, data = request(self.port, self.token, "POST", "/api/leads/bulk/", body)
            with self.lock:
                if status == 200:
                    self.sent_leads += self.batch
                else:
                    self.errors.append(f"HTTP {status}: {data[:200]!r}")

    def start(self) -> None:
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self.run) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> float:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        return self.sent_leads / max(time.monotonic() - self.started, 1e-9)


# --- the raw baseline: the same INSERTs, bare --------------------------------------------------

RAW_TABLES = {
    "leads_engagementevent": "bench_raw_event",
    "handoff_handoff": "bench_raw_handoff",
    "handoff_notification": "bench_raw_notification",
}


def raw_columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND is_generated = 'NEVER' AND column_name <> 'id' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


class Raw:
    """Per promoted lead: read the rows the desk wrote (untimed), then time INSERTing the same
    values into look-alike tables (same columns, indexes and constraints, no foreign keys)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()
        with psycopg.connect(url, autocommit=True) as conn:
            self.columns = {t: raw_columns(conn, t) for t in RAW_TABLES}
            for table, copy in RAW_TABLES.items():
                conn.execute(f"DROP TABLE IF EXISTS {copy}")
                conn.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")

    def conn(self) -> psycopg.Connection[Any]:
        if getattr(self.local, "conn", None) is None:
            self.local.conn = psycopg.connect(self.url)
        return self.local.conn

    def time_inserts(self, lead_id: int) -> float | None:
        conn = self.conn()
        values: dict[str, Any] = {}
        for table, where in (
            ("leads_engagementevent", "lead_id = %s ORDER BY id DESC LIMIT 1"),
            ("handoff_handoff", "lead_id = %s ORDER BY id DESC LIMIT 1"),
            (
                "handoff_notification",
                "handoff_id = (SELECT max(id) FROM handoff_handoff WHERE lead_id = %s) "
                "ORDER BY id LIMIT 1",
            ),
        ):
            cols = self.columns[table]
            row = conn.execute(
                f"SELECT {', '.join(cols)} FROM {table} WHERE {where}", [lead_id]
            ).fetchone()
            if row is None:
                conn.rollback()
                return None
            values[table] = [Jsonb(v) if isinstance(v, dict | list) else v
                             for v in row]  # fmt: skip
        conn.commit()
        started = time.perf_counter()
        for table, copy in RAW_TABLES.items():
            cols = self.columns[table]
            marks = ", ".join(["%s"] * len(cols))
            conn.execute(f"INSERT INTO {copy} ({', '.join(cols)}) VALUES ({marks})", values[table])
        conn.commit()
        return time.perf_counter() - started


# --- main -----------------------------------------------------------------------------------


def bench_env(url: str, broker: str) -> dict[str, str]:
    """The environment of gunicorn, the worker, beat and the management commands."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "600",
        "CELERY_BROKER_URL": broker,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore::UserWarning",
    }


def start_processes(
    procs: dict[str, subprocess.Popen[bytes]],
    *,
    env: dict[str, str],
    port: int,
    token: str,
    args: argparse.Namespace,
    scratch: str,
) -> None:
    """Start gunicorn, a Celery worker and beat into `procs` (the caller stops them), and wait
    until the API answers."""
    procs["gunicorn"] = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application",
         "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    procs["worker"] = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING",
         "--concurrency", str(args.concurrency), "-n", f"speed-{os.getpid()}@%h"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    procs["beat"] = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "WARNING",
         "-s", str(Path(scratch) / "beat-schedule")],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _ = request(port, token, "GET", "/api/leads/?page_size=1", b"")
            if status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or procs["gunicorn"].poll() is not None:
            raise SystemExit("gunicorn did not come up")
        time.sleep(0.3)
    time.sleep(3)  # the worker connects to the broker


def stop_processes(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def send_demo_requests(
    *, port: int, token: str, raw: Raw, lead_ids: list[int], events: int, duration: float
) -> tuple[list[dict[str, Any]], float]:
    """One demo request per lead, evenly over `duration` seconds, alternating the bulk and the
    single endpoint. Returns what each answered, and when sending started (monotonic)."""
    results: list[dict[str, Any]] = [{} for _ in lead_ids]

    def send(index: int, lead_id: int) -> None:
        occurred = dt.datetime.now(dt.UTC).isoformat()
        event = {
            "kind": "demo_request",
            "occurred_at": occurred,
            "external_id": f"demo-{index}",
        }
        sent = time.time()
        if index % 2:
            path = f"/api/leads/{lead_id}/events/"
            status, _ = request(port, token, "POST", path, event)
        else:
            path = "/api/events/bulk/"
            status, _ = request(
                port, token, "POST", path, {"events": [{"lead_id": lead_id, **event}]}
            )
        answered = time.time()
        results[index] = {
            "lead_id": lead_id,
            "endpoint": "bulk" if index % 2 == 0 else "single",
            "status": status,
            "sent": sent,
            "answered": answered,
            "raw": raw.time_inserts(lead_id) if status in (200, 201) else None,
        }

    random.Random(7).shuffle(lead_ids)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for index, lead_id in enumerate(lead_ids):
            due = started + index * duration / max(events, 1)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            pool.submit(send, index, lead_id)
    return results, started


def auto_handoffs(url: str) -> list[tuple[Any, ...]]:
    """Wait for the outbox (every promoted handoff's assignment sent, or 60 s), then read
    (lead id, signal received, created, notification sent) of each auto-promoted handoff."""
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = conn.execute(
                "SELECT count(*) FROM handoff_notification WHERE sent_at IS NULL"
            ).fetchone()
            if left and left[0] == 0:
                break
            time.sleep(0.5)
        return conn.execute(
            "SELECT h.lead_id, extract(epoch FROM h.signal_received_at), "
            "extract(epoch FROM h.created_at), "
            "extract(epoch FROM (SELECT min(n.sent_at) FROM handoff_notification n "
            "WHERE n.handoff_id = h.id AND n.kind = 'assigned')) "
            "FROM handoff_handoff h WHERE h.auto_promotion IS NOT NULL"
        ).fetchall()


class Figures:
    """The per-event durations of one run, and what went wrong."""

    def __init__(self, results: list[dict[str, Any]], by_lead: dict[Any, tuple[Any, ...]]) -> None:
        self.request_s: dict[str, list[float]] = {"bulk": [], "single": []}
        self.created_after_received: list[float] = []
        self.created_vs_answer: list[float] = []
        self.notified: list[float] = []
        self.raw_s: list[float] = []
        self.missing = self.errors = self.unsent = 0
        for r in results:
            if not r or r["status"] not in (200, 201):
                self.errors += 1
                continue
            self.request_s[r["endpoint"]].append(r["answered"] - r["sent"])
            if r["raw"] is not None:
                self.raw_s.append(r["raw"])
            found = by_lead.get(r["lead_id"])
            if found is None:
                self.missing += 1
                continue
            self._add(r, found)

    def _add(self, r: dict[str, Any], found: tuple[Any, ...]) -> None:
        received, created, sent_at = (float(x) if x is not None else None for x in found)
        self.created_after_received.append(created - received)
        self.created_vs_answer.append(created - r["answered"])
        if sent_at is None:
            self.unsent += 1
        else:
            self.notified.append(sent_at - received)

    def log_lines(self) -> None:
        request_s, raw_s = self.request_s, self.raw_s
        log(line("request, POST /api/events/bulk/ (sent -> answered)", request_s["bulk"]))
        log(line("request, POST /api/leads/{id}/events/", request_s["single"]))
        log(line("event received -> handoff created", self.created_after_received))
        log(line("handoff created, relative to the answer", self.created_vs_answer))
        log(line("event received -> notification sent", self.notified))
        log(line("raw INSERTs (event + handoff + outbox row)", raw_s))
        if raw_s and request_s["bulk"] + request_s["single"]:
            ratio = statistics.median(request_s["bulk"] + request_s["single"]) / statistics.median(
                raw_s
            )
            log(f"  a request costs {ratio:.0f}x the bare INSERTs (medians)")

    def log_targets(self) -> None:
        p99_notify = percentile(self.notified, 0.99)
        p99_created = percentile(self.created_vs_answer, 0.99)
        log(f"\ntargets: notification p99 < {TARGET_NOTIFY_P99:.0f} s: "
            f"{'met' if p99_notify is not None and p99_notify < TARGET_NOTIFY_P99 else 'MISSED'}; "
            f"handoff created p99 < {TARGET_CREATED_P99:.0f} s after the answer: "
            f"{'met' if p99_created is not None and p99_created < TARGET_CREATED_P99 else 'MISSED'}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--background-rate", type=int, default=1000, help="leads/s (0: none)")
    parser.add_argument("--background-clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        raise SystemExit("Set CELERY_BROKER_URL=redis://host:6379/<db> (a database of your own).")
    env = bench_env(url, broker)
    log(f"scratch database {urlparse(url).path.lstrip('/')}: creating and migrating")
    recreate_database(url)
    subprocess.run(["redis-cli", "-u", broker, "FLUSHDB"], check=False, capture_output=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    scratch = tempfile.mkdtemp(prefix="speed-to-lead-")
    try:
        manage(env, "migrate", "-v0")
        out = manage(env, "shell", "-c", SETUP.format(reps=20, targets=args.events))
        token, id_line = out.strip().splitlines()[-2:]
        lead_ids = [int(x) for x in id_line.split(",")]

        port = spare_port()
        start_processes(procs, env=env, port=port, token=token, args=args, scratch=scratch)

        raw = Raw(url)
        cpu_before = machine_busy()
        load_before = os.getloadavg()
        background = Background(
            port=port,
            token=token,
            rate=args.background_rate,
            batch=1000,
            clients=args.background_clients,
        )
        if args.background_rate:
            background.start()
            log(f"background: bulk posts of 1,000 leads at {args.background_rate:,} leads/s")
        log(f"sending {args.events} demo requests over {args.duration:.0f} s")

        results, started = send_demo_requests(
            port=port,
            token=token,
            raw=raw,
            lead_ids=lead_ids,
            events=args.events,
            duration=args.duration,
        )
        rate = background.finish() if args.background_rate else 0.0
        cpu_run = machine_busy() - cpu_before
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()
        cpu = {
            name: sum(process_cpu(pid) for pid in group_pids(proc.pid))
            for name, proc in procs.items()
        }
        cpu["postgres"] = sum(process_cpu(pid) for pid in backend_pids(url))

        rows = auto_handoffs(url)
        auto_count = len(rows)
        figures = Figures(results, {r[0]: r[1:] for r in rows})
        errors, missing, unsent = figures.errors, figures.missing, figures.unsent

        log(f"\n{args.events} demo requests in {elapsed:.0f} s; {auto_count} auto-promoted "
            f"handoffs; {errors} failed requests, {missing} without a handoff, {unsent} not "
            "notified")  # fmt: skip
        if args.background_rate:
            log(f"background bulk ingestion: {rate:,.0f} leads/s reached "
                f"(asked {args.background_rate:,}); {len(background.errors)} failed batches "
                f"{background.errors[:2]}")  # fmt: skip
        figures.log_lines()
        figures.log_targets()
        log("CPU seconds during the run: "
            + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
            + f"; the whole machine {cpu_run:.0f} (2 cores x {elapsed:.0f} s = {2 * elapsed:.0f})")  # fmt: skip
        log(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
        ok = not errors and not missing and not unsent
        return 0 if ok else 1
    finally:
        stop_processes(procs)
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.keep_db:
            drop_database(url)


if __name__ == "__main__":
    raise SystemExit(main())

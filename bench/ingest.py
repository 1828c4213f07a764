"""Bulk lead ingestion over real HTTP, beside a raw PostgreSQL COPY of the same rows.

    .venv/bin/python bench/ingest.py                      # 100,000 leads, 4 clients
    .venv/bin/python bench/ingest.py --leads 20000 --clients 2 --workers 2

What it does, in one run:
1. creates a scratch PostgreSQL database (`bench_ingest`, dropped at the end), migrates it,
   installs the default scoring rules and a marketer with an API token;
2. starts gunicorn (production settings, persistent DB connections) on a spare loopback port;
3. builds N leads (each with 0-4 engagement events, external ids, a campaign for most) as
   batches of 1,000 JSON rows, serialised before the clock starts;
4. POSTs the batches to /api/leads/bulk/ from a few concurrent clients (threads, each with an
   Idempotency-Key per batch) and times first request to last answer;
5. COPYs the same rows (leads, then events) into scratch tables shaped like leads_lead and
   leads_engagementevent (same columns and indexes) and times that;
6. prints leads/s for both and their ratio, and checks what landed in the database.

Needs PostgreSQL at BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/bench_ingest).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://root@127.0.0.1:5432/bench_ingest"

INDUSTRIES = ["software", "fintech", "healthcare", "retail", "manufacturing", "education", "media"]
BANDS = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001+", ""]
TITLES = ["CTO", "VP Marketing", "Director of IT", "Marketing Manager", "Analyst", "Engineer", ""]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "NL", "ES", "IN", "BR", "AU"]
SOURCES = ["paid_search", "organic_search", "webinar", "content", "email", "event", "partner"]
KINDS = [
    "email_open",
    "email_click",
    "page_view",
    "content_download",
    "webinar_attended",
    "pricing_page_view",
    "demo_request",
    "trial_signup",
]
CAMPAIGNS = ["Spring webinar", "Pricing guide", "Brand search", "Summit booth"]


def log(message: str) -> None:
    print(message, flush=True)


# --- CPU accounting: what the run cost, and what else the machine was doing ---------------

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def machine_busy() -> float:
    """CPU seconds all processes have used since boot (every core)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


def backend_pids(url: str) -> list[int]:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(admin_dsn(url)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [r[0] for r in rows]


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the scratch database -------------------------------------------------------------------


def admin_dsn(url: str) -> str:
    parts = urlparse(url)
    return parts._replace(path="/postgres").geturl()


def recreate_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


SETUP = """
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from leads import services
from leads.models import Campaign
services.scoring_rules_install_defaults()
# PQL criteria on, as a live desk has them (accounts are always matched).
from leads.models import PqlCriterion
PqlCriterion.objects.get_or_create(name="3 days in 14", kind="usage_days", min_days=3, within_days=14)
PqlCriterion.objects.get_or_create(name="Trial", kind="trial", within_days=14)
for name in {campaigns!r}:
    Campaign.objects.get_or_create(name=name)
user, _ = User.objects.get_or_create(username="bench.marketer")
user.groups.add(Group.objects.get(name="Marketing"))
print(Token.objects.get_or_create(user=user)[0].key)
"""


# --- the rows ---------------------------------------------------------------------------------


def build_rows(count: int, seed: int, now: dt.datetime) -> list[dict]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    rows = []
    for n in range(count):
        events = [
            {
                "kind": rng.choice(KINDS),
                "occurred_at": (
                    now - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 60))
                ).isoformat(),
                "payload": {"utm_source": rng.choice(SOURCES)},
                "external_id": f"ev-{run}-{n}-{j}",
            }
            for j in range(rng.randint(0, 4))
        ]
        row = {
            "email": f"Lead.{n}.{run}@Company{n % 5000}.example",
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            "company": f"Company {n % 5000}",
            "title": rng.choice(TITLES),
            "industry": rng.choice(INDUSTRIES),
            "employee_band": rng.choice(BANDS),
            "country": rng.choice(COUNTRIES),
            "source": rng.choice(SOURCES),
            "events": events,
        }
        if rng.random() < 0.7:
            row["campaign"] = rng.choice(CAMPAIGNS)
        rows.append(row)
    return rows


# --- HTTP ingestion -------------------------------------------------------------------------


def post_batches(
    *, port: int, token: str, bodies: list[bytes], clients: int
) -> tuple[float, list[dict], list[float]]:
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    answers: list[dict] = [{} for _ in bodies]
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not queue or failures:
                    return
                i, payload = queue.pop(0)
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request(
                "POST",
                "/api/leads/bulk/",
                body=payload,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Token {token}",
                    "Idempotency-Key": f"bench-{i}-{uuid.uuid4().hex}",
                    # gunicorn sits behind a TLS proxy in production; say we came through one.
                    "X-Forwarded-Proto": "https",
                    "Host": "127.0.0.1",
                },
            )
            response = conn.getresponse()
            data = response.read()
            conn.close()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                with lock:
                    failures.append(f"batch {i}: HTTP {response.status}: {data[:500]!r}")
                return
            with lock:
                answers[i] = json.loads(data)
                latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit("ingestion failed: " + "; ".join(failures[:3]))
    return elapsed, answers, latencies


# --- the raw COPY baseline ------------------------------------------------------------------


def copy_baseline(url: str, rows: list[dict], now: dt.datetime) -> tuple[float, int]:
    """COPY the same leads and events into tables shaped like ours (same columns, indexes and
    defaults, no scoring, no validation, no HTTP): what the database alone can take."""
    lead_cols = (
        "id, email, first_name, last_name, phone, title, seniority, company, domain, industry, "
        "employee_band, country, source, stage, score, score_breakdown, ready_for_sales, "
        "return_count, created_at, updated_at, ready_reason, pql, pql_criteria"
    )
    event_cols = "lead_id, kind, occurred_at, payload, is_high_intent, external_id, created_at"
    leads_buf = io.StringIO()
    events_buf = io.StringIO()
    stamp = now.isoformat()
    for pk, row in enumerate(rows, start=1):
        email = row["email"].strip().lower()
        fields = [
            str(pk), email, row["first_name"], row["last_name"], "", row["title"], "",
            row["company"], email.rsplit("@", 1)[1], row["industry"], row["employee_band"],
            row["country"], row["source"], "lead", "0", "{}", "f", "0", stamp, stamp, "", "f",
            "[]",
        ]  # fmt: skip
        leads_buf.write("\t".join(fields) + "\n")
        for event in row["events"]:
            payload = json.dumps(event["payload"]).replace("\\", "\\\\")
            events_buf.write(
                f"{pk}\t{event['kind']}\t{event['occurred_at']}\t{payload}\tf\t"
                f"{event['external_id']}\t{stamp}\n"
            )
    events_total = sum(len(r["events"]) for r in rows)
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_events, bench_copy_leads")
        conn.execute("CREATE TABLE bench_copy_leads (LIKE leads_lead INCLUDING ALL)")
        conn.execute("CREATE TABLE bench_copy_events (LIKE leads_engagementevent INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY bench_copy_leads ({lead_cols}) FROM STDIN") as copy:
                copy.write(leads_buf.getvalue())
            with cur.copy(f"COPY bench_copy_events ({event_cols}) FROM STDIN") as copy:
                copy.write(events_buf.getvalue())
        conn.commit()
        elapsed = time.perf_counter() - started
        copied = conn.execute("SELECT count(*) FROM bench_copy_leads").fetchone()
        assert copied and copied[0] == len(rows)
    return elapsed, events_total


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-db", action="store_true", help="Do not drop the scratch database.")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "600",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # WhiteNoise warns that var/static is missing (no collectstatic in a benchmark).
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    log(f"scratch database {urlparse(url).path.lstrip('/')}: creating and migrating")
    recreate_database(url)
    server: subprocess.Popen[bytes] | None = None
    try:
        manage(env, "migrate", "-v0")
        token = (
            manage(env, "shell", "-c", SETUP.format(campaigns=CAMPAIGNS)).strip().splitlines()[-1]
        )

        port = spare_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application",
             "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning", "--timeout", "120"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request(
                    "GET",
                    "/api/leads/?page_size=1",
                    headers={"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"},
                )
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("gunicorn did not come up")
            time.sleep(0.2)

        now = dt.datetime.now(dt.UTC)
        log(f"building {args.leads:,} leads in batches of {args.batch:,}")
        rows = build_rows(args.leads, args.seed, now)
        bodies = [
            json.dumps({"leads": rows[i : i + args.batch]}).encode()
            for i in range(0, len(rows), args.batch)
        ]
        events_sent = sum(len(r["events"]) for r in rows)
        mb = sum(len(b) for b in bodies) / 1e6
        log(
            f"POSTing {len(bodies)} batches ({mb:.0f} MB, {events_sent:,} events) with "
            f"{args.clients} clients to gunicorn ({args.workers} workers) on port {port}"
        )
        app_before = sum(process_cpu(p) for p in group_pids(server.pid))
        db_before = {p: process_cpu(p) for p in backend_pids(url)}
        client_before = time.process_time()
        busy_before = machine_busy()
        load_before = os.getloadavg()[0]
        api_seconds, answers, latencies = post_batches(
            port=port, token=token, bodies=bodies, clients=args.clients
        )
        busy = machine_busy() - busy_before
        client_cpu = time.process_time() - client_before
        app_cpu = sum(process_cpu(p) for p in group_pids(server.pid)) - app_before
        db_cpu = sum(process_cpu(p) - db_before.get(p, 0.0) for p in backend_pids(url))
        others_cpu = max(busy - app_cpu - db_cpu - client_cpu, 0.0)
        created = sum(a["created"] for a in answers)
        errors = sum(a["errors"] for a in answers)
        events_in = sum(a["events"] for a in answers)
        with psycopg.connect(url) as conn:
            stored = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE scored_at IS NOT NULL) FROM leads_lead"
            ).fetchone()
            stored_events = conn.execute("SELECT count(*) FROM leads_engagementevent").fetchone()
        assert stored and stored_events
        if created != args.leads or errors or stored[0] != args.leads or stored[1] != args.leads:
            raise SystemExit(
                f"expected {args.leads:,} scored leads: created {created:,}, errors {errors:,}, "
                f"stored {stored[0]:,}, scored {stored[1]:,}"
            )
        if stored_events[0] != events_sent or events_in != events_sent:
            raise SystemExit(f"expected {events_sent:,} events, stored {stored_events[0]:,}")

        copy_seconds, _ = copy_baseline(url, rows, now)

        latencies.sort()
        api_rate = args.leads / api_seconds
        copy_rate = args.leads / copy_seconds
        p50 = latencies[len(latencies) // 2]
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        log("")
        log(f"{'':34}{'leads':>10}{'events':>10}{'seconds':>10}{'leads/s':>12}")
        log(
            f"{'POST /api/leads/bulk/ (HTTP)':34}{args.leads:>10,}{events_sent:>10,}"
            f"{api_seconds:>10.2f}{api_rate:>12,.0f}"
        )
        log(
            f"{'raw COPY (same rows, same indexes)':34}{args.leads:>10,}{events_sent:>10,}"
            f"{copy_seconds:>10.2f}{copy_rate:>12,.0f}"
        )
        log("")
        log(
            f"API / COPY: {api_rate / copy_rate:.1%} of raw COPY speed "
            f"(COPY is {copy_rate / api_rate:.1f}x faster). "
            f"Batch latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms. "
            f"Target 5,000 leads/s: {'met' if api_rate >= 5000 else 'NOT met'}."
        )
        log(
            f"Every lead stored and scored ({stored[1]:,}), every event stored "
            f"({stored_events[0]:,}), {created:,} created, 0 errors."
        )
        ours = app_cpu + db_cpu + client_cpu
        cores = os.cpu_count() or 1
        log(
            f"CPU for the HTTP run: gunicorn {app_cpu:.1f} s, PostgreSQL {db_cpu:.1f} s, "
            f"clients {client_cpu:.1f} s = {ours / args.leads * 1e6:.0f} ms per 1,000 leads; "
            f"other processes on this {cores}-core machine took {others_cpu:.1f} s of the "
            f"{api_seconds * cores:.1f} core-seconds (load average {load_before:.1f} at start)."
        )
        if ours:
            log(
                f"At that cost, {cores} otherwise idle cores would take about "
                f"{cores * args.leads / ours:,.0f} leads/s (an estimate, not a measurement)."
            )
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if not args.keep_db:
            drop_database(url)


if __name__ == "__main__":
    main()

"""A HubSpot-style CSV through the import page's task, beside `manage.py import_leads` on the
same file, in the same run.

    .venv/bin/python bench/import_csv.py                 # 100,000 rows
    .venv/bin/python bench/import_csv.py --rows 10000

What it does:
1. creates a scratch PostgreSQL database (BENCH_DATABASE_URL, default .../bench_import; dropped
   at the end unless --keep), migrates it, installs the default scoring rules and a marketer;
2. writes N rows with HubSpot's contacts header (country names, head counts, HubSpot sources,
   job titles), as an unedited export;
3. the raw baseline: the same rows, already in the desk's values (converted before the clock
   starts), loaded with one plain `COPY leads_lead FROM STDIN` and one commit: what the
   database alone needs to store 100,000 leads with their indexes, the floor under both runs;
4. empties the leads and accounts, then `import_leads FILE` in this process, timed (the shell's
   way: check, then write in one transaction);
5. empties them again, then the page's way: upload and dry run (lead_import_start and
   lead_import_check_queue, as the page's views call them), then the import queued through the
   outbox to a real Celery worker (`celery worker`, on CELERY_BROKER_URL, default Redis) and
   polled every second like the page's progress bar, until done;
6. prints the three times, rows/s, the progress seen while polling, and the load average.

Use a database and a Redis db of your own (both are emptied):

    BENCH_DATABASE_URL=postgres://root@127.0.0.1:5432/NAME CELERY_BROKER_URL=redis://127.0.0.1:6379/N \
        timeout 900 .venv/bin/python bench/import_csv.py --rows 100000
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://root@127.0.0.1:5432"
HEADER = (
    "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lifecycle Stage,"
    "Lead Status,Original Source,Country/Region,Industry,Number of Employees,Create Date\n"
)
COUNTRIES = ["United States", "Germany", "United Kingdom", "France", "Canada", "Netherlands",
             "Spain", "India", "Brazil", "Australia", "USA", "UK", "Deutschland-free", ""]  # fmt: skip
COUNTRIES = [c for c in COUNTRIES if not c.endswith("-free")]
SOURCES = ["Organic Search", "Paid Search", "Direct Traffic", "Email Marketing", "Referrals",
           "Social Media", "Offline Sources", ""]  # fmt: skip
TITLES = ["CTO", "VP Marketing", "Director of IT", "Marketing Manager", "Analyst", "Engineer", ""]
INDUSTRIES = ["software", "fintech", "healthcare", "retail", "manufacturing", ""]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_while(pk: int, status: str, seen: list[int], also: str = "") -> None:
    """Poll the import once a second, as the page's progress bar does."""
    from leads.models import LeadImport

    started = time.monotonic()
    while True:
        time.sleep(1.0)
        state = LeadImport.objects.filter(pk=pk).values("status", "processed_rows")[0]
        seen.append(state["processed_rows"])
        if state["status"] not in (status, also):
            return
        if time.monotonic() - started > 600:
            raise SystemExit(f"still {state['status']} after 10 minutes")


def log(message: str) -> None:
    print(message, flush=True)


def write_file(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(
                f"{1000 + i},First{i},Last{i},person{i}@company{i % 5000}.example,"
                f"+1 555 {i:07d},Company {i % 5000},{rnd.choice(TITLES)},lead,New,"
                f"{rnd.choice(SOURCES)},{rnd.choice(COUNTRIES)},{rnd.choice(INDUSTRIES)},"
                f"{rnd.choice([5, 40, 180, 450, 900, 3000, 12000, ''])},2026-01-05\n"
            )


def empty_leads() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_account CASCADE")


def raw_copy(path: Path) -> float:
    """Seconds for one plain COPY of the file's rows, in the desk's values, and its commit."""
    from django.db import connection, transaction
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from leads.imports import services as imports
    from leads.services import LEAD_INSERT_COLUMNS, _lead_defaults

    def open_file():
        return path.open("rb")

    mapping = imports.mapping_for(open_file)
    now = timezone.now()
    defaults = {**_lead_defaults(), "created_at": now, "updated_at": now}
    rows = []
    for row in imports.mapped_rows(open_file, mapping):
        values = {**defaults, **{k: v for k, v in row.raw.items() if k in defaults}}
        values["email"] = values["email"].strip().lower()
        rows.append(
            tuple(
                Jsonb(v) if isinstance(v, dict | list) else v
                for v in (values[name] for name in LEAD_INSERT_COLUMNS)
            )
        )
    columns = ", ".join(f'"{name}"' for name in LEAD_INSERT_COLUMNS)
    started = time.monotonic()
    sql = f"COPY leads_lead ({columns}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for values in rows:
            copy.write_row(values)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", f"{SERVER}/bench_import")
    db_name = url.rsplit("/", 1)[1]
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")
    import psycopg

    with psycopg.connect(f"{url.rsplit('/', 1)[0]}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    env = {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "CELERY_BROKER_URL": broker,
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from core import roles
    from leads import services
    from leads.imports import services as imports
    from leads.models import ImportStatus, Lead

    call_command("migrate", verbosity=0)
    services.scoring_rules_install_defaults()
    marketer = get_user_model().objects.create_user("bench.marketer", password=None)
    marketer.groups.add(Group.objects.get(name=roles.MARKETING))

    worker = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hubspot-contacts.csv"
        write_file(path, args.rows)
        size = path.stat().st_size
        log(f"file: {args.rows:,} rows, {size / 1e6:.1f} MB, HubSpot contacts header")
        try:
            # Started first, so that it has booted (idle) by the time the page queues the task.
            worker = subprocess.Popen(
                [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--pool", "solo",
                 "--loglevel", "WARNING", "-Q", "celery"],
                cwd=ROOT, env={**os.environ, **env},
            )  # fmt: skip
            load_before = os.getloadavg()
            copy_s = raw_copy(path)
            assert Lead.objects.count() == args.rows
            empty_leads()
            started, cpu = time.monotonic(), time.process_time()
            call_command("import_leads", str(path), "--no-progress", verbosity=0)
            command_s = time.monotonic() - started
            command_cpu = time.process_time() - cpu
            assert Lead.objects.count() == args.rows
            empty_leads()

            started = time.monotonic()
            imp = imports.lead_import_start(
                actor=marketer, file_name=path.name, content=path.read_bytes()
            )
            worker_cpu = process_cpu(worker.pid)
            # A file this size is dry-run by the worker too, as the page does.
            imports.lead_import_check_queue(lead_import=imp, columns={}, skip_bad_rows=False)
            wait_while(imp.pk, ImportStatus.CHECKING, [])
            dry_run_s = time.monotonic() - started
            dry_run_cpu = process_cpu(worker.pid) - worker_cpu
            imp.refresh_from_db()
            assert imp.status == ImportStatus.CHECKED and not imp.errors, imp.message
            queued = time.monotonic()
            worker_cpu = process_cpu(worker.pid)
            imports.lead_import_queue(lead_import=imp)
            seen: list[int] = []
            wait_while(imp.pk, ImportStatus.QUEUED, seen, also=ImportStatus.RUNNING)
            task_s = time.monotonic() - queued
            worker_cpu = process_cpu(worker.pid) - worker_cpu
            imp.refresh_from_db()
            assert imp.status == ImportStatus.DONE, (imp.status, imp.message)
            assert Lead.objects.count() == args.rows
            load_after = os.getloadavg()
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            connection.close()
            if not args.keep:
                with psycopg.connect(f"{url.rsplit('/', 1)[0]}/postgres", autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    moving = sorted(set(seen))
    log(f"raw baseline (one plain COPY, commit):  {copy_s:6.1f} s  "
        f"{args.rows / copy_s:8,.0f} rows/s")  # fmt: skip
    log(f"import_leads (shell, one transaction): {command_s:6.1f} s  "
        f"{args.rows / command_s:8,.0f} rows/s  (its process: {command_cpu:.1f} CPU s)")  # fmt: skip
    log(f"page: upload + dry run (task):         {dry_run_s:6.1f} s  "
        f"(the worker: {dry_run_cpu:.1f} CPU s)")  # fmt: skip
    log(f"page: the Celery task (queued to done):{task_s:6.1f} s  "
        f"{args.rows / task_s:8,.0f} rows/s  (the worker: {worker_cpu:.1f} CPU s; the bar, "
        f"polled each second: {len(moving)} distinct values, {moving[:3]}...{moving[-2:]})")  # fmt: skip
    log(f"page total (upload to done):           {dry_run_s + task_s:6.1f} s")
    log(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after "
        f"{load_after[0]:.2f} {load_after[1]:.2f} (2 cores)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Matching leads into accounts in bulk: `manage.py accounts_backfill` over N leads on PostgreSQL,
beside a raw baseline measured in the same run.

    .venv/bin/python bench/accounts.py                  # 100,000 leads
    .venv/bin/python bench/accounts.py --leads 20000

What it does, in one run:
1. creates a scratch PostgreSQL database (`bench_accounts`, dropped at the end) and migrates it;
2. COPYs N leads without accounts (about 5 per company domain, 10% on free-mail domains, some
   with `www.`) into leads_lead;
3. times the raw baseline: one `UPDATE leads_lead SET updated_at = updated_at` over every row
   (the least any backfill touching each lead once can cost);
4. times `manage.py accounts_backfill` (in its own process, as an operator runs it) and checks
   that every lead with a company domain got the right account and free mail none.

Needs PostgreSQL at BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/bench_accounts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import drop_database, manage, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://root@127.0.0.1:5432/bench_accounts"
FREE = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"]


def copy_leads(url: str, count: int, seed: int) -> int:
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    companies = max(1, count // 5)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        columns = (
            "email, first_name, last_name, phone, title, seniority, company, domain, industry, "
            "employee_band, country, source, stage, score, score_breakdown, ready_for_sales, "
            "return_count, created_at, updated_at, ready_reason, pql, pql_criteria"
        )
        with cur.copy(f"COPY leads_lead ({columns}) FROM STDIN") as copy:
            for n in range(count):
                if rng.random() < 0.1:
                    domain, company = rng.choice(FREE), ""
                else:
                    c = rng.randrange(companies)
                    domain = f"{'www.' if c % 50 == 0 and n % 2 else ''}company{c}.example"
                    company = f"Company {c}"
                copy.write_row(
                    (f"p{n}@{domain}", "Pat", f"N{n}", "", "", "", company, domain, "", "",
                     "US", "other", "lead", 0, "{}", False, 0, now, now, "", False, "[]")
                )  # fmt: skip
        conn.commit()
        cur.execute("ANALYZE leads_lead")
    return companies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    print(f"scratch database {url.rsplit('/', 1)[1]}: creating and migrating", flush=True)
    recreate_database(url)
    try:
        manage(env, "migrate", "-v", "0")
        copy_leads(url, args.leads, args.seed)
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            conn.execute("UPDATE leads_lead SET updated_at = updated_at")
            conn.commit()
            raw = time.perf_counter() - started
        load = os.getloadavg()[0]
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "manage.py", "accounts_backfill"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        backfill = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            matched, free_matched, accounts, wrong = conn.execute(
                """
                SELECT count(*) FILTER (WHERE l.account_id IS NOT NULL),
                       count(*) FILTER (WHERE l.account_id IS NOT NULL
                                        AND l.domain = ANY(%s)),
                       (SELECT count(*) FROM leads_account),
                       count(*) FILTER (WHERE a.domain <> regexp_replace(l.domain, '^www\\.', ''))
                FROM leads_lead l LEFT JOIN leads_account a ON a.id = l.account_id
                """,
                [FREE],
            ).fetchone()
        print(f"\n{'':34}{'leads':>10}{'seconds':>10}")
        print(f"{'raw UPDATE of every lead':34}{args.leads:>10,}{raw:>10.2f}")
        print(f"{'manage.py accounts_backfill':34}{args.leads:>10,}{backfill:>10.2f}")
        print(f"\n{out}")
        print(
            f"{matched:,} leads matched into {accounts:,} accounts; free mail matched: "
            f"{free_matched}; wrong account: {wrong}. Target < 30 s: "
            f"{'met' if backfill < 30 else 'NOT met'}. Load average at start {load:.1f} "
            f"(2 cores)."
        )
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()

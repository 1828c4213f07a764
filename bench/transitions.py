"""Benchmark: CPU and queries per request of the hot paths, through Django's WSGI stack.

    .venv/bin/python bench/transitions.py [--handoffs 80] [--keep] [--show-queries] [--profile]

Creates a scratch PostgreSQL database (BENCH_DATABASE_URL, default
postgres://root@127.0.0.1:5432/bench_transitions; dropped at the end unless --keep), migrates
it, fills it with the demo (`seed_demo`, 400 leads) plus --handoffs fresh pending handoffs, and
then, with API tokens and the production middleware, sends through Django's WSGI handler
(the test Client: the whole request, token authentication included, no network):

- the rep's queue read  GET /api/handoffs/?status=pending&ordering=due_at
- accept                POST /api/handoffs/{id}/accept/
- return with a reason  POST /api/handoffs/{id}/return/  (feedback, with its notification)

For each it prints the median and p90 CPU milliseconds of this process per request
(time.process_time: Python, Django, DRF, psycopg; PostgreSQL's own CPU is not in it) and the
number of queries, beside a raw baseline measured in the same run: the same work as bare SQL
through the same connection's cursor (the token lookup, the page of 51 rows, or the claim, the
event, the lead's move with its history row and, for a return, the notification and feedback
rows). Targets: accept <= 5 ms and <= 6 queries; return <= 10 ms and <= 10 queries; queue read
<= 8 ms.

`--profile` runs every measured accept and return under cProfile (timed by CPU, not wall
clock: waiting for PostgreSQL is not in it) and prints the top functions by cumulative and by
own time (the CPU figures then include the profiler's overhead).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://root@127.0.0.1:5432/bench_transitions"


def admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(urlparse(url)._replace(path="/postgres").geturl(), autocommit=True) as c:
        c.execute(sql)


def median_p90(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


LAST_QUERIES: dict[str, list[str]] = {}


def measure(call: Any, key: str = "") -> tuple[float, int, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        started = time.process_time()
        result = call()
        cpu = (time.process_time() - started) * 1000
    # BEGIN and COMMIT (and savepoints) are the transaction's frame, not queries.
    sql = [q["sql"] for q in ctx.captured_queries]
    LAST_QUERIES[key] = sql
    frame = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return cpu, len([q for q in sql if not q.startswith(frame)]), result


def profiled(profiles: dict[str, cProfile.Profile], key: str, call: Any, *, on: bool) -> Any:
    """`call` run under this key's profiler, timed by CPU (waiting for PostgreSQL is not in it)."""
    if not on:
        return call
    profiler = profiles.setdefault(key, cProfile.Profile(time.process_time))
    return partial(profiler.runcall, call)


def print_profiles(
    profiles: dict[str, cProfile.Profile], figures: dict[str, Any], top: int
) -> None:
    for key, profiler in profiles.items():
        for order in ("cumulative", "tottime"):
            print(f"\n{key}: {len(figures[key])} requests, top {top} by {order}")
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.strip_dirs().sort_stats(order).print_stats(top)


def raw_cpu(sql_steps: list[tuple[str, list[Any]]]) -> float:
    """CPU ms of the same work as bare SQL, in one transaction, rolled back."""
    import psycopg
    from django.db import connection

    raw = connection.connection  # the psycopg connection under Django's
    started = time.process_time()
    with raw.transaction():
        with raw.cursor() as cursor:
            for sql, params in sql_steps:
                cursor.execute(sql, params)
                if cursor.description:
                    cursor.fetchall()
        raise psycopg.Rollback()
    return (time.process_time() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handoffs", type=int, default=80, help="fresh pending handoffs")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--show-queries", action="store_true", help="print the last of each")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the accepts and returns, print the top"
    )
    parser.add_argument("--top", type=int, default=35, help="functions listed by --profile")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    name = urlparse(url).path.lstrip("/")
    os.environ.update(
        DATABASE_URL=url,
        DATABASE_CONN_MAX_AGE="600",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="bench-" + "x" * 60,
        DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1",
        OUTBOX_PUBLISH_ON_COMMIT=os.environ.get("OUTBOX_PUBLISH_ON_COMMIT", "false"),
        LOG_LEVEL="WARNING",
        PYTHONWARNINGS="ignore::UserWarning",
    )
    admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(url, f'CREATE DATABASE "{name}"')
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from handoff import services
    from handoff.models import Handoff
    from leads.models import Lead

    settings.SECURE_SSL_REDIRECT = False
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    maria = User.objects.get(username="maria")
    made = 0
    for i in range(args.handoffs * 3):
        if made >= args.handoffs:
            break
        lead = Lead.objects.create(
            email=f"bench{i}@bench-corp.example",
            first_name="Bench",
            last_name=f"Lead{i}",
            company="Bench Corp",
            country="US",
            score=80,
            owner=maria,
        )
        try:
            services.handoff_promote(lead=lead, actor=maria, note="Asked for a demo on the site.")
            made += 1
        except Exception:  # a demo lead no team takes: skip it
            continue
    pending = list(
        Handoff.objects.filter(status="pending", assigned_to__isnull=False)
        .order_by("id")
        .values_list("id", "assigned_to_id")
    )
    if not pending:
        print("no pending handoffs assigned to a rep in the demo")
        return 1
    clients: dict[int, Any] = {}
    for rep_id in {r for _, r in pending}:
        key = Token.objects.get_or_create(user_id=rep_id)[0].key
        clients[rep_id] = Client(HTTP_AUTHORIZATION=f"Token {key}", headers={"host": "127.0.0.1"})
    rep = User.objects.get(pk=pending[0][1])
    token = Token.objects.get(user=rep).key
    print(
        f"demo data: {Lead.objects.count()} leads, {Handoff.objects.count()} handoffs, "
        f"{len(pending)} pending with {len(clients)} reps; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    queue = "/api/handoffs/?status=pending&ordering=due_at"
    for client in clients.values():
        client.get(queue)  # warm: calendars, token, roles, URL resolver, as a running server
    figures: dict[str, list[tuple[float, int]]] = {"queue": [], "accept": [], "return": []}
    warmed: set[str] = set()
    profiles: dict[str, cProfile.Profile] = {}
    for i, (pk, rep_id) in enumerate(pending):
        client = clients[rep_id]
        cpu, queries, response = measure(partial(client.get, queue), "queue")
        assert response.status_code == 200, response.content[:300]
        figures["queue"].append((cpu, queries))
        if i % 2 == 0:
            call = partial(client.post, f"/api/handoffs/{pk}/accept/")
            key = "accept"
        else:
            body = {"reason": "not-ready", "note": "Next quarter."}
            call = partial(
                client.post, f"/api/handoffs/{pk}/return/", body, content_type="application/json"
            )
            key = "return"
        call = profiled(profiles, key, call, on=args.profile and key in warmed)
        cpu, queries, response = measure(call, key)
        assert response.status_code == 200, response.content[:300]
        if key in warmed:  # the first of each warms its own code paths (the reason cache...)
            figures[key].append((cpu, queries))
        warmed.add(key)

    # The raw baseline: the same statements' work over a bare cursor, rolled back.
    lead_pk = Handoff.objects.filter(status="pending").values_list("lead_id", "id").first()
    assert lead_pk is not None
    lead_id, handoff_id = lead_pk
    token_sql = (
        "SELECT t.key, u.id, u.username, u.is_active FROM authtoken_token t "
        "JOIN auth_user u ON u.id = t.user_id WHERE t.key = %s",
        [token],
    )
    page_sql = (
        "SELECT h.id, h.status, h.attempt, h.created_at, h.due_at, h.at_risk_at, h.breached_at, "
        "h.responded_at, h.accepted_at, h.policy_snapshot, l.id, l.email, l.first_name, "
        "l.last_name, l.company, l.stage, l.score, u.username, u.first_name, u.last_name, t.name "
        "FROM handoff_handoff h JOIN leads_lead l ON l.id = h.lead_id "
        "LEFT JOIN auth_user u ON u.id = h.assigned_to_id "
        "LEFT JOIN handoff_team t ON t.id = h.team_id "
        "WHERE h.assigned_to_id = %s AND h.status = 'pending' ORDER BY h.due_at, h.id LIMIT 51",
        [rep.pk],
    )
    claim = (
        "UPDATE handoff_handoff SET status = %s, responded_at = now(), updated_at = now() "
        "WHERE id = %s RETURNING *",
        ["accepted", handoff_id],
    )
    event = (
        "INSERT INTO handoff_handoffevent (handoff_id, kind, from_status, to_status, actor_id, "
        "reason, note, at, payload) VALUES (%s, 'transition', 'pending', 'accepted', %s, "
        "'accepted', '', now(), '{}') RETURNING id",
        [handoff_id, rep.pk],
    )
    lead_move = (
        "WITH m AS (UPDATE leads_lead SET stage = 'sal', updated_at = now() WHERE id = %s "
        "RETURNING id) INSERT INTO leads_leadstagechange (lead_id, from_stage, to_stage, "
        "actor_id, at, reason) SELECT id, 'mql', 'sal', %s, now(), 'accepted' FROM m",
        [lead_id, rep.pk],
    )
    events_read = ("SELECT * FROM handoff_handoffevent WHERE handoff_id = %s", [handoff_id])
    notification = (
        "INSERT INTO handoff_notification (kind, handoff_id, recipient_id, to_email, subject, "
        "body, created_at, next_attempt_at, attempts, last_error) VALUES ('returned', %s, %s, "
        "'x@example.com', 's', 'b', now(), now(), 0, '')",
        [handoff_id, rep.pk],
    )
    connection.ensure_connection()
    baselines: dict[str, list[float]] = {"queue": [], "accept": [], "return": []}
    for _ in range(max(len(pending), 30)):
        baselines["queue"].append(raw_cpu([token_sql, page_sql]))
        baselines["accept"].append(raw_cpu([token_sql, claim, event, lead_move, events_read]))
        baselines["return"].append(
            raw_cpu([token_sql, claim, event, lead_move, notification, events_read])
        )

    targets = {"queue": (8, None), "accept": (5, 6), "return": (10, 10)}
    print(f"\n{'path':<8} {'requests':>8} {'CPU ms p50':>11} {'p90':>7} {'queries p50':>12} "
          f"{'max':>4} {'raw SQL CPU ms p50':>19} {'target':>16}")  # fmt: skip
    for key, rows in figures.items():
        cpu = [c for c, _ in rows]
        counts = sorted(q for _, q in rows)
        p50, p90 = median_p90(cpu)
        raw50, _ = median_p90(baselines[key])
        ms, most = targets[key]
        target = f"<= {ms} ms" + (f", <= {most} q" if most else "")
        print(
            f"{key:<8} {len(rows):>8} {p50:>11.2f} {p90:>7.2f} {statistics.median(counts):>12} "
            f"{counts[-1]:>4} {raw50:>19.2f} {target:>16}"
        )
    print(
        "queries: over the whole request, token auth included, BEGIN/COMMIT not counted; the "
        "max is a rep's first request (token and roles read) or a handoff with earlier attempts "
        "(its chain: 3 queries)"
    )
    if args.show_queries:
        for key, sql in LAST_QUERIES.items():
            print(f"\n{key}: {len(sql)} queries")
            for text in sql:
                print("   ", text[:160])
    print_profiles(profiles, figures, args.top)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

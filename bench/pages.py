"""Benchmark: every page (and the API lists) rendered with 100,000 leads and 100,000 handoffs.

    .venv/bin/python bench/pages.py [--leads 100000] [--handoffs 100000] [--runs 20]
                                    [--keep] [--reuse] [--only SUBSTRING] [--explain]

Creates a scratch PostgreSQL database (bench_pages; dropped at the end unless --keep), migrates
it, then fills it with INSERT ... SELECT generate_series (no Python loop over rows): leads with
their engagement events and stage history, a year of handoffs in every state (open ones in the
last day and a half) with their events, and the feedback rows of the returned ones. The JSON a
page reads (score breakdown, routing, policy snapshot) is copied from one handoff promoted
through the real services first, so every row looks like one the app wrote.

Pages are discovered from the URLconf (every GET route of the pages and the API lists; POST-only
routes answer 405 and are left out), plus filtered and searched variants of the lists, the
dashboard and the admin handoff changelist. Each is requested with Django's test Client logged
in as the role that uses it (production settings: DEBUG off), after 2 warm-up requests, --runs
times; it prints the median and p95 in ms and the queries per request, beside raw baselines
measured in the same run (a bare `SELECT ... LIMIT 50` of the same rows, a count(*), and a
request that runs no query). Target: each page under 300 ms. For a page over the target it
prints its slowest queries (and with --explain their EXPLAIN ANALYZE).

--reuse re-times a loaded scratch database (migrating it first); --only times the pages whose
label contains the text.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = os.environ.get("BENCH_PAGES_DB", "bench_pages")  # a scratch database of your own
SERVER = os.environ.get("BENCH_PG", "postgres://root@127.0.0.1:5432")
TARGET_MS = 300.0
REPS = 24
TEAMS = 4
PASSWORD = "bench-pages-1"


# --- the scratch database ----------------------------------------------------------------------


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
    """Production settings (DEBUG off, as served), on the scratch database; tasks run inline
    and mail stays in memory, so nothing leaves the process."""
    os.environ["DATABASE_URL"] = f"{SERVER}/{DB_NAME}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(48))
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["DJANGO_EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    import django

    django.setup()


def column_defaults(model: Any, overrides: dict[str, str]) -> tuple[list[str], list[str]]:
    """(columns, SQL expressions) for an INSERT ... SELECT into the model's table: the overrides
    where given, else what Django would have written by default (the database has no defaults)."""
    from django.db import models

    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.generated:  # the database fills generated columns
            continue
        columns.append(f.column)
        if f.column in overrides:
            values.append(overrides[f.column])
        elif f.null:
            values.append("NULL")
        elif isinstance(f, models.JSONField):
            default = f.get_default()
            values.append("'[]'::jsonb" if isinstance(default, list) else "'{}'::jsonb")
        elif isinstance(f, models.BooleanField):
            values.append("true" if f.get_default() else "false")
        elif isinstance(f, models.IntegerField | models.FloatField):
            values.append(str(f.get_default() or 0))
        elif isinstance(f, models.DateTimeField):
            values.append("now()")
        else:
            values.append(f"'{f.get_default() or ''}'")
    return columns, values


def insert_select(cur: Any, model: Any, overrides: dict[str, str], source: str) -> int:
    columns, values = column_defaults(model, overrides)
    cur.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} {source}"
    )
    return int(cur.rowcount)


def jsonb(value: Any) -> str:
    return "'" + json.dumps(value, default=str).replace("'", "''") + "'::jsonb"


def arr(values: list[Any]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + "]"


@dataclass
class Cast:
    marketer: Any
    rep: Any
    manager: Any
    reps: list[Any]


def seed_people_and_rules() -> Cast:
    """Users in each role, a calendar, teams with their reps, a policy, campaigns: through the
    ORM (a few dozen rows)."""
    import datetime as dt

    from django.contrib.auth.models import Group, User

    from core.roles import MARKETING, SALES, SALES_MANAGER
    from handoff.models import BusinessCalendar, SlaPolicy, Team, TeamMembership, WorkingWindow
    from leads.models import Campaign

    def user(username: str, role: str, **extra: Any) -> Any:
        u = User.objects.create_user(
            username, f"{username}@bench.test", PASSWORD, first_name=username.title(), **extra
        )
        u.groups.add(Group.objects.get(name=role))
        return u

    marketer = user("marketer", MARKETING)
    user("marketer2", MARKETING)
    manager = user("manager", SALES_MANAGER, is_staff=True)
    reps = [user(f"rep{i}", SALES) for i in range(REPS)]
    calendar = BusinessCalendar.objects.create(name="New York", timezone="America/New_York")
    WorkingWindow.objects.bulk_create(
        WorkingWindow(calendar=calendar, weekday=d, start=dt.time(9), end=dt.time(17))
        for d in range(5)
    )
    teams = [
        Team.objects.create(name=f"Team {i}", calendar=calendar, manager=manager, priority=i)
        for i in range(TEAMS)
    ]
    for i, rep in enumerate(reps):
        TeamMembership.objects.create(team=teams[i % TEAMS], rep=rep, position=i, capacity=1000)
    SlaPolicy.objects.create(
        name="Standard", accept_within_minutes=240, first_touch_within_minutes=480
    )
    Campaign.objects.bulk_create(Campaign(name=f"Campaign {i}") for i in range(40))
    return Cast(marketer, reps[0], manager, reps)


def one_real_handoff(cast: Cast) -> Any:
    """A handoff promoted through the services: its JSON is the template of every loaded row."""
    from handoff import services
    from leads.models import EventKind, Lead
    from leads.services import event_record, lead_create

    lead = lead_create(
        data={"email": "template@bench.test", "first_name": "Tess", "last_name": "Template",
              "company": "Template Inc", "country": "US", "industry": "software",
              "employee_band": "201-500", "source": "webinar"},
        actor=cast.marketer,
    )  # fmt: skip
    event_record(lead=lead, kind=EventKind.DEMO_REQUEST, occurred_at=lead.created_at)
    lead = Lead.objects.get(pk=lead.pk)
    return services.handoff_promote(
        lead=lead, actor=cast.marketer, note="Template: asked for a demo after the webinar."
    )


def load(n_leads: int, n_handoffs: int) -> None:
    from django.db import connection

    from feedback.models import RejectionReason, ReturnFeedback
    from handoff.models import Handoff, HandoffEvent, SlaPolicy, Team
    from leads.models import Campaign, EngagementEvent, Lead, LeadStageChange, Source

    cast = seed_people_and_rules()
    template = one_real_handoff(cast)
    promoted = min(n_handoffs, int(n_leads * 0.7))  # leads 1..promoted have a handoff
    calendar_id = template.calendar_id
    policy_id = SlaPolicy.objects.get().pk
    teams = list(Team.objects.order_by("priority").values_list("pk", flat=True))
    reps = [r.pk for r in cast.reps]
    campaigns = list(Campaign.objects.order_by("pk").values_list("pk", flat=True))
    sources = Source.values
    reasons = list(RejectionReason.objects.values_list("pk", "code"))
    lead_t, h_t = Lead._meta.db_table, Handoff._meta.db_table

    with connection.cursor() as cur:
        t = time.perf_counter()
        # One row per handoff g (g = 1 is the newest; one every 315 s: a year for 100,000):
        # its lead, status and response time, drawn from hashes of g (deterministic, and not
        # correlated with g modulo the number of reps, which picks the rep). Open handoffs are the last ~35 hours' (g <= 400)
        # plus long-lived accepted ones; a lead's older handoff (g > promoted) is closed.
        cur.execute(
            f"""
            CREATE TEMP TABLE bench_h AS
            SELECT g,
                   CASE WHEN g <= {promoted} THEN g ELSE g - {promoted} END AS lead,
                   now() - g * interval '315 seconds' AS created,
                   r1, r2, 5 + (hashint8(g * 3) & 1048575) % 480 AS minutes,
                   CASE
                     WHEN g <= 400 THEN CASE WHEN r1 < 0.6 THEN 'pending'
                       WHEN r1 < 0.65 THEN 'waiting' WHEN r1 < 0.85 THEN 'accepted'
                       ELSE 'returned' END
                     WHEN g <= {promoted} THEN CASE WHEN r2 < 0.15 THEN 'accepted'
                       WHEN r2 < 0.40 THEN 'qualified' WHEN r2 < 0.43 THEN 'reassigned'
                       ELSE 'returned' END
                     ELSE CASE WHEN r2 < 0.3 THEN 'qualified' WHEN r2 < 0.35 THEN 'reassigned'
                       ELSE 'returned' END
                   END AS status
            FROM (SELECT g, (hashint8(g) & 1048575) / 1048576.0 AS r1,
                         (hashint8(g + 1000000007) & 1048575) / 1048576.0 AS r2
                  FROM generate_series(1::bigint, {n_handoffs}) AS g) s
            """
        )
        cur.execute("CREATE INDEX ON bench_h (lead, g)")
        cur.execute("ANALYZE bench_h")
        stage = (
            "CASE WHEN h.g IS NULL THEN 'lead' ELSE CASE h.status WHEN 'accepted' THEN 'sal' "
            "WHEN 'qualified' THEN 'sql' WHEN 'returned' THEN 'recycled' ELSE 'mql' END END"
        )
        score = "(20 + (l.g * 37) % 81)"
        insert_select(
            cur,
            Lead,
            {
                "email": "'lead' || l.g || '@bench' || (l.g % 997) || '.test'",
                "first_name": "'First' || (l.g % 1000)",
                "last_name": "'Last' || (l.g % 5000)",
                "company": "'Company ' || (l.g % 50000)",
                "domain": "'bench' || (l.g % 997) || '.test'",
                "industry": "'software'",
                "employee_band": "'201-500'",
                "country": "'US'",
                "source": f"({arr(sources)})[1 + (l.g % {len(sources)})]",
                "campaign_id": f"CASE WHEN l.g % 3 = 0 THEN NULL "
                f"ELSE ({arr(campaigns)})[1 + (l.g % {len(campaigns)})] END",
                "owner_id": str(cast.marketer.pk),
                "stage": stage,
                "score": score,
                "score_breakdown": jsonb(template.lead.score_breakdown or {}),
                "scored_at": "now() - (l.g % 30) * interval '1 day'",
                "ready_for_sales": f"h.g IS NULL AND {score} >= 60",
                "ready_since": f"CASE WHEN h.g IS NULL AND {score} >= 60 THEN now() END",
                "last_engaged_at": "now() - (l.g % 60) * interval '1 day'",
                "mql_at": "h.created",
                "sal_at": "CASE WHEN h.status IN ('accepted', 'qualified') THEN h.created END",
                "sql_at": "CASE WHEN h.status = 'qualified' THEN h.created END",
                "recycled_at": "CASE WHEN h.status = 'returned' THEN h.created END",
                "recycle_until": "CASE WHEN h.status = 'returned' "
                "THEN h.created + interval '30 days' END",
                "return_count": "CASE WHEN h.status = 'returned' THEN 1 ELSE 0 END",
                "created_at": "now() - (l.g * 300) * interval '1 second' - interval '1 day'",
                "updated_at": "now()",
            },
            f"FROM generate_series(1, {n_leads}) AS l(g) "
            f"LEFT JOIN bench_h h ON h.g = l.g AND h.g <= {promoted}",
        )
        cur.execute(f"SELECT min(id) FROM {lead_t} WHERE email LIKE 'lead%%'")
        first_lead = int(cur.fetchone()[0])
        print(f"  leads              {time.perf_counter() - t:6.1f} s")

        t = time.perf_counter()
        answered = "h.status IN ('accepted', 'qualified', 'returned')"
        accepted = "h.status IN ('accepted', 'qualified')"
        responded = "h.created + h.minutes * interval '1 minute'"
        due = "h.created + interval '4 hours'"
        insert_select(
            cur,
            Handoff,
            {
                "lead_id": f"{first_lead} - 1 + h.lead",
                "promoted_by_id": str(cast.marketer.pk),
                "assigned_to_id": f"CASE WHEN h.status = 'pending' AND h.r2 < 0.1 THEN NULL "
                f"ELSE ({arr(reps)})[1 + (h.g % {len(reps)})] END",
                "team_id": f"({arr(teams)})[1 + (h.g % {len(teams)})]",
                "policy_id": str(policy_id),
                "policy_snapshot": jsonb(template.policy_snapshot),
                "calendar_id": str(calendar_id),
                "status": "h.status",
                "context_note": "'Asked for a demo after the webinar.'",
                "score_snapshot": "(20 + (h.lead * 37) % 81)",
                "lead_source": f"({arr(sources)})[1 + (h.lead % {len(sources)})]",
                "lead_campaign_id": f"CASE WHEN h.lead % 3 = 0 THEN NULL "
                f"ELSE ({arr(campaigns)})[1 + (h.lead % {len(campaigns)})] END",
                "score_breakdown": jsonb(template.score_breakdown),
                "engagement_snapshot": jsonb(template.engagement_snapshot),
                "routing": jsonb(template.routing),
                "created_at": "h.created",
                "due_at": f"CASE WHEN h.status = 'waiting' THEN NULL ELSE {due} END",
                "at_risk_at": "CASE WHEN h.status = 'waiting' THEN NULL "
                "ELSE h.created + interval '3 hours' END",
                "breached_at": f"CASE WHEN ({answered} AND h.minutes > 240) "
                f"OR h.status = 'reassigned' OR (h.status = 'pending' AND {due} <= now()) "
                f"THEN {due} END",
                "responded_at": f"CASE WHEN {answered} THEN {responded} END",
                "accepted_at": f"CASE WHEN {accepted} THEN {responded} END",
                "accepted_late": f"{accepted} AND h.minutes > 240",
                "accept_business_minutes": f"CASE WHEN {accepted} THEN h.minutes END",
                "paused_at": "CASE WHEN h.status = 'waiting' "
                "THEN h.created + interval '1 hour' END",
                "remaining_business_minutes": "CASE WHEN h.status = 'waiting' THEN 180 END",
                "info_question": "CASE WHEN h.status = 'waiting' "
                "THEN 'Which product line?' ELSE '' END",
                "first_touch_due_at": f"CASE WHEN {accepted} "
                f"THEN {responded} + interval '8 hours' END",
                "first_touch_at": f"CASE WHEN h.status = 'qualified' "
                f"THEN {responded} + interval '2 hours' END",
                "first_touch_channel": "CASE WHEN h.status = 'qualified' THEN 'call' ELSE '' END",
                "qualified_at": f"CASE WHEN h.status = 'qualified' "
                f"THEN LEAST(now(), {responded} + interval '1 day') END",
                "bant": "CASE WHEN h.status = 'qualified' THEN "
                '\'{"budget": "yes", "authority": "VP", "need": "routing", '
                '"timeline": "Q3"}\'::jsonb ELSE \'{}\'::jsonb END',
                "returned_at": f"CASE WHEN h.status = 'returned' THEN {responded} END",
                "return_reason_code": f"CASE WHEN h.status = 'returned' THEN "
                f"({arr([c for _, c in reasons])})[1 + (h.g % {len(reasons)})] ELSE '' END",
                "closed_at": f"CASE WHEN h.status IN ('returned', 'qualified') THEN {responded} "
                f"WHEN h.status = 'reassigned' THEN {due} END",
                # As the services leave it: the moment of the last write (promotion, answer,
                # pause, the sweep's breach flag, qualification).
                "updated_at": f"LEAST(now(), GREATEST(h.created, "
                f"CASE WHEN {answered} THEN {responded} END, "
                f"CASE WHEN h.status = 'waiting' THEN h.created + interval '1 hour' END, "
                f"CASE WHEN h.status = 'qualified' THEN {responded} + interval '1 day' END, "
                f"CASE WHEN h.status = 'reassigned' OR (h.status = 'pending' AND {due} <= now()) "
                f"THEN {due} END))",
            },
            "FROM bench_h h ORDER BY h.g DESC",
        )
        print(f"  handoffs           {time.perf_counter() - t:6.1f} s")

        t = time.perf_counter()
        ev_t = HandoffEvent._meta.db_table
        insert_select(
            cur,
            HandoffEvent,
            {"handoff_id": "x.id", "kind": "'created'", "to_status": "'pending'",
             "actor_id": str(cast.marketer.pk), "reason": "'rotation'", "at": "x.created_at"},
            f"FROM {h_t} x WHERE x.id <> {template.pk}",
        )  # fmt: skip
        insert_select(
            cur,
            HandoffEvent,
            {"handoff_id": "x.id", "kind": "'transition'", "from_status": "'pending'",
             "to_status": "x.status", "actor_id": "x.assigned_to_id", "reason": "x.status",
             "at": "COALESCE(x.responded_at, x.closed_at, x.paused_at)"},
            f"FROM {h_t} x WHERE x.status <> 'pending' AND x.id <> {template.pk}",
        )  # fmt: skip
        insert_select(
            cur,
            EngagementEvent,
            {"lead_id": "l.id", "kind": "CASE WHEN k = 1 THEN 'pricing_page_view' "
             "ELSE 'page_view' END", "is_high_intent": "k = 1",
             "occurred_at": "l.created_at + k * interval '1 hour'",
             "payload": "'{\"url\": \"/pricing\"}'::jsonb"},
            f"FROM {lead_t} l CROSS JOIN generate_series(1, 2) AS k WHERE l.id >= {first_lead}",
        )  # fmt: skip
        insert_select(
            cur,
            LeadStageChange,
            {"lead_id": "l.id", "from_stage": "'lead'", "to_stage": "'mql'",
             "actor_id": str(cast.marketer.pk), "at": "l.mql_at", "reason": "'Promoted'"},
            f"FROM {lead_t} l WHERE l.mql_at IS NOT NULL AND l.id >= {first_lead}",
        )  # fmt: skip
        reason_case = " ".join(f"WHEN '{c}' THEN {pk}" for pk, c in reasons)
        insert_select(
            cur,
            ReturnFeedback,
            {"handoff_id": "x.id", "lead_id": "x.lead_id",
             "reason_id": f"CASE x.return_reason_code {reason_case} END",
             "returned_by_id": "x.assigned_to_id", "returned_at": "x.returned_at",
             "lead_effect": "'recycle'",
             "acknowledged_at": "CASE WHEN x.id % 4 <> 0 THEN x.returned_at + interval '1 day' END",
             "acknowledged_by_id": f"CASE WHEN x.id % 4 <> 0 THEN {cast.marketer.pk} END",
             "dispute_status": "CASE WHEN x.id % 97 = 0 THEN 'open' ELSE '' END",
             "follow_up": "CASE WHEN x.id % 97 = 0 THEN 'dispute' ELSE '' END"},
            f"FROM {h_t} x WHERE x.status = 'returned'",
        )  # fmt: skip
        cur.execute(f"SELECT count(*) FROM {ev_t}")
        print(f"  events, history, feedback {time.perf_counter() - t:6.1f} s")
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(f"{SERVER}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  vacuum analyze     {time.perf_counter() - t:6.1f} s")


# --- the pages ---------------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    url: str
    role: str  # marketer, rep, manager, anonymous
    times: list[float] = field(default_factory=list)
    queries: int = 0
    status: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan

    def p95(self) -> float:
        if not self.times:
            return math.nan
        ordered = sorted(self.times)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def routes() -> Iterator[tuple[str, str]]:
    """(route, name) of every pattern outside the admin, as strings."""
    from django.urls import URLResolver, get_resolver

    def walk(patterns: Any, prefix: str, namespace: str | None) -> Iterator[tuple[str, str]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue
                yield from walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
            else:
                yield prefix + str(p.pattern), f"{namespace}:{p.name}" if namespace else str(p.name)

    yield from walk(get_resolver().url_patterns, "", None)


@dataclass
class Samples:
    lead: int  # a lead with handoffs, events and history
    promotable: int  # a ready lead with no open handoff
    handoff: int  # a pending handoff of the rep
    feedback: int


def role_for(route: str) -> str:
    if route in ("", "login/"):
        return "anonymous" if route == "login/" else "marketer"
    if route.startswith(("queue/", "accepted/", "handoffs/", "api/handoffs/")):
        return "rep"
    if route.startswith(("manager/", "dashboard/", "api/metrics/sla/", "api/feedback/disputes/")):
        return "manager"
    return "marketer"


def sample_for(route: str, s: Samples) -> int | None:
    if "promot" in route:
        return s.promotable
    if route.startswith(("leads/", "api/leads/", "api/feedback/leads/")):
        return s.lead
    if route.startswith(("handoffs/", "api/handoffs/")):
        return s.handoff
    if route.startswith(("returned/", "api/feedback/")):
        return s.feedback
    return None


SKIP = ("logout/", "api/schema/", "api/docs/", "api/redoc/")


def discover(samples: Samples) -> list[Page]:
    pages = []
    for route, name in routes():
        if route in SKIP or "^" in route or "(?P" in route:
            continue
        if "<" in route:
            pk = sample_for(route, samples)
            if pk is None or route.count("<") > 1:
                print(f"  (no sample id for {route}; left out)")
                continue
            url = "/" + re.sub(r"<int:\w+>", str(pk), route)
        else:
            url = "/" + route
        pages.append(Page(f"{name} {url}", url, role_for(route)))
    return pages


def variants(samples: Samples, present: set[str], team: int, owner: int) -> list[Page]:
    """Filtered, searched and sorted variants of the lists, and the admin screens."""
    import datetime as dt

    year_ago = (dt.date.today() - dt.timedelta(weeks=52)).isoformat()
    candidates = [
        Page("lead list: ready, score >= 60, by score", "/leads/?ready_for_sales=true&score_min=60&sort=score", "marketer"),
        Page("lead list: stage+source filter, newest", "/leads/?stage=lead&stage=recycled&source=webinar&sort=newest", "marketer"),
        Page("lead list: search 'company 4242'", "/leads/?q=company+4242", "marketer"),
        Page("lead list: search, owner, page 3", f"/leads/?q=last12&owner={owner}&page=3", "marketer"),
        Page("lead list: page 200", "/leads/?page=200", "marketer"),
        Page("handoff page as the manager", f"/handoffs/{samples.handoff}/", "manager"),
        Page("returned queue: page 50", "/returned/?page=50", "marketer"),
        Page("dashboard: one team", f"/dashboard/?team={team}", "manager"),
        Page("dashboard: the last 52 weeks", f"/dashboard/?start={year_ago}", "manager"),
        Page("admin handoff changelist", "/admin/handoff/handoff/", "manager"),
        Page("admin changelist: breached", "/admin/handoff/handoff/?breached=yes", "manager"),
        Page("admin changelist: one team, pending", f"/admin/handoff/handoff/?team__id__exact={team}&status__exact=pending", "manager"),
        Page("admin changelist: search", "/admin/handoff/handoff/?q=company+4242", "manager"),
        Page("admin handoff change page", f"/admin/handoff/handoff/{samples.handoff}/change/", "manager"),
        Page("API leads: ready, by score", "/api/leads/?ready_for_sales=true&ordering=-score", "marketer"),
        Page("API handoffs: all (manager)", "/api/handoffs/", "manager"),
        Page("API handoffs: breached (manager)", "/api/handoffs/?breached=true", "manager"),
        Page("API handoffs: mine, open", "/api/handoffs/?assigned_to=me&open=true", "rep"),
    ]  # fmt: skip
    keep = []
    for page in candidates:
        path = page.url.split("?")[0]
        if path.startswith("/admin/") or any(path == p for p in present):
            keep.append(page)
    return keep


def baselines(samples: Samples) -> list[tuple[str, Callable[[], Any]]]:
    from django.db import connection

    def raw(sql: str) -> Callable[[], Any]:
        def run() -> Any:
            with connection.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()

        return run

    return [
        ("raw: SELECT 50 handoffs ORDER BY created_at DESC", raw(
            "SELECT * FROM handoff_handoff ORDER BY created_at DESC, id DESC LIMIT 50")),
        ("raw: SELECT 50 leads ORDER BY score DESC", raw(
            "SELECT * FROM leads_lead ORDER BY score DESC LIMIT 50")),
        ("raw: SELECT 50 handoffs JOIN leads, users", raw(
            "SELECT * FROM handoff_handoff h JOIN leads_lead l ON l.id = h.lead_id "
            "LEFT JOIN auth_user u ON u.id = h.assigned_to_id "
            "ORDER BY h.created_at DESC, h.id DESC LIMIT 50")),
        ("raw: SELECT count(*) FROM handoffs", raw("SELECT count(*) FROM handoff_handoff")),
        ("raw: SELECT count(*) FROM leads", raw("SELECT count(*) FROM leads_lead")),
    ]  # fmt: skip


def time_page(page: Page, client: Any, runs: int, keep_queries: bool) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        response = client.get(page.url, secure=True)
    page.status = response.status_code
    if page.status not in (200, 302):
        return
    with CaptureQueriesContext(connection) as ctx:
        client.get(page.url, secure=True)
    page.queries = len(ctx.captured_queries)
    if keep_queries:
        page.slowest = sorted(
            ((float(q["time"]) * 1000, q["sql"]) for q in ctx.captured_queries), reverse=True
        )[:3]
    for _ in range(runs):
        start = time.perf_counter()
        client.get(page.url, secure=True)
        page.times.append((time.perf_counter() - start) * 1000)


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cur.fetchall())


WIDTH = 64  # the label column of the printed table


def pick_samples(rep: Any) -> Samples:
    """One row of each kind the detail pages are timed on."""
    from feedback.models import ReturnFeedback
    from handoff.models import Handoff
    from leads.models import Lead

    return Samples(
        lead=Lead.objects.filter(handoffs__isnull=False, stage="recycled")
        .order_by("id")
        .values_list("pk", flat=True)[0],
        promotable=Lead.objects.filter(stage="lead", ready_for_sales=True)
        .order_by("id")
        .values_list("pk", flat=True)[0],
        handoff=Handoff.objects.filter(assigned_to=rep, status="pending")
        .order_by("due_at")
        .values_list("pk", flat=True)[0],
        feedback=ReturnFeedback.objects.order_by("-id").values_list("pk", flat=True)[0],
    )


def role_clients() -> dict[str, Any]:
    """A test Client per role, logged in (and one anonymous)."""
    from django.contrib.auth.models import User
    from django.test import Client

    clients = {"anonymous": Client()}
    for role, username in (("marketer", "marketer"), ("rep", "rep1"), ("manager", "manager")):
        clients[role] = Client()
        clients[role].force_login(User.objects.get(username=username))
    return clients


def print_header(rep: Any, runs: int) -> None:
    from django.db import connection

    from handoff.models import Handoff
    from leads.models import Lead

    counts = (
        Lead.objects.count(),
        Handoff.objects.count(),
        Handoff.objects.filter(status__in=("pending", "waiting", "accepted")).count(),
        Handoff.objects.filter(assigned_to=rep, status="pending").count(),
    )
    print(
        f"\n{counts[0]:,} leads, {counts[1]:,} handoffs ({counts[2]:,} open; rep1 has "
        f"{counts[3]} pending), PostgreSQL {connection.pg_version // 10000}, "
        f"production settings; median and p95 of {runs} requests after 2 warm-ups; "
        f"load average {load_average()}\n"
    )


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (/proc/loadavg), as printed beside the
    figures: on a machine doing other work they say what the timings are worth."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def time_baselines(samples: Samples, clients: dict[str, Any], runs: int) -> None:
    """The raw queries and a request that runs none, printed as the table's first rows."""
    width = WIDTH
    for name, fn in baselines(samples):
        times = []
        for _ in range(2):
            fn()
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        ordered = sorted(times)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        print(f"{name.ljust(width)} {1:>7} {statistics.median(times):8.1f} {p95:8.1f}")
    bare = Page("bare request: GET /login/ (no query)", "/login/", "anonymous")
    time_page(bare, clients["anonymous"], runs, False)
    print(f"{bare.label.ljust(width)} {bare.queries:>7} {bare.median():8.1f} {bare.p95():8.1f}")


def time_pages(pages: list[Page], clients: dict[str, Any], runs: int) -> tuple[list[Page], int]:
    """Time and print each page; return the slow ones and how many POST-only routes were left
    out."""
    width = WIDTH
    slow: list[Page] = []
    skipped = 0
    for page in pages:
        time_page(page, clients[page.role], runs, keep_queries=True)
        label = f"{page.label} ({page.role})"[:width]
        if page.status == 405:
            skipped += 1
            continue
        if page.status not in (200, 302):
            print(f"{label.ljust(width)} answered {page.status}: NOT TIMED")
            continue
        mark = "ok" if page.median() < TARGET_MS and page.p95() < TARGET_MS else "SLOW"
        if mark == "SLOW":
            slow.append(page)
        print(
            f"{label.ljust(width)} {page.queries:>7} {page.median():8.1f} {page.p95():8.1f}  {mark}"
        )
    return slow, skipped


def print_slow(slow: list[Page], skipped: int, *, with_explain: bool) -> None:
    print(f"\n{skipped} POST-only routes left out (405 to a GET).")
    print(
        f"{len(slow)} page(s) over {TARGET_MS:.0f} ms (median or p95)"
        + (": " + ", ".join(p.label for p in slow) if slow else ".")
    )
    for page in slow:
        print(f"\n--- {page.label}: slowest queries of one request")
        for ms, sql in page.slowest:
            print(f"{ms:8.1f} ms  {sql[:600]}")
            if with_explain and sql.lstrip().upper().startswith("SELECT"):
                print(explain(sql))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--handoffs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="reuse a loaded scratch database")
    parser.add_argument("--only", default="", help="time only pages whose label contains this")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN the slow queries")

    args = parser.parse_args()

    reuse = args.reuse and database_exists()
    if not reuse:
        admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        admin_sql(f"CREATE DATABASE {DB_NAME}")
    setup_django()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from handoff.models import Team

    try:
        if not reuse:
            print(f"Loading {args.leads:,} leads and {args.handoffs:,} handoffs into {DB_NAME}")
            t = time.perf_counter()
            call_command("migrate", verbosity=0)
            load(args.leads, args.handoffs)
            print(f"  total              {time.perf_counter() - t:6.1f} s")
        if reuse:
            call_command("migrate", verbosity=0)  # apps added since the load
        settings.ALLOWED_HOSTS.append("testserver")
        rep = User.objects.get(username="rep1")
        samples = pick_samples(rep)
        clients = role_clients()

        print("\nDiscovering pages from the URLconf ...")
        pages = discover(samples)
        present = {p.url for p in pages}
        team = Team.objects.order_by("priority").values_list("pk", flat=True)[0]
        owner = User.objects.get(username="marketer").pk
        pages += variants(samples, present, team, owner)
        if args.only:
            pages = [p for p in pages if args.only in p.label]

        print_header(rep, args.runs)
        print(f"{'page (role)'.ljust(WIDTH)} {'queries':>7} {'median':>8} {'p95':>8}  target")
        time_baselines(samples, clients, args.runs)
        slow, skipped = time_pages(pages, clients, args.runs)
        print(f"\nload average after the pages: {load_average()}")
        print_slow(slow, skipped, with_explain=args.explain)
    finally:
        connection.close()
        if not args.keep:
            admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()

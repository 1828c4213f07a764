"""Redis goes down under a working desk: requests keep answering, nothing queued is lost.

A private redis-server (spare port, append-only file) carries a real `celery worker -B`
(sweep every second, outbox relay every second) and gunicorn serves the API, both against the
pytest database. With the desk running, Redis is stopped; 500 lead posts (single and bulk) and
100 transitions (accepts, returns, promotions) are sent over HTTP from 3 clients, while a few
handoffs pass their deadline. Every request must answer 2xx within a bound. Redis is started
again: every outbox row written meanwhile must be published and its task run (notifications
sent, returned leads rescored), and every deadline that passed meanwhile flagged exactly once.

Needs PostgreSQL (the worker and gunicorn are other processes) and redis-server on PATH.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Count
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.models import OutboxMessage
from core.roles import MARKETING, SALES, SALES_MANAGER
from handoff import services as handoff_services
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.states import Status
from leads.models import Lead
from tests.factories import (
    BusinessCalendarFactory,
    HandoffFactory,
    LeadFactory,
    SlaPolicyFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)
from tests.handoff.conftest import WorkerGroup, database_url, policy_snapshot, wait_until
from tests.reliability.conftest import Gunicorn, percentile

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.slow]

LEAD_POSTS = 500
BULK_POSTS = 100  # of the 500, each with BULK_ROWS leads
BULK_ROWS = 5
ACCEPTS, RETURNS, PROMOTIONS = 35, 35, 30
DUE_DURING_OUTAGE = 5
CLIENTS = 3  # as many as gunicorn workers: a request's time is its own, not a queue's
BOUND_SECONDS = 2.0
NOTIFY_SAMPLES = 5


@dataclass
class Desk:
    calendar: Any
    team: Any
    manager: Any
    marketer: Any
    reps: list[Any]
    tokens: dict[int, str]
    pending: list[Handoff]
    promotable: list[Lead]


@pytest.fixture
def desk(transactional_db, django_db_serialized_rollback, redis_server, app_on_broker) -> Desk:
    app_on_broker(redis_server.url)  # what this process queues goes to the private Redis too
    calendar = BusinessCalendarFactory(
        name="Round the clock", timezone="UTC", windows=[(d, "00:00", "00:00") for d in range(7)]
    )
    manager = UserFactory(username="olivia.manager", role=SALES_MANAGER)
    marketer = UserFactory(username="mark.marketer", role=MARKETING)
    team = TeamFactory(name="Everyone", calendar=calendar, manager=manager)
    reps = [UserFactory(username=f"rep{n}", role=SALES) for n in range(3)]
    for position, rep in enumerate(reps):
        TeamMembershipFactory(team=team, rep=rep, position=position, capacity=1000)
    SlaPolicyFactory(name="Standard", accept_within_minutes=240, first_touch_within_minutes=480)
    pending = [
        handoff_services.handoff_promote(
            lead=LeadFactory(owner=marketer), actor=marketer, note="Asked for a demo this week."
        )
        for _ in range(ACCEPTS + RETURNS)
    ]
    promotable = [LeadFactory(owner=marketer) for _ in range(PROMOTIONS)]
    tokens = {u.pk: Token.objects.create(user=u).key for u in [manager, marketer, *reps]}
    return Desk(calendar, team, manager, marketer, reps, tokens, pending, promotable)


def service_env(redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "DATABASE_CONN_MAX_AGE": "60",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "SLA_SWEEP_INTERVAL_SECONDS": "1",
        "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
        "NOTIFICATION_SEND_INTERVAL_SECONDS": "2",
        "LOG_LEVEL": "INFO",
    }


@dataclass
class Call:
    method: str
    path: str
    token: str
    body: Any = None
    headers: dict[str, str] | None = None
    status: int = 0
    seconds: float = 0.0
    answer: bytes = b""


def requests_for(desk: Desk, run: str) -> list[Call]:
    marketer = desk.tokens[desk.marketer.pk]
    calls: list[Call] = []
    for n in range(LEAD_POSTS - BULK_POSTS):
        body = {"email": f"single{n}.{run}@outage.example", "first_name": "Sam", "country": "US"}
        calls.append(Call("POST", "/api/leads/", marketer, body))
    for n in range(BULK_POSTS):
        rows = [
            {"email": f"bulk{n}.{i}.{run}@outage.example", "company": "Outage Inc"}
            for i in range(BULK_ROWS)
        ]
        calls.append(
            Call("POST", "/api/leads/bulk/", marketer, {"leads": rows},
                 {"Idempotency-Key": f"{run}-{n}"})
        )  # fmt: skip
    for handoff in desk.pending[:ACCEPTS]:
        token = desk.tokens[handoff.assigned_to_id]
        calls.append(Call("POST", f"/api/handoffs/{handoff.pk}/accept/", token))
    for handoff in desk.pending[ACCEPTS:]:
        token = desk.tokens[handoff.assigned_to_id]
        body = {"reason": "not-ready", "note": "Budget next year."}
        calls.append(Call("POST", f"/api/handoffs/{handoff.pk}/return/", token, body))
    for lead in desk.promotable:
        calls.append(
            Call(
                "POST",
                f"/api/leads/{lead.pk}/promote/",
                marketer,
                {"note": "Hot: asked for a demo this week."},
            )
        )
    random.Random(7).shuffle(calls)
    return calls


def send_all(server: Gunicorn, calls: list[Call]) -> None:
    todo = list(calls)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not todo:
                    return
                call = todo.pop()
            started = time.perf_counter()
            try:
                call.status, call.answer = server.request(
                    call.method,
                    call.path,
                    body=call.body,
                    headers={"Authorization": f"Token {call.token}", **(call.headers or {})},
                    timeout=30,
                )
            except OSError as exc:
                call.status, call.answer = -1, repr(exc).encode()
            call.seconds = time.perf_counter() - started

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def notification_latency(lead: Lead) -> float:
    """Seconds from a promotion (its notification row's created_at, the promotion's moment) to
    the email being sent by the worker."""
    note = wait_until(
        lambda: Notification.objects.filter(
            handoff__lead=lead, kind="assigned", sent_at__isnull=False
        ).first(),
        timeout=30,
        interval=0.02,
        what="the rep's notification",
    )
    return (note.sent_at - note.created_at).total_seconds()


def per_handoff(qs: Any) -> dict[int, int]:
    return dict(qs.values_list("handoff").annotate(n=Count("id")).values_list("handoff", "n"))


def test_with_redis_down_every_request_answers_and_everything_queued_is_delivered_after(
    desk, redis_server, tmp_path, figure, settings
):
    env = service_env(redis_server.url)
    worker = WorkerGroup(tmp=tmp_path, env=env, queue="celery", url=redis_server.url)
    server = Gunicorn(env=env, log_path=tmp_path / "gunicorn.log", workers=CLIENTS)
    try:
        worker.start()
        worker.wait_for_log("Task handoff.tasks.sla_sweep[", timeout=90)
        manager = desk.tokens[desk.manager.pk]
        server.start(ready_path="/api/handoffs/?page_size=1",
                     headers={"Authorization": f"Token {manager}"})  # fmt: skip

        # With Redis up, how soon the rep hears of a promotion: published on commit (over
        # HTTP, as deployed), and left to the relay alone (promoted in this process with
        # publishing on commit off; the relay runs every second here).
        marketer = desk.tokens[desk.marketer.pk]
        on_commit = []
        for _ in range(NOTIFY_SAMPLES):
            lead = LeadFactory(owner=desk.marketer)
            status, body = server.request(
                "POST", f"/api/leads/{lead.pk}/promote/", body={"note": "Asked for a demo after the pricing webinar."},
                headers={"Authorization": f"Token {marketer}"},
            )  # fmt: skip
            assert status == 201, body
            on_commit.append(notification_latency(lead))
        settings.OUTBOX_PUBLISH_ON_COMMIT = False
        relay_only = []
        for _ in range(NOTIFY_SAMPLES):
            lead = LeadFactory(owner=desk.marketer)
            handoff_services.handoff_promote(
                lead=lead, actor=desk.marketer, note="Asked for a demo this week."
            )
            relay_only.append(notification_latency(lead))
        settings.OUTBOX_PUBLISH_ON_COMMIT = True

        redis_server.stop()
        outage_started = timezone.now()
        due = [
            HandoffFactory(
                lead=LeadFactory(stage="mql", owner=desk.marketer),
                team=desk.team,
                calendar=desk.calendar,
                assigned_to=desk.reps[n % len(desk.reps)],
                promoted_by=desk.marketer,
                status=Status.PENDING,
                created_at=outage_started - dt.timedelta(hours=4),
                due_at=outage_started + dt.timedelta(seconds=1 + n),
                at_risk_at=outage_started - dt.timedelta(hours=1),
                at_risk_flagged_at=outage_started - dt.timedelta(hours=1),
                policy_snapshot=policy_snapshot(),
            )
            for n in range(DUE_DURING_OUTAGE)
        ]
        calls = requests_for(desk, uuid.uuid4().hex[:8])
        send_all(server, calls)
        last_due = max(h.due_at for h in due)
        while timezone.now() < last_due + dt.timedelta(seconds=1):
            time.sleep(0.1)
        assert not redis_server.answers()
        backlog = OutboxMessage.objects.filter(published_at__isnull=True).count()
        unsent = Notification.objects.filter(sent_at__isnull=True).count()

        redis_server.start()
        restarted = time.monotonic()
        returned_leads = [h.lead_id for h in desk.pending[ACCEPTS:]]
        due_ids = [h.pk for h in due]

        def drained() -> bool:
            return (
                not OutboxMessage.objects.filter(published_at__isnull=True).exists()
                and not Notification.objects.filter(sent_at__isnull=True).exists()
                and Handoff.objects.filter(pk__in=due_ids, breached_at__isnull=False).count()
                == len(due)
                and Notification.objects.filter(handoff__in=due_ids, kind="breached").count()
                == len(due)
                # A returned lead is rescored by the task its return queued.
                and not Lead.objects.filter(
                    pk__in=returned_leads, scored_at__lt=outage_started
                ).exists()
            )

        wait_until(drained, timeout=180, interval=0.1, what="the outbox to drain")
        drain_seconds = time.monotonic() - restarted
        time.sleep(3)  # a few more sweeps and relays: nothing may happen twice
    finally:
        server.stop()
        worker.kill()

    answered = [c for c in calls if 200 <= c.status < 300]
    failures = [(c.method, c.path, c.status, c.answer[:300]) for c in calls if c not in answered]
    latencies = [c.seconds for c in calls]
    p95 = percentile(latencies, 95)
    name = "1 broker down"
    figure(name, "2xx rate during the outage", "100%",
           f"{len(answered) / len(calls):.1%} of {len(calls)}")  # fmt: skip
    figure(name, "p95 latency during the outage", f"< {BOUND_SECONDS} s each",
           f"{p95 * 1000:.0f} ms (max {max(latencies) * 1000:.0f} ms)")  # fmt: skip
    figure(name, "outbox rows pending at restart", "-", f"{backlog} ({unsent} emails unsent)")
    figure(name, "seconds to drain after restart", "-", f"{drain_seconds:.1f} s")
    figure(name, "rep notified (Redis up): published on commit", "at once",
           f"median {statistics.median(on_commit) * 1000:.0f} ms, max {max(on_commit) * 1000:.0f} ms")  # fmt: skip
    figure(name, "rep notified (Redis up): relay only (1 s)", "-",
           f"median {statistics.median(relay_only) * 1000:.0f} ms, max {max(relay_only) * 1000:.0f} ms")  # fmt: skip
    slowest = [
        (round(c.seconds, 2), c.method, c.path) for c in sorted(calls, key=lambda c: -c.seconds)[:5]
    ]

    assert failures == []
    assert max(latencies) < BOUND_SECONDS, slowest
    assert backlog > 0 and unsent > 0  # the outage really held work back
    # Every deadline that passed during the outage: flagged once, at its deadline, one event,
    # one notification to the manager.
    for handoff in Handoff.objects.filter(pk__in=due_ids):
        assert handoff.breached_at == handoff.due_at
    breached = HandoffEvent.objects.filter(kind="breached", handoff__in=due_ids)
    assert per_handoff(breached) == dict.fromkeys(due_ids, 1)
    notes = Notification.objects.filter(kind="breached", handoff__in=due_ids)
    assert per_handoff(notes) == dict.fromkeys(due_ids, 1)
    assert set(notes.values_list("recipient", flat=True)) == {desk.manager.pk}
    # What the requests did is all there: leads, transitions, one notification per promotion.
    assert Lead.objects.filter(email__endswith="@outage.example").count() == (
        LEAD_POSTS - BULK_POSTS + BULK_POSTS * BULK_ROWS
    )
    assert Handoff.objects.filter(pk__in=[h.pk for h in desk.pending[:ACCEPTS]],
                                  status=Status.ACCEPTED).count() == ACCEPTS  # fmt: skip
    assert (
        Handoff.objects.filter(lead__in=returned_leads, status=Status.RETURNED).count() == RETURNS
    )
    promoted = Handoff.objects.filter(lead__in=desk.promotable)
    assert promoted.count() == PROMOTIONS
    assert Notification.objects.filter(handoff__in=promoted, kind="assigned").count() == PROMOTIONS


HUNG_BOUND_SECONDS = 4.0  # the socket timeout (2 s) once per gunicorn worker, plus the request


def test_with_redis_hung_requests_wait_at_most_the_socket_timeout_and_nothing_is_lost(
    desk, redis_server, tmp_path, figure
):
    """A broker that accepts connections and never answers (SIGSTOP) is worse than one that
    refuses them: without socket timeouts a publish would wait forever. Each gunicorn worker
    pays the socket timeout once, then its breaker leaves the rows to the relay."""
    env = service_env(redis_server.url)
    worker = WorkerGroup(tmp=tmp_path, env=env, queue="celery", url=redis_server.url)
    server = Gunicorn(env=env, log_path=tmp_path / "gunicorn.log", workers=CLIENTS)
    try:
        worker.start()
        worker.wait_for_log("Task handoff.tasks.sla_sweep[", timeout=90)
        manager = desk.tokens[desk.manager.pk]
        server.start(ready_path="/api/handoffs/?page_size=1",
                     headers={"Authorization": f"Token {manager}"})  # fmt: skip
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        calls = requests_for(desk, uuid.uuid4().hex[:8])[:120]
        send_all(server, calls)
        os.kill(redis_server.proc.pid, signal.SIGCONT)
        resumed = time.monotonic()
        wait_until(
            lambda: (
                not OutboxMessage.objects.filter(published_at__isnull=True).exists()
                and not Notification.objects.filter(sent_at__isnull=True).exists()
            ),
            timeout=180,
            interval=0.1,
            what="the outbox to drain after the broker answers again",
        )
        drain_seconds = time.monotonic() - resumed
    finally:
        if redis_server.proc is not None and redis_server.proc.poll() is None:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        server.stop()
        worker.kill()

    latencies = [c.seconds for c in calls]
    failures = [(c.path, c.status, c.answer[:200]) for c in calls if not 200 <= c.status < 300]
    slowest = [(round(c.seconds, 2), c.path) for c in sorted(calls, key=lambda c: -c.seconds)[:5]]
    name = "1 broker hung (SIGSTOP)"
    figure(
        name, f"{len(calls)} requests, 2xx", "100%", f"{len(calls) - len(failures)}/{len(calls)}"
    )
    figure(name, "p95 / max latency", f"< {HUNG_BOUND_SECONDS} s each",
           f"{percentile(latencies, 95) * 1000:.0f} ms / {max(latencies) * 1000:.0f} ms")  # fmt: skip
    figure(name, "seconds to drain after SIGCONT", "-", f"{drain_seconds:.1f} s")
    assert failures == []
    assert max(latencies) < HUNG_BOUND_SECONDS, slowest

"""The sweep and the sender run by a REAL Celery worker with embedded beat, on Redis.

Each test starts its own `celery -A config worker -B` process group against the pytest
database (rows are committed: transactional_db), with a 2-second sweep interval, and kills
only that group at the end. Needs PostgreSQL (the worker is another process) and a Redis
server (CELERY_BROKER_URL when it is redis://, else redis://127.0.0.1:6379/4).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from handoff.models import Handoff, HandoffEvent, Notification
from handoff.notifications import handoff_link
from handoff.sweep import ADVISORY_LOCK_KEY, sla_sweep
from tests.handoff.conftest import ROOT, database_url, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.postgres]

INTERVAL = 2.0


def breached_count() -> int:
    return Handoff.objects.filter(breached_at__isnull=False).count()


def assert_each_breach_recorded_exactly_once(handoffs: list[Handoff]) -> None:
    ids = {h.pk for h in handoffs}
    for handoff in Handoff.objects.filter(pk__in=ids):
        assert handoff.breached_at == handoff.due_at
    per_handoff = dict(
        HandoffEvent.objects.filter(kind="breached", handoff__in=ids)
        .values_list("handoff")
        .annotate(n=Count("id"))
        .values_list("handoff", "n")
    )
    assert per_handoff == dict.fromkeys(ids, 1)
    # Told once: in a message of its own, or counted in one grouped alert (a batch of more
    # than five breaches for the manager, handoff.sweep.ladder), never both.
    notes = dict(
        Notification.objects.filter(kind="breached", handoff__in=ids)
        .values_list("handoff")
        .annotate(n=Count("id"))
        .values_list("handoff", "n")
    )
    assert set(notes.values()) <= {1}
    alerts = list(Notification.objects.filter(kind="breaches"))
    assert len(notes) + sum(int(a.subject.split()[0]) for a in alerts) == len(ids)
    for pk in ids:
        listed = sum(handoff_link(pk) + "\n" in a.body for a in alerts)
        assert listed <= (0 if pk in notes else 1), pk


def test_a_handoff_whose_deadline_passes_is_flagged_within_one_sweep_interval(
    sweep_world, celery_worker_group
):
    worker = celery_worker_group(
        SLA_SWEEP_INTERVAL_SECONDS=str(INTERVAL), NOTIFICATION_SEND_INTERVAL_SECONDS="2"
    )
    worker.wait_for_log("Task handoff.tasks.sla_sweep[", timeout=60)  # beat and worker are up
    due = timezone.now() + dt.timedelta(seconds=1)
    handoff = sweep_world.make_handoff(due_at=due, at_risk_at=due - dt.timedelta(seconds=0.5))

    wait_until(
        lambda: Handoff.objects.filter(pk=handoff.pk, breached_at__isnull=False).exists(),
        timeout=4 * INTERVAL + 10,
        what="the breach",
    )

    handoff.refresh_from_db()
    assert handoff.breached_at == due
    [event] = HandoffEvent.objects.filter(handoff=handoff, kind="breached")
    lag = dt.datetime.fromisoformat(event.payload["flagged_at"]) - due
    # At most one interval of waiting for the next beat tick, plus the moment beat takes to
    # publish it and the worker to pick it up (generous: CI machines are shared).
    assert dt.timedelta(0) <= lag <= dt.timedelta(seconds=INTERVAL + 2.5), lag
    note = wait_until(
        lambda: Notification.objects.filter(
            handoff=handoff, kind="breached", sent_at__isnull=False
        ).first(),
        timeout=20,
        what="the manager's notification to be sent",
    )
    assert note.recipient == sweep_world.manager
    assert Notification.objects.filter(handoff=handoff, kind="breached").count() == 1


def test_a_worker_killed_mid_sweep_and_restarted_flags_every_breach_exactly_once(
    sweep_world, celery_worker_group
):
    now = timezone.now()
    handoffs = [
        sweep_world.make_handoff(due_at=now - dt.timedelta(seconds=n + 1)) for n in range(1500)
    ]
    env = {
        "SLA_SWEEP_INTERVAL_SECONDS": str(INTERVAL),
        "SLA_SWEEP_BATCH_SIZE": "3",  # many short transactions: the kill lands between two
        "NOTIFICATION_SEND_INTERVAL_SECONDS": "2",
        "NOTIFICATION_SEND_LEASE_SECONDS": "3",
    }
    worker = celery_worker_group(**env)

    flagged = wait_until(
        lambda: breached_count() >= 30 and breached_count(),
        timeout=60,
        interval=0.02,
        what="the sweep to be under way",
    )
    worker.kill(signal.SIGKILL)
    after_kill = breached_count()
    import sys as _s

    for _ in range(10):
        print("after", flagged, breached_count(), file=_s.stderr)
        time.sleep(0.2)
    assert flagged <= after_kill < len(handoffs), "the kill should land mid-sweep"
    # Each batch commits whole: flagged rows have their event and notification, no more.
    assert HandoffEvent.objects.filter(kind="breached").count() == after_kill
    assert Notification.objects.filter(kind="breached").count() == after_kill

    worker.start()  # the same queue, a fresh process group
    wait_until(
        lambda: breached_count() == len(handoffs), timeout=120, interval=0.5, what="all breaches"
    )
    wait_until(
        lambda: not Notification.objects.filter(sent_at__isnull=True).exists(),
        timeout=60,
        interval=0.5,
        what="every notification to be sent",
    )

    assert_each_breach_recorded_exactly_once(handoffs)
    assert "Task handoff.tasks.sla_sweep[" in worker.log()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_started_at_once_never_flag_or_notify_twice(sweep_world):
    now = timezone.now()
    handoffs = [
        sweep_world.make_handoff(due_at=now - dt.timedelta(seconds=n + 1)) for n in range(300)
    ]
    barrier = threading.Barrier(2)
    results = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(sla_sweep(now=now, batch_size=7))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sum(len(r.breached) for r in results) == 300
    assert_each_breach_recorded_exactly_once(handoffs)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sla_sweep_commands_started_at_once_never_flag_or_notify_twice(sweep_world):
    now = timezone.now()
    handoffs = [
        sweep_world.make_handoff(due_at=now - dt.timedelta(seconds=n + 1)) for n in range(400)
    ]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": "memory://",  # the sender is not under test here
    }
    command = [sys.executable, "manage.py", "sla_sweep", "--batch-size", "5"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]

    assert [p.returncode for p in procs] == [0, 0]
    assert breached_count() == 400
    assert_each_breach_recorded_exactly_once(handoffs)
    assert any("breached 400" in out for out in outputs) or all(
        "breached" in out for out in outputs
    ), outputs


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sweep_started_while_another_holds_the_lock_returns_at_once(sweep_world):
    sweep_world.make_handoff(due_at=timezone.now() - dt.timedelta(minutes=1))
    from django.db import connections

    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        started = time.perf_counter()
        result = sla_sweep()
        elapsed = time.perf_counter() - started
    finally:
        holder.close()

    assert result.ran is False and result.flagged == 0
    assert elapsed < 1
    assert breached_count() == 0
    # The holder's server process releases the lock when it notices the closed socket, a moment
    # after close() returns (longer on a busy machine).
    wait_until(lambda: not advisory_lock_held(), timeout=10, what="the holder's lock to go")
    assert sla_sweep().breached  # once the lock is free, the next sweep does the work


def advisory_lock_held() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = %s AND objsubid = 1 AND granted",
            [ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFF_FFFF],
        )
        return cursor.fetchone() is not None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_the_lock_skip_locked_alone_keeps_two_sweeps_apart(sweep_world):
    from handoff.sweep.runner import _Sweep

    now = timezone.now()
    handoffs = [
        sweep_world.make_handoff(due_at=now - dt.timedelta(seconds=n + 1)) for n in range(300)
    ]
    barrier = threading.Barrier(2)
    flagged: list[list[int]] = []
    errors: list[BaseException] = []

    def sweep_unlocked() -> None:
        try:
            barrier.wait()
            run = _Sweep(now=now, batch_size=4)
            run.run()
            flagged.append(run.result.breached)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep_unlocked) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    both = flagged[0] + flagged[1]
    assert sorted(both) == sorted(h.pk for h in handoffs)
    assert_each_breach_recorded_exactly_once(handoffs)

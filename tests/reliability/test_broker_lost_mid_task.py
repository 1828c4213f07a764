"""Redis goes away while the worker is in the middle of a task: the worker lives on.

With acks_late a task is acknowledged when it ends. If the broker is gone by then, the ack
fails, the consumer drops its connection and closes the channel, and the channel restores the
unacknowledged message to the broker. kombu 5.7's Redis transport crashed there (its transport
was already detached: AttributeError "'NoneType' object has no attribute 'hostname'", which
Celery's error handling does not expect) and the worker exited: "Unrecoverable error". Seen in
test_broker_down.py when the outage began while a sweep ran; made certain here by a sweep that
takes seconds (1,500 breaches in batches of 3) and a Redis stopped in its middle.
config/kombu_fixes.py keeps the worker alive; the message stays in Redis's unacked set until
the visibility timeout, and the sweep it carried is periodic and idempotent anyway.

Needs PostgreSQL (the worker is another process) and redis-server on PATH.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db.models import Count
from django.utils import timezone

from handoff.models import Handoff, HandoffEvent
from handoff.states import Status
from tests.factories import BusinessCalendarFactory, HandoffFactory, TeamFactory, UserFactory
from tests.handoff.conftest import WorkerGroup, policy_snapshot, wait_until
from tests.reliability.test_broker_down import service_env

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.slow]

DUE = 1500


def test_a_worker_whose_broker_goes_away_mid_task_lives_on_and_consumes_again(
    transactional_db, django_db_serialized_rollback, redis_server, tmp_path
):
    calendar = BusinessCalendarFactory(
        name="Round the clock", timezone="UTC", windows=[(d, "00:00", "00:00") for d in range(7)]
    )
    team = TeamFactory(name="Everyone", calendar=calendar, manager=UserFactory(username="boss"))
    now = timezone.now()

    def due_handoff(due_at: dt.datetime) -> Handoff:
        return HandoffFactory(
            team=team, calendar=calendar, status=Status.PENDING, policy_snapshot=policy_snapshot(),
            created_at=due_at - dt.timedelta(hours=4), due_at=due_at,
        )  # fmt: skip

    handoffs = [due_handoff(now - dt.timedelta(seconds=n + 1)) for n in range(DUE)]
    env = {**service_env(redis_server.url), "SLA_SWEEP_BATCH_SIZE": "3"}
    worker = WorkerGroup(tmp=tmp_path, env=env, queue="celery", url=redis_server.url)
    try:
        worker.start()
        # The sweep is under way (its message delivered, not yet acknowledged)...
        wait_until(
            lambda: Handoff.objects.filter(breached_at__isnull=False).count() >= 30,
            timeout=90, interval=0.05, what="the sweep to start",
        )  # fmt: skip
        assert Handoff.objects.filter(breached_at__isnull=False).count() < DUE, "too quick"
        redis_server.stop()
        # ... and finishes without its broker (the database is all it needs), then fails to
        # acknowledge, drops the connection and closes the channel.
        wait_until(
            lambda: Handoff.objects.filter(breached_at__isnull=False).count() == DUE,
            timeout=120, interval=0.2, what="the sweep to finish",
        )  # fmt: skip
        wait_until(
            lambda: "Connection to broker lost" in worker.log(),
            timeout=30, what="the worker to notice",
        )  # fmt: skip
        time.sleep(3)  # the crash came within milliseconds of that line
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()[-3000:]
        assert "Unrecoverable error" not in worker.log(), worker.log()[-3000:]

        # Redis comes back: the same worker consumes again (a new deadline is flagged by it).
        redis_server.start()
        late = due_handoff(timezone.now() + dt.timedelta(seconds=1))
        wait_until(
            lambda: Handoff.objects.filter(pk=late.pk, breached_at__isnull=False).exists(),
            timeout=90, interval=0.2, what="a breach flagged after Redis returned",
        )  # fmt: skip
        assert worker.proc.poll() is None and worker.starts == 1
    finally:
        worker.kill()

    per_handoff = dict(
        HandoffEvent.objects.filter(kind="breached")
        .values_list("handoff")
        .annotate(n=Count("id"))
        .values_list("handoff", "n")
    )
    assert per_handoff == dict.fromkeys([h.pk for h in [*handoffs, late]], 1)

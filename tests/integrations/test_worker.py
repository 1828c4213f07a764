"""Webhooks delivered by a REAL Celery worker (with embedded beat) on Redis, to real receivers
on loopback: a receiver down then back gets every event, none twice once it answered 2xx; a
worker killed with SIGKILL mid-delivery leaves the message to be delivered again, never lost.

Needs PostgreSQL (the worker is another process sharing the test database) and Redis
(CELERY_BROKER_URL when it is redis://, else the database of tests.handoff.conftest). Events
are written by this process through the task outbox; the worker's relay publishes them.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections import Counter

import pytest
from django.db.models import F

from integrations import services
from integrations.models import Attempt, Message
from tests.handoff.conftest import wait_until
from tests.reliability.security_world import make_security_world

pytestmark = [pytest.mark.worker, pytest.mark.postgres]

WORKER_ENV = {
    "WEBHOOK_DISPATCH_INTERVAL_SECONDS": "1",
    "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
    "SLA_SWEEP_INTERVAL_SECONDS": "3600",
}


@pytest.fixture
def world(transactional_db, settings):
    # The worker's relay publishes what this process writes (this process's broker is not the
    # worker's).
    settings.OUTBOX_PUBLISH_ON_COMMIT = False
    return make_security_world(handoffs=False)


def delivered_ids(hook) -> Counter:
    return Counter(request.headers["webhook-id"] for request in hook.received)


def test_a_receiver_down_for_ten_minutes_gets_every_event_and_none_twice(
    world, receiver, celery_worker_group
):
    hook = receiver(status=503)
    endpoint = services.endpoint_create(
        data={"url": hook.url, "event_types": ["*"]}, actor=world.users["manager"]
    )
    worker = celery_worker_group(**WORKER_ENV)
    worker.wait_for_log("Task integrations.tasks.webhooks_dispatch[", timeout=60)

    for _ in range(5):
        world.promote("rep")
    expected = 5 * 2  # lead.promoted and handoff.assigned each
    wait_until(
        lambda: (
            Message.objects.filter(endpoint=endpoint).count() == expected
            and not Message.objects.filter(endpoint=endpoint, attempts__lt=2).exists()
        ),
        timeout=60,
        what="two failed attempts of every message (the first retry comes after ~5 s)",
    )
    assert hook.received == [] and len(hook.refused) >= 2 * expected
    # Ten minutes pass: the worker runs on the real clock, so the stored due times move back
    # by ten minutes instead (every retry due by then is due now).
    Message.objects.filter(endpoint=endpoint, status="pending").update(
        next_attempt_at=F("next_attempt_at") - dt.timedelta(minutes=10)
    )
    hook.status = 200

    wait_until(
        lambda: not Message.objects.filter(endpoint=endpoint).exclude(status="delivered").exists(),
        timeout=60,
        what="every message delivered",
    )
    time.sleep(3)  # a few more dispatch rounds: nothing may be sent again
    ids = delivered_ids(hook)
    assert set(ids) == set(
        Message.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)
    )
    assert max(ids.values()) == 1, ids
    assert Attempt.objects.filter(endpoint=endpoint, status_code=200).count() == expected


def test_a_worker_killed_mid_delivery_delivers_the_message_again(
    world, receiver, celery_worker_group
):
    calls: list[float] = []

    def slow_first(request):
        calls.append(time.time())
        if len(calls) == 1:
            time.sleep(4)  # the worker is killed while it waits for this answer
        return 200, b"ok", {}

    hook = receiver(answer=slow_first)
    endpoint = services.endpoint_create(
        data={"url": hook.url, "event_types": ["lead.promoted"]}, actor=world.users["manager"]
    )
    env = {**WORKER_ENV, "WEBHOOK_WORKER_BUDGET_SECONDS": "1", "WEBHOOK_TOTAL_TIMEOUT_SECONDS": "6"}
    worker = celery_worker_group(**env)
    worker.wait_for_log("Task integrations.tasks.webhooks_dispatch[", timeout=60)

    world.promote("rep")
    wait_until(lambda: calls, timeout=30, what="the first POST to reach the receiver")
    worker.kill(signal.SIGKILL)
    [message] = Message.objects.filter(endpoint=endpoint)
    assert message.status == "pending" and not Attempt.objects.filter(message=message).exists()

    celery_worker_group(**env).wait_for_log(
        "Task integrations.tasks.webhooks_dispatch[", timeout=60
    )
    wait_until(
        lambda: Message.objects.filter(pk=message.pk, status="delivered").exists(),
        timeout=60,
        what="the message delivered by the second worker (after the dead one's lease ran out)",
    )
    assert len(calls) >= 2
    assert {r.headers["webhook-id"] for r in hook.received} == {message.event_id}
    assert Attempt.objects.filter(message=message, status_code=200).count() == 1

"""The task outbox (core.outbox): queued in the caller's transaction, published after commit or
by the relay, against a real Redis of the test's own (started, stopped, paused by the test)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core import outbox
from core.models import OutboxMessage
from leads.services import enqueue_task
from tests.reliability.conftest import queued_task_names

RESCORE = "leads.tasks.lead_rescore"
SEND = "handoff.tasks.notifications_send"


def pending() -> list[tuple[str, dict]]:
    return sorted(
        OutboxMessage.objects.filter(published_at__isnull=True).values_list("task", "kwargs"),
        key=str,
    )


# --- queueing, inside a transaction ----------------------------------------------------------


@pytest.mark.django_db
def test_a_task_queued_in_a_transaction_that_rolls_back_is_never_sent(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        enqueue_task(RESCORE, lead_id=1)
        raise RuntimeError("the transition failed")

    assert not OutboxMessage.objects.exists()
    assert callbacks == []


@pytest.mark.django_db
def test_equal_tasks_in_one_transaction_are_queued_and_published_once(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for _ in range(10):
            enqueue_task(SEND)
        enqueue_task(RESCORE, lead_id=1)
        enqueue_task(RESCORE, lead_id=2)
        enqueue_task(RESCORE, lead_id=1)

    assert pending() == [(SEND, {}), (RESCORE, {"lead_id": 1}), (RESCORE, {"lead_id": 2})]
    assert outbox.queued_messages(callbacks) == [
        (SEND, {}), (RESCORE, {"lead_id": 1}), (RESCORE, {"lead_id": 2}),
    ]  # fmt: skip
    assert len(callbacks) == 1  # one publish, over one producer, for the whole transaction


@pytest.mark.django_db
def test_a_task_queued_in_a_rolled_back_savepoint_is_queued_again_by_a_later_call(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_task(SEND)
            raise RuntimeError
        enqueue_task(SEND)

    assert pending() == [(SEND, {})]
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_published_rows_are_purged_after_a_day_and_pending_ones_never():
    now = timezone.now()
    old = dict(created_at=now - dt.timedelta(days=2), available_at=now - dt.timedelta(days=2))
    OutboxMessage.objects.create(
        task=SEND, dedupe_key="a", published_at=now - dt.timedelta(hours=25), **old
    )
    OutboxMessage.objects.create(
        task=SEND, dedupe_key="b", published_at=now - dt.timedelta(hours=23), **old
    )
    OutboxMessage.objects.create(task=SEND, dedupe_key="c", **old)

    assert outbox.outbox_purge(now=now) == 1
    assert sorted(OutboxMessage.objects.values_list("dedupe_key", flat=True)) == ["b", "c"]


# --- publishing after commit, against a real Redis --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_commit_the_task_is_on_the_broker_and_its_row_is_marked_published(
    redis_server, app_on_broker
):
    app_on_broker(redis_server.url)
    with transaction.atomic():
        enqueue_task(RESCORE, lead_id=7)
        assert queued_task_names(redis_server) == []  # nothing leaves before the commit

    assert queued_task_names(redis_server) == [RESCORE]
    row = OutboxMessage.objects.get()
    assert row.published_at is not None
    assert row.kwargs == {"lead_id": 7}


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_stopped_a_commit_answers_at_once_and_the_relay_sends_it_later(
    redis_server, app_on_broker
):
    app_on_broker(redis_server.url)
    redis_server.stop()

    started = time.perf_counter()
    with transaction.atomic():
        enqueue_task(RESCORE, lead_id=7)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5, elapsed
    assert outbox.breaker.is_open()
    assert pending() == [(RESCORE, {"lead_id": 7})]

    redis_server.start()
    result = outbox.outbox_relay(now=timezone.now() + dt.timedelta(seconds=10))

    assert result.summary()["published"] == 1
    assert pending() == []
    assert queued_task_names(redis_server) == [RESCORE]


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_hung_one_commit_waits_the_socket_timeout_and_the_next_ones_do_not(
    redis_server, app_on_broker, settings
):
    app_on_broker(redis_server.url)
    with transaction.atomic():
        enqueue_task(RESCORE, lead_id=1)  # the connection is open and working
    assert queued_task_names(redis_server) == [RESCORE]
    timeout = settings.BROKER_NETWORK_TRANSPORT_OPTIONS["socket_timeout"]
    os.kill(redis_server.proc.pid, signal.SIGSTOP)  # accepts bytes, never answers
    try:
        started = time.perf_counter()
        with transaction.atomic():
            enqueue_task(RESCORE, lead_id=2)
        first = time.perf_counter() - started

        times = []
        for lead_id in range(3, 23):
            started = time.perf_counter()
            with transaction.atomic():
                enqueue_task(RESCORE, lead_id=lead_id)
            times.append(time.perf_counter() - started)
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)

    assert first < timeout + 1.0, first
    assert max(times) < 0.2, times  # the breaker is open: no connection attempt at all
    assert len(pending()) == 21


@pytest.mark.django_db(transaction=True)
def test_an_equal_task_pending_from_an_earlier_transaction_collapses_into_it(
    redis_server, app_on_broker
):
    app_on_broker(redis_server.url)
    redis_server.stop()
    for _ in range(5):
        with transaction.atomic():
            enqueue_task(SEND)

    assert pending() == [(SEND, {})]

    redis_server.start()
    outbox.outbox_relay(now=timezone.now() + dt.timedelta(seconds=10))
    assert queued_task_names(redis_server) == [SEND]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_task_collapsed_into_a_row_published_before_its_commit_is_left_pending_again(
    redis_server, app_on_broker
):
    """T2's message collapses into T1's pending row; the relay publishes T1's row before T2
    commits (so a worker may run before T2's rows are visible); the broker is then down for
    T2's own publish: a pending row must be left for it."""
    app_on_broker(redis_server.url)
    redis_server.stop()
    enqueue_task(SEND)  # T1, committed at once; its publish failed
    [first] = OutboxMessage.objects.filter(published_at__isnull=True)

    def relay_publishes_it() -> None:
        OutboxMessage.objects.filter(pk=first.pk).update(published_at=timezone.now())
        connection.close()

    with transaction.atomic():  # T2
        enqueue_task(SEND)
        assert OutboxMessage.objects.count() == 1  # collapsed
        other = threading.Thread(target=relay_publishes_it)
        other.start()
        other.join()

    [again] = OutboxMessage.objects.filter(published_at__isnull=True)
    assert again.pk != first.pk


# --- the relay -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_every_pending_row_in_batches_and_marks_each(
    redis_server, app_on_broker, settings
):
    settings.OUTBOX_PUBLISH_ON_COMMIT = False
    app_on_broker(redis_server.url)
    with transaction.atomic():
        for lead_id in range(250):
            enqueue_task(RESCORE, lead_id=lead_id)
    assert queued_task_names(redis_server) == []

    result = outbox.outbox_relay(batch_size=100)

    assert result.summary() == {"published": 250, "failed": 0, "batches": 3, "error": ""}
    assert pending() == []
    assert queued_task_names(redis_server) == [RESCORE] * 250
    assert outbox.outbox_relay().summary()["published"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_relay_the_broker_refuses_marks_nothing_and_backs_the_rows_off(
    redis_server, app_on_broker, settings
):
    settings.OUTBOX_PUBLISH_ON_COMMIT = False
    app_on_broker(redis_server.url)
    with transaction.atomic():
        for lead_id in range(3):
            enqueue_task(RESCORE, lead_id=lead_id)
    redis_server.stop()
    now = timezone.now()

    failed = outbox.outbox_relay(now=now)

    assert failed.summary()["failed"] == 3 and failed.summary()["published"] == 0
    assert "Connection refused" in failed.error or "Error 111" in failed.error
    rows = list(OutboxMessage.objects.all())
    assert {(r.attempts, r.published_at) for r in rows} == {(1, None)}
    assert {r.available_at for r in rows} == {now + dt.timedelta(seconds=1)}
    # Until the backoff is over, a relay does not even try.
    assert outbox.outbox_relay(now=now + dt.timedelta(seconds=0.5)).summary()["batches"] == 0

    redis_server.start()
    done = outbox.outbox_relay(now=now + dt.timedelta(seconds=1))

    assert done.summary()["published"] == 3
    assert queued_task_names(redis_server) == [RESCORE] * 3


def test_the_backoff_doubles_from_one_second_up_to_a_minute():
    assert [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 20)] == [
        1, 2, 4, 32, 60, 60,
    ]  # fmt: skip


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_relays_running_at_once_publish_each_row_once(redis_server, app_on_broker, settings):
    settings.OUTBOX_PUBLISH_ON_COMMIT = False
    app_on_broker(redis_server.url)
    with transaction.atomic():
        for lead_id in range(2000):
            enqueue_task(RESCORE, lead_id=lead_id)
    results: list[dict] = []

    def relay() -> None:
        try:
            results.append(outbox.outbox_relay(batch_size=50).summary())
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r["published"] for r in results) == 2000
    assert all(r["published"] > 0 for r in results), results  # both took part
    assert redis_server.client().llen("celery") == 2000
    assert pending() == []

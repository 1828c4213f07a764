"""The task outbox: Celery tasks are queued as rows in the caller's transaction, then relayed.

Nothing on a request path waits for the broker. `enqueue_task()` inserts an OutboxMessage in
the caller's transaction (a rolled-back transaction queues nothing; a committed one never loses
its task) and, once the transaction commits, makes one quick attempt to publish what the
transaction queued (`PendingPublish`, one on-commit callback per transaction: one producer,
one UPDATE marking the rows): the rep hears of a new handoff at once. That attempt is bounded
by the broker timeouts in settings (one connection try, no retry loop) and, after a failure,
skipped for OUTBOX_BREAKER_SECONDS by every request of the process, so an outage costs one
fast failure per process, not one per request. A row whose attempt failed (or never happened: the
process died between commit and publish) stays pending for the relay.

`outbox_relay()` (the task `leads.tasks.outbox_relay`, every OUTBOX_RELAY_INTERVAL_SECONDS from
beat) claims pending rows in batches with SKIP LOCKED, publishes each, marks a row published
only once its publish returned, and backs a batch off when the broker fails mid-way. Delivery is
at least once: every task is idempotent (they take ids and re-read the database).

Equal messages (same task and arguments) collapse while one is pending: a partial unique index
on `dedupe_key` (pending rows only) and `ON CONFLICT DO NOTHING`. Ten notifications written in
one transaction queue one sender; an outage of an hour leaves one pending sender, not one per
request. A transaction whose row collapsed into someone else's pending row still publishes
after its own commit (the other row may have been published before this one committed, so a
worker could have run before these rows were visible); the publish that marks a row is only
ever the one made after that row committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.models import OutboxMessage

logger = logging.getLogger(__name__)


# --- the circuit breaker of the request path -------------------------------------------------


class _Breaker:
    """After a failed publish, requests of this process leave their rows to the relay for a
    while instead of each paying a connection attempt to a broker that is down."""

    def __init__(self) -> None:
        self._open_until = 0.0
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + float(settings.OUTBOX_BREAKER_SECONDS)

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


breaker = _Breaker()


# --- queueing ------------------------------------------------------------------------------


def dedupe_key(task_name: str, kwargs: dict[str, Any]) -> str:
    """Equal for equal task and arguments (argument order ignored)."""
    raw = json.dumps([task_name, kwargs], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _insert_sql() -> str:
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    # No conflict target: the only unique index besides the primary key is the partial one on
    # pending dedupe keys, and both PostgreSQL and SQLite then skip any conflicting row.
    return (
        f"INSERT INTO {table} "
        "(task, kwargs, dedupe_key, created_at, available_at, attempts, last_error) "
        "VALUES (%s, %s, %s, %s, %s, 0, '') ON CONFLICT DO NOTHING RETURNING id"
    )


def _insert(
    task_name: str, kwargs: dict[str, Any], *, now: dt.datetime, delay: float
) -> int | None:
    """Insert a pending row; None when an equal message is already pending."""
    kwargs_field = OutboxMessage._meta.get_field("kwargs")
    params = [
        task_name,
        kwargs_field.get_db_prep_value(kwargs, connection),
        dedupe_key(task_name, kwargs),
        now,
        now + dt.timedelta(seconds=delay),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), params)
        row = cursor.fetchone()
    return int(row[0]) if row else None


Message = tuple[str, dict[str, Any], int | None]  # (task, kwargs, the row inserted or None)


class PendingPublish:
    """The on-commit callback of a transaction: publishes the messages it queued.

    One per transaction and savepoint level, so that a transaction queueing several tasks
    publishes them over one producer and marks their rows in one UPDATE; and so that a
    savepoint rolled back takes its messages with it (Django drops the callbacks registered
    inside it, as the rows are gone).
    """

    def __init__(self, message: Message) -> None:
        self.messages: list[Message] = [message]

    def __call__(self) -> None:
        publish_messages(self.messages)

    def __repr__(self) -> str:
        return f"PendingPublish({[(task, kwargs) for task, kwargs, _ in self.messages]})"


def queued_messages(callbacks: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (task, kwargs) that on-commit callbacks would publish (for tests capturing them)."""
    return [
        (task, kwargs)
        for callback in callbacks
        if isinstance(callback, PendingPublish)
        for task, kwargs, _ in callback.messages
    ]


def enqueue_task(task_name: str, **kwargs: Any) -> None:
    """Queue a Celery task in the current transaction; it is published once that commits.

    Never blocks on, nor fails because of, the broker. Outside a transaction the row commits at
    once and the publish follows immediately. An equal task (same name and arguments) already
    queued by this transaction is not queued twice.
    """
    batch: PendingPublish | None = None
    if connection.in_atomic_block:
        level = set(connection.savepoint_ids)
        for entry in connection.run_on_commit:
            savepoints, callback = entry[0], entry[1]
            if not isinstance(callback, PendingPublish):
                continue
            if any(task == task_name and args == kwargs for task, args, _ in callback.messages):
                return
            if savepoints == level:
                batch = callback
    publish_now = bool(settings.OUTBOX_PUBLISH_ON_COMMIT)
    # A row the committing process will publish itself is left to it for a few seconds, so
    # that a relay running meanwhile does not publish it a second time.
    delay = float(settings.OUTBOX_PUBLISH_GRACE_SECONDS) if publish_now else 0.0
    outbox_id = _insert(task_name, kwargs, now=timezone.now(), delay=delay)
    if not publish_now:
        return
    if batch is not None:
        batch.messages.append((task_name, kwargs, outbox_id))
    else:
        transaction.on_commit(PendingPublish((task_name, kwargs, outbox_id)), robust=True)


def enqueue_task_for_relay(task_name: str, **kwargs: Any) -> None:
    """Queue a Celery task in the current transaction for the relay alone: no publish after
    commit, so the request neither talks to the broker nor updates the row afterwards (the
    transitions' hot path). The relay publishes it within OUTBOX_RELAY_INTERVAL_SECONDS."""
    enqueue_tasks_for_relay([(task_name, kwargs)])


def enqueue_tasks_for_relay(tasks: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """enqueue_task_for_relay for several tasks, in one INSERT."""
    if not tasks:
        return
    kwargs_field = OutboxMessage._meta.get_field("kwargs")
    now = timezone.now()
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    params: list[Any] = []
    for task_name, kwargs in tasks:
        params += [
            task_name,
            kwargs_field.get_db_prep_value(kwargs, connection),
            dedupe_key(task_name, kwargs),
            now,
            now,
        ]
    values = ", ".join(["(%s, %s, %s, %s, %s, 0, '')"] * len(tasks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} "
            "(task, kwargs, dedupe_key, created_at, available_at, attempts, last_error) "
            f"VALUES {values} ON CONFLICT DO NOTHING",
            params,
        )


def _send(task_name: str, kwargs: dict[str, Any], producer: Any = None) -> None:
    from celery import current_app

    # retry=False: one try, bounded by the broker timeouts in settings; the outbox retries.
    current_app.send_task(task_name, kwargs=kwargs, retry=False, producer=producer)


def publish_messages(messages: Sequence[Message]) -> int:
    """Publish committed messages now, best effort; mark the rows of those that went out.

    A message's row is the one its transaction inserted, or None when the message collapsed
    into an equal pending row. Returns how many were published. Never raises: the transaction
    has committed, and what was not published is left pending for the relay.
    """
    sent: list[int] = []
    published = 0
    try:
        if not breaker.is_open():
            from celery import current_app

            try:
                with current_app.producer_or_acquire() as producer:
                    for task_name, kwargs, _ in messages:
                        _send(task_name, kwargs, producer=producer)
                        published += 1
            except Exception as exc:  # the broker is down or hung: the relay will publish it
                breaker.trip()
                logger.warning(
                    "could not publish %s now (%s); the outbox relay will",
                    messages[published][0],
                    exc,
                )
        sent = [outbox_id for _, _, outbox_id in messages[:published] if outbox_id is not None]
        for task_name, kwargs, outbox_id in messages[published:]:
            if outbox_id is None:
                _keep_pending(task_name, kwargs)
        _mark_published(sent, now=timezone.now())
    except Exception:  # a failed bookkeeping query must not fail the committed request
        logger.exception("outbox: publishing after commit failed")
    return published


def publish_task(task_name: str, kwargs: dict[str, Any], *, outbox_id: int | None = None) -> bool:
    """Publish one committed message now, best effort (see publish_messages)."""
    return publish_messages([(task_name, kwargs, outbox_id)]) == 1


def _keep_pending(task_name: str, kwargs: dict[str, Any]) -> None:
    """This transaction's message collapsed into an equal pending row, which may have been
    published before this transaction committed: make sure a pending row is left for it."""
    _insert(task_name, kwargs, now=timezone.now(), delay=0.0)


def _mark_published(ids: Sequence[int], *, now: dt.datetime) -> int:
    if not ids:
        return 0
    if connection.vendor != "postgresql":
        return OutboxMessage.objects.filter(pk__in=list(ids), published_at__isnull=True).update(
            published_at=now
        )
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    # One statement. A row the relay holds is being published by it: skip it, do not wait.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET published_at = %s WHERE id IN (SELECT id FROM {table} "
            "WHERE id = ANY(%s) AND published_at IS NULL FOR UPDATE SKIP LOCKED)",
            [now, list(ids)],
        )
        return int(cursor.rowcount)


# --- the relay -----------------------------------------------------------------------------


@dataclass
class RelayResult:
    published: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    batches: int = 0
    error: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "published": len(self.published),
            "failed": len(self.failed),
            "batches": self.batches,
            "error": self.error,
        }


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait after `attempts` failed relays of a row: base * 2**(attempts-1), capped."""
    base = float(settings.OUTBOX_RETRY_BASE_SECONDS)
    cap = float(settings.OUTBOX_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def outbox_relay(
    *,
    now: dt.datetime | None = None,
    batch_size: int | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> RelayResult:
    """Publish every pending message that is due, in batches; stop at the first broker failure.

    Each batch is one short transaction: claim rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so
    two relays take different rows and neither waits), publish them over one producer, mark the
    published ones, and push the rest back by the row's backoff. A relay killed mid-batch rolls
    back its marks: those rows are published again by the next run (at least once).
    """
    if clock is None:
        fixed = now
        clock = (lambda: fixed) if fixed is not None else timezone.now
    batch_size = batch_size or int(settings.OUTBOX_RELAY_BATCH_SIZE)
    result = RelayResult()
    while True:
        moment = clock()
        due = OutboxMessage.objects.filter(
            published_at__isnull=True, available_at__lte=moment
        ).order_by("available_at", "id")
        with transaction.atomic():
            if connection.features.has_select_for_update_skip_locked:
                due = due.select_for_update(skip_locked=True)
            rows = list(due[:batch_size])
            if not rows:
                return result
            result.batches += 1
            sent: list[int] = []
            failure: BaseException | None = None
            try:
                from celery import current_app

                with current_app.producer_or_acquire() as producer:
                    for row in rows:
                        _send(row.task, row.kwargs, producer=producer)
                        sent.append(row.pk)
            except Exception as exc:
                failure = exc
            if sent:
                OutboxMessage.objects.filter(pk__in=sent).update(published_at=clock())
                result.published.extend(sent)
            if failure is not None:
                unsent = [row for row in rows if row.pk not in set(sent)]
                error = f"{type(failure).__name__}: {failure}"[:2000]
                later = clock()
                for row in unsent:
                    row.attempts += 1
                    row.available_at = later + retry_delay(row.attempts)
                    row.last_error = error
                OutboxMessage.objects.bulk_update(
                    unsent, ["attempts", "available_at", "last_error"]
                )
                result.failed.extend(row.pk for row in unsent)
                result.error = error
        if failure is not None:
            logger.warning(
                "outbox relay: broker failed after %s messages (%s); %s wait for the next run",
                len(result.published),
                result.error,
                len(result.failed),
            )
            return result


def outbox_purge(*, now: dt.datetime | None = None, limit: int = 50_000) -> int:
    """Delete published rows older than OUTBOX_KEEP_PUBLISHED_HOURS (at most `limit` a run)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=float(settings.OUTBOX_KEEP_PUBLISHED_HOURS))
    ids = list(
        OutboxMessage.objects.filter(published_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    deleted, _ = OutboxMessage.objects.filter(pk__in=ids).delete()
    return deleted


def outbox_backlog(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Pending messages and the age of the oldest: for operators (and the broker-down test)."""
    now = now or timezone.now()
    pending = OutboxMessage.objects.filter(published_at__isnull=True)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "pending": pending.count(),
        "retrying": pending.exclude(last_error="").count(),
        "oldest_seconds": (now - oldest).total_seconds() if oldest else 0.0,
    }

"""The sweep's run: the advisory lock, the batch loop over the ladder's steps, the task entry.

One periodic job, like healthchecks' `sendalerts` loop: beat runs `handoff.tasks.sla_sweep`
every SLA_SWEEP_INTERVAL_SECONDS and operators can run `manage.py sla_sweep`. Each step
(breach, at risk, first-touch breach, first-touch at risk) is probed once (nothing due: one
index lookup), then worked in batches of SLA_SWEEP_BATCH_SIZE, one short transaction each:
claim (`SKIP LOCKED`), flag, one event per flagged row, the outbox rows and the on-breach
action, together or not at all. A crash rolls back at most the batch in flight, which the next
sweep redoes: every breach is flagged, evented and notified exactly once.

On PostgreSQL a session advisory lock is held for the whole run: a second sweep started
meanwhile returns at once (`SweepResult.ran` is False). SQLite has a single writer anyway
(transactions are BEGIN IMMEDIATE), and the conditional updates keep a second run harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from handoff.models import Handoff, HandoffEvent, Notification
from handoff.sweep import sql
from handoff.sweep.ladder import (
    DETAIL_FIELDS,
    STEPS,
    WEBHOOK_TYPES,
    Due,
    Ladder,
    Step,
    SweepResult,
)
from handoff.webhook_events import publish_handoff_events
from leads.bulksql import insert_rows
from leads.services import enqueue_task

logger = logging.getLogger("handoff.sweep")

# pg_try_advisory_lock key of the sweep: any constant no other code uses ("SLASWEEP" in ASCII).
ADVISORY_LOCK_KEY = int.from_bytes(b"SLASWEEP", "big") & 0x7FFF_FFFF_FFFF_FFFF


@contextmanager
def _sweep_lock() -> Iterator[bool]:
    """Hold the sweep's advisory lock for the run (PostgreSQL); yields False if it is taken."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
            except DatabaseError:
                # The session is gone (and the lock with it), or the outer transaction is
                # aborted: close the connection so the lock cannot outlive this run.
                logger.warning("could not release the sweep lock; closing the connection")
                connection.close()


class _Sweep:
    """One run of the ladder (without the lock: tests run two at once to check SKIP LOCKED)."""

    def __init__(self, *, now: dt.datetime, batch_size: int) -> None:
        self.now = now
        self.batch_size = batch_size
        self.result = SweepResult(now=now)
        self.ladder = Ladder(now=now, result=self.result)
        self.skip_locked = bool(connection.features.has_select_for_update_skip_locked)

    def run(self) -> None:
        for step in STEPS:
            # A probe outside any transaction: an idle sweep (the common case) costs four
            # index lookups, not four claim statements to plan and four transactions.
            if not self._has_due(step):
                continue
            while True:
                with transaction.atomic():
                    claimed = self._batch(step)
                self.result.batches += 1
                # Fewer than a batch: nothing else is due (or the rest is locked by a
                # transition in flight, which either settles it or leaves it to the next run).
                if claimed < self.batch_size:
                    break

    def _has_due(self, step: Step) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(sql.probe_sql(step), {"now": self.now})
            return cursor.fetchone() is not None

    def _batch(self, step: Step) -> int:
        if connection.vendor == "postgresql":
            flagged = self._flag_postgres(step)
        else:
            flagged = self.flag_portable(step)
        if not flagged:
            return 0
        rows = [due for due, _ in flagged]
        event_ids = [event_id for _, event_id in flagged]
        getattr(self.result, step.result_field).extend(due.id for due in rows)
        if step.name in WEBHOOK_TYPES:
            publish_handoff_events(
                WEBHOOK_TYPES[step.name], ids=[due.id for due in rows], now=self.now
            )
        messages = self.ladder.decide(step, rows, event_ids)
        # One statement whatever the batch size; a duplicate (event, recipient, kind) fails the
        # batch's transaction rather than notifying twice.
        insert_rows(Notification, messages, skip_conflicts=False)
        self.result.notifications += len(messages)
        return len(rows)

    def _flag_postgres(self, step: Step) -> list[tuple[Due, int]]:
        statement, params = sql.flag_sql(step)
        params.update(
            now=self.now,
            flagged_at=self.now.isoformat(),
            limit=self.batch_size,
            kind=step.event_kind,
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [(Due.of(sql.DetailRow._make(row)), row[-1]) for row in cursor.fetchall()]

    def flag_portable(self, step: Step) -> list[tuple[Due, int]]:
        """Claim and flag with one conditional UPDATE ... RETURNING, then read the details and
        insert the events: three statements, for SQLite (or any backend without the above)."""
        with connection.cursor() as cursor:
            cursor.execute(
                sql.claim_sql(step, skip_locked=self.skip_locked),
                {"now": self.now, "limit": self.batch_size},
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        rows = [
            Due.of(row)
            for row in Handoff.objects.filter(pk__in=ids)
            .order_by(step.deadline, "id")
            .values_list(*DETAIL_FIELDS, named=True)
        ]
        # One event per flagged row: matched back by handoff, not by the order of RETURNING.
        event_ids = dict(
            (handoff_id, pk)
            for pk, handoff_id in insert_rows(
                HandoffEvent,
                [self.ladder.event(step, due) for due in rows],
                returning=("id", "handoff_id"),
                skip_conflicts=False,
            )
        )
        return [(due, event_ids[due.id]) for due in rows]


def sla_sweep(*, now: dt.datetime | None = None, batch_size: int | None = None) -> SweepResult:
    """Run the escalation ladder once over every handoff that is due at `now`.

    Idempotent: a second run at the same `now` changes nothing. Returns what it flagged; with
    `ran` False when another sweep was already running (PostgreSQL).
    """
    started = time.perf_counter()
    # In UTC: the claim compares `now` as a raw parameter, and SQLite compares datetimes as
    # text in UTC, so a local aware `now` would find nothing due there.
    now = (now or timezone.now()).astimezone(dt.UTC)
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    with _sweep_lock() as acquired:
        if not acquired:
            return SweepResult(now=now, ran=False)
        sweep = _Sweep(now=now, batch_size=batch_size)
        sweep.run()
    result = sweep.result
    if result.notifications:
        enqueue_task("handoff.tasks.notifications_send")
    result.seconds = time.perf_counter() - started
    if result.flagged:
        logger.info("sla sweep: %s", result.summary())
    return result

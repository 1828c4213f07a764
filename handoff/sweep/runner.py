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
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.bulksql import insert_rows
from core.roles import SALES_MANAGER
from handoff import clocks
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.notifications.messages import GROUP_LIST_CAP, breached_list_link, link_template
from handoff.notifications.messages import ID_PLACEHOLDER as PLACEHOLDER_ID
from handoff.sweep import render, sql
from handoff.sweep.ladder import (
    LATE_NOTE_AFTER,
    STEPS,
    WEBHOOK_TYPES,
    Ladder,
    Step,
    SweepResult,
    group_breaches_above,
)
from handoff.sweep.rows import DETAIL_FIELDS, Due
from handoff.webhook_events import publish_handoff_events
from leads.services import enqueue_task

logger = logging.getLogger("handoff.sweep")

# pg_try_advisory_lock key of the sweep: any constant no other code uses ("SLASWEEP" in ASCII).
ADVISORY_LOCK_KEY = int.from_bytes(b"SLASWEEP", "big") & 0x7FFF_FFFF_FFFF_FFFF
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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
        self._statements: dict[str, tuple[str, dict[str, Any]]] = {}
        # False: the ladder decides and renders every row in Python (the reference the tests
        # hold the statement's messages equal to).
        self.outbox_in_sql = True

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
            ids, slow, written = self._flag_postgres(step)
        else:
            slow = self.flag_portable(step)
            ids, written = [due.id for due, _ in slow], 0
        if not ids:
            return 0
        getattr(self.result, step.result_field).extend(ids)
        if step.name in WEBHOOK_TYPES:
            publish_handoff_events(WEBHOOK_TYPES[step.name], ids=ids, now=self.now)
        # The rows the statement did not decide (or every row, on SQLite): in Python.
        messages = self.ladder.decide(
            step, [due for due, _ in slow], [event_id for _, event_id in slow]
        )
        # One statement whatever the batch size; a duplicate (event, recipient, kind) fails the
        # batch's transaction rather than notifying twice.
        insert_rows(Notification, messages, skip_conflicts=False)
        self.result.notifications += written + len(messages)
        return len(ids)

    def _statement(self, step: Step) -> tuple[str, dict[str, Any]]:
        """The step's batch statement and its parameters, built once per step."""
        if step.name not in self._statements:
            try:
                if not self.outbox_in_sql:
                    raise ValueError("the ladder renders every message")
                statement, params = sql.flag_sql(step)
                params.update(self.prepare(step))
            except ValueError:  # a template SQL cannot render: the ladder writes every message
                if self.outbox_in_sql:
                    logger.warning("sla sweep: %s messages rendered in Python", step.name)
                statement, params = sql.flag_sql(step, outbox=False)
            params.update(
                now=self.now,
                flagged_at=self.now.isoformat(),
                limit=self.batch_size,
                kind=step.event_kind,
            )
            self._statements[step.name] = (statement, params)
        return self._statements[step.name]

    def prepare(self, step: Step) -> dict[str, Any]:
        """What the statement cannot read itself, as arrays, once per step: the zone of every
        person the due rows may tell (spans of offset and abbreviation, from Python's zoneinfo,
        as the ladder's emails show times) and, for a breach, the working intervals of each
        calendar a late note counts business time on."""
        with connection.cursor() as cursor:
            cursor.execute(sql.recipients_sql(step), {"now": self.now})
            groups = cursor.fetchall()
        people = {pk for rep, manager, _, _ in groups for pk in (rep, manager) if pk is not None}
        people.update(person.pk for person in self.ladder.managers.fallback())
        names = self.ladder.zone_names(people)
        params: dict[str, Any] = {
            "zu_id": list(names),
            "zu_zone": list(names.values()),
            "manager_group": SALES_MANAGER,
            "link": link_template() or "",
            "link_id": str(PLACEHOLDER_ID),
            "late_after": LATE_NOTE_AFTER,
        }
        spans = [
            (name, *span)
            for name in sorted(set(names.values()))
            for span in render.zone_spans(name, self.now.date())
        ]
        for key, column in enumerate(("sp_zone", "sp_lo", "sp_hi", "sp_off", "sp_abbrev")):
            params[column] = [span[key] for span in spans]
        if step.breach:
            params.update(self._calendars(groups))
        if step.name == "breach":
            params.update(
                group_above=group_breaches_above(),
                group_cap=GROUP_LIST_CAP,
                group_kind=Notification.Kind.BREACHES,
                list_link=breached_list_link(),
            )
        return params

    def _calendars(self, groups: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
        """Each late note's calendar (0: none, always open) as (id, first covered us, B(now),
        working day minutes), and its intervals (see render.business_intervals)."""
        earliest: dict[int, dt.datetime] = {}
        for _, _, calendar_id, deadline in groups:
            if self.now - deadline >= LATE_NOTE_AFTER:  # only late notes count business time
                key = calendar_id or 0
                earliest[key] = min(deadline, earliest.get(key, deadline))
        now_us = (self.now - EPOCH) // dt.timedelta(microseconds=1)
        names = ("cal_id", "cal_lo", "cal_now", "cal_day", "iv_cal", "iv_s", "iv_e", "iv_c")
        arrays: dict[str, list[Any]] = {name: [] for name in names}
        for key, lo in earliest.items():
            calendar = self.ladder.calendar(key or None)
            origin, starts, ends, before = render.business_intervals(calendar, lo, self.now)
            i = bisect_right(starts, now_us) - 1
            arrays["cal_id"].append(key)
            arrays["cal_lo"].append(origin)
            arrays["cal_now"].append(before[i] + min(now_us, ends[i]) - starts[i] if i >= 0 else 0)
            arrays["cal_day"].append(clocks.working_day_minutes(calendar))
            arrays["iv_cal"] += [key] * len(starts)
            arrays["iv_s"] += starts
            arrays["iv_e"] += ends
            arrays["iv_c"] += before
        return arrays

    def _flag_postgres(self, step: Step) -> tuple[list[int], list[tuple[Due, int]], int]:
        """(the flagged ids, the rows left to the ladder with their event ids, the messages the
        statement wrote)."""
        statement, params = self._statement(step)
        with connection.cursor() as cursor:
            # No JIT: the statement's cost estimate grows with the batch (its CTEs multiply
            # their guesses) past jit_optimize_above_cost, and compiling it took seconds for a
            # statement that runs in tens of milliseconds. For this transaction only.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        if not rows:
            return [], [], 0
        slow = [(Due.of(sql.DetailRow._make(row[3:])), row[-1]) for row in rows if not row[1]]
        return [row[0] for row in rows], slow, int(rows[0][2])

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

"""The SLA sweep: flags at-risk and breached handoffs, escalates breaches, writes the outbox.

One periodic job, like healthchecks' `sendalerts` loop: beat runs `handoff.tasks.sla_sweep`
every SLA_SWEEP_INTERVAL_SECONDS and operators can run `manage.py sla_sweep`. Each step
(breach, at risk, first-touch breach, first-touch at risk) claims due rows in batches with one
statement, `UPDATE ... WHERE id IN (SELECT ... ORDER BY <deadline> LIMIT n FOR UPDATE SKIP
LOCKED) AND <still unflagged> RETURNING id`, over the partial indexes of open handoffs
(handoff_due_open, handoff_at_risk_open, handoff_first_touch_open), so its cost follows the
due rows, not the open handoffs. In the same short transaction it writes one HandoffEvent per
flagged row, the outbox rows, and the on-breach action (auto-reassign, or escalation to the
manager's queue). So a crash rolls back a whole batch and the next sweep redoes it: every
breach is flagged, evented and notified exactly once.

Breaches are dated at the deadline (`breached_at = due_at`), not when a worker noticed; the
event keeps the moment it was flagged in `payload["flagged_at"]`.

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
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from handoff import sla
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.notifications import ManagerDirectory, notification_rows, outbox_write
from handoff.selectors import handoff_calendar
from handoff.states import Status
from leads.services import enqueue_task

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key of the sweep: any constant no other code uses ("SLASWEEP" in ASCII).
ADVISORY_LOCK_KEY = int.from_bytes(b"SLASWEEP", "big") & 0x7FFF_FFFF_FFFF_FFFF

Kind = HandoffEvent.Kind


@dataclass
class SweepResult:
    """What one sweep did. `ran` is False when another sweep held the lock."""

    now: dt.datetime
    ran: bool = True
    breached: list[int] = field(default_factory=list)
    at_risk: list[int] = field(default_factory=list)
    first_touch_breached: list[int] = field(default_factory=list)
    first_touch_at_risk: list[int] = field(default_factory=list)
    # (breached handoff, the new attempt it was reassigned as)
    reassigned: list[tuple[int, int]] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    notifications: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def flagged(self) -> int:
        return (
            len(self.breached)
            + len(self.at_risk)
            + len(self.first_touch_breached)
            + len(self.first_touch_at_risk)
        )

    def summary(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "breached": len(self.breached),
            "at_risk": len(self.at_risk),
            "first_touch_breached": len(self.first_touch_breached),
            "first_touch_at_risk": len(self.first_touch_at_risk),
            "reassigned": len(self.reassigned),
            "escalated": len(self.escalated),
            "notifications": self.notifications,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Step:
    """One rung of the ladder: which rows are due, what flags them, what it records."""

    name: str
    event_kind: str
    status: str
    # Still unflagged: the row is due for this step while all of these hold.
    unflagged_sql: str
    deadline: str  # the column compared with now; the partial index's key
    set_sql: str  # %(now)s is the sweep's now
    event_at: str  # the event is dated at this column (the deadline or the at-risk moment)
    result_field: str


_T = Handoff._meta.db_table

STEPS: tuple[_Step, ...] = (
    # Breaches first: a row both at risk and overdue (a worker was down) is told once, as a
    # breach, since the at-risk step skips breached rows.
    _Step(
        name="breach",
        event_kind=Kind.BREACHED,
        status=Status.PENDING,
        unflagged_sql="breached_at IS NULL",
        deadline="due_at",
        set_sql="breached_at = due_at",
        event_at="due_at",
        result_field="breached",
    ),
    _Step(
        name="at_risk",
        event_kind=Kind.AT_RISK,
        status=Status.PENDING,
        unflagged_sql="at_risk_flagged_at IS NULL AND breached_at IS NULL",
        deadline="at_risk_at",
        set_sql="at_risk_flagged_at = %(now)s",
        event_at="at_risk_at",
        result_field="at_risk",
    ),
    _Step(
        name="first_touch_breach",
        event_kind=Kind.FIRST_TOUCH_BREACHED,
        status=Status.ACCEPTED,
        unflagged_sql="first_touch_at IS NULL AND first_touch_breached_at IS NULL",
        deadline="first_touch_due_at",
        set_sql="first_touch_breached_at = first_touch_due_at",
        event_at="first_touch_due_at",
        result_field="first_touch_breached",
    ),
    _Step(
        name="first_touch_at_risk",
        event_kind=Kind.FIRST_TOUCH_AT_RISK,
        status=Status.ACCEPTED,
        unflagged_sql=(
            "first_touch_at IS NULL AND first_touch_breached_at IS NULL"
            " AND first_touch_at_risk_flagged_at IS NULL"
        ),
        deadline="first_touch_at_risk_at",
        set_sql="first_touch_at_risk_flagged_at = %(now)s",
        event_at="first_touch_at_risk_at",
        result_field="first_touch_at_risk",
    ),
)

# What the sweep reads of a flagged row (and its lead, rep, team manager and calendar) to write
# events and messages: the big JSON snapshots stay in the table.
_DETAIL_FIELDS = (
    "id", "status", "attempt", "due_at", "at_risk_at", "breached_at", "first_touch_due_at",
    "first_touch_at_risk_at", "first_touch_breached_at", "policy_snapshot", "score_snapshot",
    "context_note", "assigned_to_id", "team_id", "calendar_id", "lead_id",
    "lead__first_name", "lead__last_name", "lead__email", "lead__company", "lead__domain",
    "assigned_to__username", "assigned_to__first_name", "assigned_to__last_name",
    "assigned_to__email", "assigned_to__is_active",
    "team__manager_id", "team__manager__username", "team__manager__first_name",
    "team__manager__last_name", "team__manager__email", "team__manager__is_active",
    "calendar__timezone",
)  # fmt: skip


def _claim_sql(step: _Step, *, skip_locked: bool) -> str:
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    # A literal, not a parameter, so the planner can match the partial index's predicate even
    # with a generic (server-side prepared) plan. It is one of our own Status values.
    status = f"status = '{Status(step.status).value}'"
    # The claim is a MATERIALIZED CTE, run once. As `WHERE id IN (SELECT ... LIMIT n FOR
    # UPDATE SKIP LOCKED)` PostgreSQL may re-run the subquery per outer row, each run skipping
    # the rows this very statement just updated and taking the next n: the whole table in one
    # batch. The status and the unflagged test are repeated in the outer WHERE: on SQLite (no
    # row locks) that conditional update is what keeps a concurrent second run from flagging
    # anything twice.
    return (
        f"WITH claimed AS MATERIALIZED (SELECT id FROM {_T} WHERE {status}"
        f" AND {step.unflagged_sql} AND {step.deadline} <= %(now)s"
        f" ORDER BY {step.deadline}, id LIMIT %(limit)s{lock}) "
        f"UPDATE {_T} SET {step.set_sql}, updated_at = %(now)s FROM claimed"
        f" WHERE {_T}.id = claimed.id AND {status} AND {step.unflagged_sql}"
        f" RETURNING {_T}.id"
    )


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
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


class _Sweep:
    def __init__(self, *, now: dt.datetime, batch_size: int) -> None:
        self.now = now
        self.batch_size = batch_size
        self.result = SweepResult(now=now)
        self.managers = ManagerDirectory()
        self.skip_locked = bool(connection.features.has_select_for_update_skip_locked)

    def run(self) -> None:
        for step in STEPS:
            while True:
                with transaction.atomic():
                    claimed = self._batch(step)
                self.result.batches += 1
                # Fewer than a batch: nothing else is due (or the rest is locked by a
                # transition in flight, which either settles it or leaves it to the next run).
                if claimed < self.batch_size:
                    break

    def _batch(self, step: _Step) -> int:
        now = self.now
        with connection.cursor() as cursor:
            cursor.execute(
                _claim_sql(step, skip_locked=self.skip_locked),
                {"now": now, "limit": self.batch_size},
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        rows = list(
            Handoff.objects.filter(pk__in=ids)
            .select_related("lead", "assigned_to", "team__manager", "calendar")
            .only(*_DETAIL_FIELDS)
            .order_by(step.deadline, "id")
        )
        events = HandoffEvent.objects.bulk_create([self._event(step, handoff) for handoff in rows])
        getattr(self.result, step.result_field).extend(h.pk for h in rows)
        if step.name == "breach":
            messages = self._breach_actions(rows, events)
        else:
            messages = self._messages(step, rows, events)
        outbox_write(messages, send=False)
        self.result.notifications += len(messages)
        return len(ids)

    def _event(self, step: _Step, handoff: Handoff) -> HandoffEvent:
        at = getattr(handoff, step.event_at)
        payload: dict[str, Any] = {
            "flagged_at": self.now.isoformat(),
            "deadline": at.isoformat(),
            "rep_id": handoff.assigned_to_id,
            "attempt": handoff.attempt,
        }
        if step.name in ("breach", "first_touch_breach"):
            payload["late_by_seconds"] = round((self.now - at).total_seconds(), 3)
        else:
            due = handoff.due_at if step.name == "at_risk" else handoff.first_touch_due_at
            payload["due_at"] = due.isoformat() if due else None
        return HandoffEvent(
            handoff=handoff,
            kind=step.event_kind,
            at=at,
            reason="sla_sweep",
            payload=payload,
        )

    def _messages(
        self, step: _Step, rows: list[Handoff], events: list[HandoffEvent]
    ) -> list[Notification]:
        now = self.now
        messages: list[Notification] = []
        for handoff, event in zip(rows, events, strict=True):
            if step.name == "first_touch_breach":
                if not _policy(handoff).get("notify_manager_on_breach", True):
                    continue
                recipients = self.managers.for_handoff(handoff)
            else:
                # A reminder goes to the rep; a handoff nobody holds reminds its managers.
                rep = handoff.assigned_to if handoff.assigned_to_id else None
                if rep is not None and rep.is_active:
                    recipients = [rep]
                else:
                    recipients = self.managers.for_handoff(handoff)
            messages += notification_rows(
                kind=step.event_kind, handoff=handoff, recipients=recipients, event=event, now=now
            )
        return messages

    def _breach_actions(
        self, rows: list[Handoff], events: list[HandoffEvent]
    ) -> list[Notification]:
        """The policy's on-breach action, per row, inside the batch's transaction: flagged,
        reassigned or escalated, and told, together or not at all."""
        now = self.now
        messages: list[Notification] = []
        for handoff, event in zip(rows, events, strict=True):
            policy = _policy(handoff)
            managers = self.managers.for_handoff(handoff)
            if policy.get("reassign_on_breach"):
                limit = int(policy.get("max_reassignments", 0) or 0)
                # attempt 1 is the first handoff: attempt - 1 reassignments happened in this
                # chain so far, manual ones included.
                if handoff.attempt - 1 < limit:
                    new = self._reassign(handoff)
                    if new is not None:
                        self.result.reassigned.append((handoff.pk, new.pk))
                        if policy.get("notify_manager_on_breach", True):
                            to = _person(new.assigned_to) if new.assigned_to_id else "nobody"
                            messages += notification_rows(
                                kind=Notification.Kind.BREACHED,
                                handoff=handoff,
                                recipients=managers,
                                event=event,
                                now=now,
                                message=f"Reassigned automatically to {to} "
                                f"(attempt {new.attempt} of at most {limit + 1}).",
                            )
                        continue
                    reason = "reassign_failed"
                else:
                    reason = "max_reassignments"
                escalation = self._escalate(handoff, reason=reason, limit=limit)
                if escalation is not None:
                    messages += notification_rows(
                        kind=Notification.Kind.UNASSIGNED,
                        handoff=handoff,
                        recipients=managers,
                        event=escalation,
                        now=now,
                        message=(
                            f"Its SLA was breached at {_iso(handoff.due_at)} after "
                            f"{handoff.attempt - 1} automatic or manual reassignment(s) "
                            f"(at most {limit}); it now waits in your queue."
                            if reason == "max_reassignments"
                            else "Its SLA was breached and no rep could take it over."
                        ),
                    )
                    continue
            if policy.get("notify_manager_on_breach", True):
                messages += notification_rows(
                    kind=Notification.Kind.BREACHED,
                    handoff=handoff,
                    recipients=managers,
                    event=event,
                    now=now,
                )
        return messages

    def _reassign(self, handoff: Handoff) -> Handoff | None:
        from handoff.services import handoff_reassign

        fresh = Handoff.objects.select_related("lead", "team", "policy", "calendar").get(
            pk=handoff.pk
        )
        try:
            # A savepoint: a refused reassignment leaves the breach flagged and escalates.
            with transaction.atomic():
                return handoff_reassign(
                    handoff=fresh, automatic=True, reason="sla_breach", now=self.now
                )
        except Exception:
            logger.exception("auto-reassign of handoff %s failed; escalating", handoff.pk)
            return None

    def _escalate(self, handoff: Handoff, *, reason: str, limit: int) -> HandoffEvent | None:
        """Move the breached handoff to the manager's queue (nobody assigned), with an event."""
        moved = Handoff.objects.filter(pk=handoff.pk, status=Status.PENDING).update(
            assigned_to=None, updated_at=self.now
        )
        if not moved:
            return None
        self.result.escalated.append(handoff.pk)
        return HandoffEvent.objects.create(
            handoff_id=handoff.pk,
            kind=Kind.ESCALATED,
            from_status=Status.PENDING,
            to_status=Status.PENDING,
            reason=reason,
            at=self.now,
            payload={
                "from_rep_id": handoff.assigned_to_id,
                "reassignments": handoff.attempt - 1,
                "max_reassignments": limit,
                "flagged_at": self.now.isoformat(),
            },
        )


def _policy(handoff: Handoff) -> dict[str, Any]:
    return handoff.policy_snapshot if isinstance(handoff.policy_snapshot, dict) else {}


def _person(user: Any) -> str:
    return (user.get_full_name() or user.username) if user is not None else "nobody"


def _iso(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def sla_sweep(*, now: dt.datetime | None = None, batch_size: int | None = None) -> SweepResult:
    """Run the escalation ladder once over every handoff that is due at `now`.

    Idempotent: a second run at the same `now` changes nothing. Returns what it flagged; with
    `ran` False when another sweep was already running (PostgreSQL).
    """
    started = time.perf_counter()
    now = now or timezone.now()
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


# --- late by ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LateBy:
    """How late an answer is (or was): wall time and business minutes past the deadline."""

    wall: dt.timedelta
    business_minutes: float

    @property
    def label(self) -> str:
        return f"late by {_span(self.wall.total_seconds() / 60)} ({_span(self.business_minutes)} business)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall.total_seconds(), 1),
            "business_minutes": round(self.business_minutes, 2),
            "label": self.label,
        }


def _span(minutes: float) -> str:
    hours, mins = divmod(round(abs(minutes)), 60)
    if hours >= 72:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def late_by(*, due_at: dt.datetime, until: dt.datetime, calendar: sla.Calendar) -> LateBy | None:
    """Model-free: how far `until` is past `due_at`; None when it is not past."""
    if until <= due_at:
        return None
    return LateBy(
        wall=until - due_at, business_minutes=sla.business_minutes_between(due_at, until, calendar)
    )


def handoff_late_by(handoff: Handoff, *, now: dt.datetime | None = None) -> LateBy | None:
    """How late the accept-or-return answer is (still pending) or was (answered, reassigned or
    escalated after the deadline); None when it was not late."""
    if handoff.due_at is None:
        return None
    until: dt.datetime | None
    if handoff.status == Status.PENDING:
        until = now or timezone.now()
    elif handoff.status == Status.WAITING:
        # The clock is paused: the lateness stopped growing when marketing was asked.
        until = handoff.paused_at or now or timezone.now()
    else:
        until = handoff.responded_at or handoff.accepted_at or handoff.closed_at
    if until is None:
        return None
    return _late(handoff, handoff.due_at, until)


def handoff_first_touch_late_by(
    handoff: Handoff, *, now: dt.datetime | None = None
) -> LateBy | None:
    """How late the first contact is (accepted, none logged yet) or was; None when on time."""
    if handoff.first_touch_due_at is None:
        return None
    until = handoff.first_touch_at
    if until is None:
        if handoff.status != Status.ACCEPTED:
            return None
        until = now or timezone.now()
    return _late(handoff, handoff.first_touch_due_at, until)


def _late(handoff: Handoff, due_at: dt.datetime, until: dt.datetime) -> LateBy | None:
    if until <= due_at:
        return None
    return late_by(due_at=due_at, until=until, calendar=handoff_calendar(handoff))

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
import functools
import json
import logging
import time
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.bulksql import insert_rows
from handoff import clocks, sla
from handoff.models import BusinessCalendar, Handoff, HandoffEvent, Notification, Team
from handoff.notifications import (
    About,
    ManagerDirectory,
    Person,
    message_values,
    when_in,
    zone_named,
)
from handoff.selectors import ALWAYS_OPEN, calendar_for, handoff_calendar
from handoff.states import Status
from handoff.timezones import ZoneBook
from handoff.webhook_events import publish_handoff_events
from leads.models import Lead
from leads.services import enqueue_task

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key of the sweep: any constant no other code uses ("SLASWEEP" in ASCII).
ADVISORY_LOCK_KEY = int.from_bytes(b"SLASWEEP", "big") & 0x7FFF_FFFF_FFFF_FFFF

Kind = HandoffEvent.Kind
# The sweep's steps that the outside world hears of (webhooks, team chat).
WEBHOOK_TYPES = {"breach": "handoff.breached", "at_risk": "handoff.at_risk"}


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
    breach: bool  # a breach records how late it was flagged; a warning, the deadline ahead
    due_field: str  # the deadline this step is about


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
        breach=True,
        due_field="due_at",
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
        breach=False,
        due_field="due_at",
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
        breach=True,
        due_field="first_touch_due_at",
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
        breach=False,
        due_field="first_touch_due_at",
    ),
)

# A breach flagged this long after its deadline says how late it is in its message.
LATE_NOTE_AFTER = dt.timedelta(hours=1)

# What the sweep reads of each flagged row, its lead, rep, team manager and calendar, as plain
# tuples (no model instances: the sweep handles thousands per run).
_DETAIL_FIELDS = (
    "id", "attempt", "due_at", "at_risk_at", "first_touch_due_at", "first_touch_at_risk_at",
    "policy_snapshot", "score_snapshot", "context_note", "assigned_to_id",
    "lead__first_name", "lead__last_name", "lead__email", "lead__company", "lead__domain",
    "assigned_to__email", "assigned_to__username", "assigned_to__first_name",
    "assigned_to__last_name", "assigned_to__is_active",
    "team__manager_id", "team__manager__email", "team__manager__username",
    "team__manager__first_name", "team__manager__last_name", "team__manager__is_active",
    "calendar__timezone", "calendar_id", "team__calendar_id",
)  # fmt: skip


@dataclass(slots=True)
class _Due:
    """One flagged handoff, as the sweep needs it."""

    id: int
    attempt: int
    due_at: dt.datetime | None
    at_risk_at: dt.datetime | None
    first_touch_due_at: dt.datetime | None
    first_touch_at_risk_at: dt.datetime | None
    policy: dict[str, Any]
    # The calendar its clocks run on (its own, else its team's; None: always open).
    calendar_id: int | None
    rep: Person | None
    manager: Person | None
    about: About

    @classmethod
    def of(cls, row: Any) -> _Due:
        rep = None
        if row.assigned_to_id is not None:
            rep = Person(
                pk=row.assigned_to_id,
                email=row.assigned_to__email or "",
                username=row.assigned_to__username,
                first_name=row.assigned_to__first_name,
                last_name=row.assigned_to__last_name,
                is_active=row.assigned_to__is_active,
            )
        manager = None
        if row.team__manager_id is not None:
            manager = Person(
                pk=row.team__manager_id,
                email=row.team__manager__email or "",
                username=row.team__manager__username,
                first_name=row.team__manager__first_name,
                last_name=row.team__manager__last_name,
                is_active=row.team__manager__is_active,
            )
        name = f"{row.lead__first_name} {row.lead__last_name}".strip()
        return cls(
            id=row.id,
            attempt=row.attempt,
            due_at=row.due_at,
            at_risk_at=row.at_risk_at,
            first_touch_due_at=row.first_touch_due_at,
            first_touch_at_risk_at=row.first_touch_at_risk_at,
            policy=_as_dict(row.policy_snapshot),
            calendar_id=row.calendar_id or row.team__calendar_id,
            rep=rep,
            manager=manager,
            about=About(
                handoff_id=row.id,
                lead=name or row.lead__email,
                company=row.lead__company or row.lead__domain,
                score=row.score_snapshot,
                attempt=row.attempt,
                due_at=row.due_at,
                first_touch_due_at=row.first_touch_due_at,
                rep=rep.display if rep is not None else "",
                context_note=row.context_note,
                zone=zone_named(row.calendar__timezone or ""),
            ),
        )


def _as_dict(value: Any) -> dict[str, Any]:
    # Django has psycopg hand jsonb over as text (JSONField parses it); raw queries see that.
    if isinstance(value, str):
        return _parsed(value)
    return value if isinstance(value, dict) else {}


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> dict[str, Any]:
    # Policy snapshots repeat across thousands of handoffs: parse each distinct one once.
    # (Callers only read the dict.)
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


_DetailRow = namedtuple("_DetailRow", [*_DETAIL_FIELDS, "event_id"])  # type: ignore[misc]


def _flag_sql_postgres(step: _Step) -> tuple[str, dict[str, Any]]:
    """One statement per batch on PostgreSQL: claim (SKIP LOCKED), flag, write the events, and
    return each flagged row with its lead, rep, team manager, calendar zone and event id.

    The set-based twin of the portable path in _Sweep._flag_portable (same rows, same events,
    same payloads); the tests run both.
    """
    user = get_user_model()._meta.db_table
    lead = Lead._meta.db_table
    team = Team._meta.db_table
    calendar = BusinessCalendar._meta.db_table
    status = f"status = '{Status(step.status).value}'"
    payload = (
        "jsonb_build_object('flagged_at', %(flagged_at)s::text, "
        f"'deadline', f.{step.event_at}, 'rep_id', f.assigned_to_id, 'attempt', f.attempt, "
        + (
            f"'late_by_seconds', round(extract(epoch FROM %(now)s - f.{step.event_at})::numeric, 3))"
            if step.breach
            else f"'due_at', f.{step.due_field})"
        )
    )
    explicit = {
        "handoff_id": "f.id",
        "kind": "%(kind)s",
        "at": f"f.{step.event_at}",
        "reason": "'sla_sweep'",
        "payload": payload,
    }
    params: dict[str, Any] = {}
    columns, exprs = [], []
    for column in HandoffEvent._meta.concrete_fields:
        if column.primary_key:
            continue
        columns.append(connection.ops.quote_name(column.column or column.attname))
        if column.attname in explicit:
            exprs.append(explicit[column.attname])
        elif column.null and not column.has_default():
            exprs.append("NULL")
        else:
            key = f"default_{column.attname}"
            params[key] = column.get_db_prep_save(column.get_default(), connection)
            exprs.append(f"%({key})s")
    returned = (
        "id", "attempt", "due_at", "at_risk_at", "first_touch_due_at", "first_touch_at_risk_at",
        "policy_snapshot", "score_snapshot", "context_note", "assigned_to_id", "lead_id",
        "team_id", "calendar_id",
    )  # fmt: skip
    sql = (
        f"WITH claimed AS MATERIALIZED (SELECT id FROM {_T} WHERE {status}"
        f" AND {step.unflagged_sql} AND {step.deadline} <= %(now)s"
        f" ORDER BY {step.deadline}, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED), "
        f"f AS (UPDATE {_T} SET {step.set_sql}, updated_at = %(now)s FROM claimed"
        f" WHERE {_T}.id = claimed.id AND {status} AND {step.unflagged_sql}"
        f" RETURNING {', '.join(f'{_T}.{c}' for c in returned)}), "
        f"e AS (INSERT INTO {HandoffEvent._meta.db_table} ({', '.join(columns)})"
        f" SELECT {', '.join(exprs)} FROM f RETURNING id, handoff_id) "
        "SELECT f.id, f.attempt, f.due_at, f.at_risk_at, f.first_touch_due_at,"
        " f.first_touch_at_risk_at, f.policy_snapshot, f.score_snapshot, f.context_note,"
        " f.assigned_to_id, l.first_name, l.last_name, l.email, l.company, l.domain,"
        " u.email, u.username, u.first_name, u.last_name, u.is_active,"
        " t.manager_id, m.email, m.username, m.first_name, m.last_name, m.is_active,"
        " c.timezone, f.calendar_id, t.calendar_id, e.id "
        f"FROM f JOIN e ON e.handoff_id = f.id JOIN {lead} l ON l.id = f.lead_id"
        f" LEFT JOIN {user} u ON u.id = f.assigned_to_id"
        f" LEFT JOIN {team} t ON t.id = f.team_id LEFT JOIN {user} m ON m.id = t.manager_id"
        f" LEFT JOIN {calendar} c ON c.id = f.calendar_id"
        f" ORDER BY f.{step.deadline}, f.id"
    )
    return sql, params


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


def _probe_sql(step: _Step) -> str:
    status = f"status = '{Status(step.status).value}'"
    return (
        f"SELECT 1 FROM {_T} WHERE {status} AND {step.unflagged_sql}"
        f" AND {step.deadline} <= %(now)s LIMIT 1"
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
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
            except DatabaseError:
                # The session is gone (and the lock with it), or the outer transaction is
                # aborted: close the connection so the lock cannot outlive this run.
                logger.warning("could not release the sweep lock; closing the connection")
                connection.close()


class _Sweep:
    def __init__(self, *, now: dt.datetime, batch_size: int) -> None:
        self.now = now
        self.batch_size = batch_size
        self.result = SweepResult(now=now)
        self.managers = ManagerDirectory()
        self.zones = ZoneBook()  # recipients' time zones, looked up once per run
        self.skip_locked = bool(connection.features.has_select_for_update_skip_locked)
        self._calendars: dict[int, sla.Calendar] = {}

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

    def _has_due(self, step: _Step) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(_probe_sql(step), {"now": self.now})
            return cursor.fetchone() is not None

    def _batch(self, step: _Step) -> int:
        if connection.vendor == "postgresql":
            flagged = self._flag_postgres(step)
        else:
            flagged = self._flag_portable(step)
        if not flagged:
            return 0
        rows = [due for due, _ in flagged]
        event_ids = [event_id for _, event_id in flagged]
        getattr(self.result, step.result_field).extend(due.id for due in rows)
        if step.name in WEBHOOK_TYPES:
            publish_handoff_events(
                WEBHOOK_TYPES[step.name], ids=[due.id for due in rows], now=self.now
            )
        if step.name == "breach":
            messages = self._breach_actions(rows, event_ids)
        else:
            messages = self._messages(step, rows, event_ids)
        # One statement whatever the batch size; a duplicate (event, recipient, kind) fails the
        # batch's transaction rather than notifying twice.
        insert_rows(Notification, messages, skip_conflicts=False)
        self.result.notifications += len(messages)
        return len(rows)

    def _flag_postgres(self, step: _Step) -> list[tuple[_Due, int]]:
        sql, params = _flag_sql_postgres(step)
        params.update(
            now=self.now,
            flagged_at=self.now.isoformat(),
            limit=self.batch_size,
            kind=step.event_kind,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(_Due.of(_DetailRow._make(row)), row[-1]) for row in cursor.fetchall()]

    def _flag_portable(self, step: _Step) -> list[tuple[_Due, int]]:
        """Claim and flag with one conditional UPDATE ... RETURNING, then read the details and
        insert the events: three statements, for SQLite (or any backend without the above)."""
        with connection.cursor() as cursor:
            cursor.execute(
                _claim_sql(step, skip_locked=self.skip_locked),
                {"now": self.now, "limit": self.batch_size},
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        rows = [
            _Due.of(row)
            for row in Handoff.objects.filter(pk__in=ids)
            .order_by(step.deadline, "id")
            .values_list(*_DETAIL_FIELDS, named=True)
        ]
        # One event per flagged row: matched back by handoff, not by the order of RETURNING.
        event_ids = dict(
            (handoff_id, pk)
            for pk, handoff_id in insert_rows(
                HandoffEvent,
                [self._event(step, due) for due in rows],
                returning=("id", "handoff_id"),
                skip_conflicts=False,
            )
        )
        return [(due, event_ids[due.id]) for due in rows]

    def _event(self, step: _Step, due: _Due) -> dict[str, Any]:
        at = getattr(due, step.event_at)
        payload: dict[str, Any] = {
            "flagged_at": self.now.isoformat(),
            "deadline": at.isoformat(),
            "rep_id": due.rep.pk if due.rep is not None else None,
            "attempt": due.attempt,
        }
        if step.breach:
            payload["late_by_seconds"] = round((self.now - at).total_seconds(), 3)
        else:
            deadline = getattr(due, step.due_field)
            payload["due_at"] = deadline.isoformat() if deadline else None
        return {
            "handoff_id": due.id,
            "kind": step.event_kind,
            "at": at,
            "reason": "sla_sweep",
            "payload": payload,
        }

    def _managers(self, due: _Due) -> list[Person]:
        return self.managers.team_manager_or_fallback(due.manager)

    def _messages(
        self, step: _Step, rows: list[_Due], event_ids: list[int]
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        for due, event_id in zip(rows, event_ids, strict=True):
            if step.name == "first_touch_breach":
                if not due.policy.get("notify_manager_on_breach", True):
                    continue
                recipients = self._managers(due)
            elif due.rep is not None and due.rep.is_active:
                recipients = [due.rep]
            else:
                # A reminder for a handoff nobody holds goes to its managers.
                recipients = self._managers(due)
            messages += message_values(
                zones=self.zones,
                kind=step.event_kind,
                about=due.about,
                recipients=recipients,
                event_id=event_id,
                now=self.now,
                message=self._late_note(step, due),
            )
        return messages

    def _late_note(self, step: _Step, due: _Due) -> str:
        """For a breach flagged well after its deadline (the worker was down), how late it is,
        in the words the pages use (handoff.clocks). A breach flagged on time says nothing more:
        its deadline is in the message already. One query, for late flags only."""
        return self._late_note_at(due, getattr(due, step.event_at)) if step.breach else ""

    def _late_note_at(self, due: _Due, at: dt.datetime | None) -> str:
        if at is None or self.now - at < LATE_NOTE_AFTER:
            return ""
        late = late_by(due_at=at, until=self.now, calendar=self._calendar(due.calendar_id))
        return f"It is {late.label} now." if late is not None else ""

    def _calendar(self, calendar_id: int | None) -> sla.Calendar:
        """The business calendar of that id, read once per run (a late sweep after an outage
        writes thousands of late notes, mostly on a handful of calendars)."""
        if calendar_id is None:
            return ALWAYS_OPEN
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            calendar = calendar_for(BusinessCalendar.objects.get(pk=calendar_id))
            self._calendars[calendar_id] = calendar
        return calendar

    def _breach_actions(self, rows: list[_Due], event_ids: list[int]) -> list[dict[str, Any]]:
        """The policy's on-breach action, per row, inside the batch's transaction: flagged,
        reassigned or escalated, and told, together or not at all."""
        now = self.now
        messages: list[dict[str, Any]] = []
        for due, event_id in zip(rows, event_ids, strict=True):
            policy = due.policy
            managers = self._managers(due)
            late = self._late_note_at(due, due.due_at)
            notify_managers = policy.get("notify_manager_on_breach", True)
            if policy.get("reassign_on_breach"):
                limit = int(policy.get("max_reassignments", 0) or 0)
                # attempt 1 is the first handoff: attempt - 1 reassignments happened in this
                # chain so far, manual ones included.
                if due.attempt - 1 < limit:
                    new = self._reassign(due)
                    if new is not None:
                        self.result.reassigned.append((due.id, new.pk))
                        if notify_managers:
                            to = Person.of(new.assigned_to).display if new.assigned_to else "nobody"
                            messages += message_values(
                                zones=self.zones,
                                kind=Notification.Kind.BREACHED,
                                about=due.about,
                                recipients=managers,
                                event_id=event_id,
                                now=now,
                                message=f"Reassigned automatically to {to} "
                                f"(attempt {new.attempt} of at most {limit + 1}). {late}".strip(),
                            )
                        continue
                    reason = "reassign_failed"
                else:
                    reason = "max_reassignments"
                escalation_id = self._escalate(due, reason=reason, limit=limit)
                if escalation_id is not None:
                    messages += message_values(
                        zones=self.zones,
                        kind=Notification.Kind.UNASSIGNED,
                        about=due.about,
                        recipients=managers,
                        event_id=escalation_id,
                        now=now,
                        message=(
                            (
                                f"Its SLA was breached at {when_in(due.due_at, due.about.zone)} "
                                f"after {due.attempt - 1} reassignment(s) (at most {limit}); "
                                "it now waits in your queue."
                                if reason == "max_reassignments"
                                else "Its SLA was breached and no rep could take it over."
                            )
                            + (f" {late}" if late else "")
                        ),
                    )
                    continue
            if notify_managers:
                messages += message_values(
                    zones=self.zones,
                    kind=Notification.Kind.BREACHED,
                    about=due.about,
                    recipients=managers,
                    event_id=event_id,
                    now=now,
                    message=late,
                )
        return messages

    def _reassign(self, due: _Due) -> Handoff | None:
        from handoff.services import handoff_reassign

        fresh = Handoff.objects.select_related(
            "lead", "team__manager", "policy", "calendar", "assigned_to"
        ).get(pk=due.id)
        try:
            # A savepoint: a refused reassignment leaves the breach flagged and escalates.
            with transaction.atomic():
                return handoff_reassign(
                    handoff=fresh, automatic=True, reason="sla_breach", now=self.now
                )
        except Exception:
            logger.exception("auto-reassign of handoff %s failed; escalating", due.id)
            return None

    def _escalate(self, due: _Due, *, reason: str, limit: int) -> int | None:
        """Move the breached handoff to the manager's queue (nobody assigned), with an event."""
        moved = Handoff.objects.filter(pk=due.id, status=Status.PENDING).update(
            assigned_to=None, updated_at=self.now
        )
        if not moved:
            return None
        self.result.escalated.append(due.id)
        event = HandoffEvent.objects.create(
            handoff_id=due.id,
            kind=Kind.ESCALATED,
            from_status=Status.PENDING,
            to_status=Status.PENDING,
            reason=reason,
            at=self.now,
            payload={
                "from_rep_id": due.rep.pk if due.rep is not None else None,
                "reassignments": due.attempt - 1,
                "max_reassignments": limit,
                "flagged_at": self.now.isoformat(),
            },
        )
        return event.pk


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


# --- late by ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LateBy:
    """How late an answer is (or was): wall time and business minutes past the deadline."""

    wall: dt.timedelta
    business_minutes: float

    day_minutes: float = 24 * 60.0

    @property
    def label(self) -> str:
        """The same words as the pages (handoff.clocks): "late by 3 business days (5 days)"."""
        return clocks.late_words(
            self.business_minutes, self.wall.total_seconds(), self.day_minutes
        ).text

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall.total_seconds(), 1),
            "business_minutes": round(self.business_minutes, 2),
            "label": self.label,
        }


def late_by(*, due_at: dt.datetime, until: dt.datetime, calendar: sla.Calendar) -> LateBy | None:
    """Model-free: how far `until` is past `due_at`; None when it is not past."""
    if until <= due_at:
        return None
    return LateBy(
        wall=until - due_at,
        business_minutes=sla.business_minutes_between(due_at, until, calendar),
        day_minutes=clocks.working_day_minutes(calendar),
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

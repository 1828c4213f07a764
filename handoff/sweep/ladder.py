"""The escalation ladder: its rungs (the sweep's steps), what each flagged handoff is, and what
the sweep decides for it, in Python.

A rung (`Step`) says which rows are due (status, the unflagged test, the deadline column), how
they are flagged and what event records it. `Ladder` decides, per flagged handoff, who is told
and with which words, and carries out the on-breach action of the policy snapshot: reassign to
the next rep, or, after `max_reassignments`, escalate to the manager's queue.

On PostgreSQL the common rows (tell the rep or the managers, with or without a late note) are
decided and written by the batch's one statement (handoff.sweep.sql); this module handles the
rest there (the on-breach actions, a recipient or a time the statement cannot render) and every
row on SQLite. It is the reference the statement is tested against.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from handoff import sla
from handoff.models import BusinessCalendar, Handoff, HandoffEvent, Notification
from handoff.notifications import (
    ManagerDirectory,
    Person,
    breaches_values,
    message_values,
    when_in,
)
from handoff.selectors import ALWAYS_OPEN, calendar_for
from handoff.states import Status
from handoff.sweep.lateness import late_by
from handoff.sweep.rows import Due
from handoff.timezones import ZoneBook, zone_names_for

logger = logging.getLogger(__name__)

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
class Step:
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


STEPS: tuple[Step, ...] = (
    # Breaches first: a row both at risk and overdue (a worker was down) is told once, as a
    # breach, since the at-risk step skips breached rows.
    Step(
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
    Step(
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
    Step(
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
    Step(
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

# Storm suppression: a manager told of more than this many breaches by one batch gets one
# grouped alert (Notification.Kind.BREACHES) instead of one message each.
GROUP_BREACHES_ABOVE = 5


def group_breaches_above() -> int:
    """The grouping threshold: settings.SLA_BREACH_GROUP_ABOVE, else GROUP_BREACHES_ABOVE."""
    return int(getattr(settings, "SLA_BREACH_GROUP_ABOVE", GROUP_BREACHES_ABOVE))


class Ladder:
    """The Python half of one sweep run: who is told, with which words, and the on-breach
    actions. Keeps what a run reads once (managers, recipients' zones, business calendars)."""

    def __init__(self, *, now: dt.datetime, result: SweepResult) -> None:
        self.now = now
        self.result = result
        self.managers = ManagerDirectory()
        self.zones = ZoneBook()  # recipients' time zones, looked up once per run
        self._calendars: dict[int, sla.Calendar] = {}
        self._zone_names: dict[int, str] = {}

    def zone_names(self, user_ids: set[int]) -> dict[int, str]:
        """Each person's zone name (handoff.timezones), looked up once per run."""
        missing = [pk for pk in user_ids if pk not in self._zone_names]
        if missing:
            self._zone_names.update(zone_names_for(missing))
        return {pk: self._zone_names[pk] for pk in user_ids}

    def event(self, step: Step, due: Due) -> dict[str, Any]:
        """The step's event of one flagged row, as field values (the statement on PostgreSQL
        writes the same payload)."""
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

    def decide(self, step: Step, rows: list[Due], event_ids: list[int]) -> list[dict[str, Any]]:
        """The outbox rows (field values) of flagged rows, after the on-breach actions."""
        if step.name == "breach":
            return self._breach_actions(rows, event_ids)
        return self._messages(step, rows, event_ids)

    def _managers(self, due: Due) -> list[Person]:
        return self.managers.team_manager_or_fallback(due.manager)

    def _messages(self, step: Step, rows: list[Due], event_ids: list[int]) -> list[dict[str, Any]]:
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

    def _late_note(self, step: Step, due: Due) -> str:
        """For a breach flagged well after its deadline (the worker was down), how late it is,
        in the words the pages use (handoff.clocks). A breach flagged on time says nothing more:
        its deadline is in the message already. One query, for late flags only."""
        return self._late_note_at(due, getattr(due, step.event_at)) if step.breach else ""

    def _late_note_at(self, due: Due, at: dt.datetime | None) -> str:
        if at is None or self.now - at < LATE_NOTE_AFTER:
            return ""
        late = late_by(due_at=at, until=self.now, calendar=self.calendar(due.calendar_id))
        return f"It is {late.label} now." if late is not None else ""

    def calendar(self, calendar_id: int | None) -> sla.Calendar:
        """The business calendar of that id, read once per run (a late sweep after an outage
        writes thousands of late notes, mostly on a handful of calendars)."""
        if calendar_id is None:
            return ALWAYS_OPEN
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            calendar = calendar_for(BusinessCalendar.objects.get(pk=calendar_id))
            self._calendars[calendar_id] = calendar
        return calendar

    def _breach_actions(self, rows: list[Due], event_ids: list[int]) -> list[dict[str, Any]]:
        """The policy's on-breach action, per row, inside the batch's transaction: flagged,
        reassigned or escalated, and told, together or not at all."""
        now = self.now
        messages: list[dict[str, Any]] = []
        plain: list[tuple[Due, int, list[Person], str]] = []
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
                plain.append((due, event_id, managers, late))
        return messages + self._breach_alerts(plain)

    def _breach_alerts(
        self, plain: list[tuple[Due, int, list[Person], str]]
    ) -> list[dict[str, Any]]:
        """The batch's plain breach messages (no on-breach action): one per handoff and
        manager, except that a manager told of more than group_breaches_above() of them gets
        one grouped alert listing them (in the batch's deadline order) instead."""
        told: dict[int, list[Due]] = {}
        people: dict[int, Person] = {}
        for due, _, managers, _ in plain:
            for person in managers:
                if not person.email:
                    continue
                people[person.pk] = person
                rows = told.setdefault(person.pk, [])
                if not rows or rows[-1] is not due:
                    rows.append(due)
        above = group_breaches_above()
        grouped = {pk for pk, rows in told.items() if len(rows) > above}
        messages: list[dict[str, Any]] = []
        for due, event_id, managers, late in plain:
            messages += message_values(
                zones=self.zones,
                kind=Notification.Kind.BREACHED,
                about=due.about,
                recipients=[p for p in managers if p.pk not in grouped],
                event_id=event_id,
                now=self.now,
                message=late,
            )
        for pk in grouped:
            messages.append(
                breaches_values(
                    recipient=people[pk],
                    items=[due.about for due in told[pk]],
                    now=self.now,
                    zones=self.zones,
                )
            )
        return messages

    def _reassign(self, due: Due) -> Handoff | None:
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

    def _escalate(self, due: Due, *, reason: str, limit: int) -> int | None:
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

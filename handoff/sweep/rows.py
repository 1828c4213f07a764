"""A flagged handoff as the sweep reads it: its deadlines and policy, its lead, rep, team
manager and calendar, flattened from one row (`Due.of`), never as model instances (a sweep
handles thousands at a time)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any

from handoff.notifications import About, Person, zone_named

# What the sweep reads of each flagged row, its lead, rep, team manager and calendar, as plain
# tuples (no model instances: the sweep handles thousands per run).
DETAIL_FIELDS = (
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
class Due:
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
    def of(cls, row: Any) -> Due:
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

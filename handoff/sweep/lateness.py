"""How late an answer is or was: wall time and business minutes of the handoff's calendar.

`late_by(due_at=, until=, calendar=)` is the model-free form; `handoff_late_by` and
`handoff_first_touch_late_by` read a handoff. The words are handoff.clocks' ("late by 3
business days (5 days)"), the same as the pages'. The sweep's late notes say the same thing,
rendered in SQL on PostgreSQL (handoff.sweep.words).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from handoff import clocks, sla
from handoff.models import Handoff
from handoff.selectors import handoff_calendar
from handoff.states import Status


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

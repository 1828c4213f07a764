"""How late a handoff's answer is or was: `handoff_late_by` and `handoff_first_touch_late_by`
read a handoff and its calendar; the computation and the words ("late by 3 business days
(5 days)") are handoff.clocks' (`LateBy`, `late_by`), the same as the pages'. The sweep's late
notes say the same thing, rendered in SQL on PostgreSQL (handoff.sweep.render).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from handoff import clocks
from handoff.clocks import LateBy, late_by
from handoff.models import Handoff
from handoff.selectors import handoff_calendar

__all__ = ["LateBy", "handoff_first_touch_late_by", "handoff_late_by", "late_by"]


def handoff_late_by(handoff: Handoff, *, now: dt.datetime | None = None) -> LateBy | None:
    """How late the accept-or-return answer is (still pending) or was (answered, reassigned or
    escalated after the deadline); None when it was not late."""
    if handoff.due_at is None:
        return None
    until = clocks.accept_late_until(
        status=handoff.status,
        paused_at=handoff.paused_at,
        answered_at=handoff.responded_at or handoff.accepted_at or handoff.closed_at,
        now=now or timezone.now(),
    )
    return _late(handoff, handoff.due_at, until)


def handoff_first_touch_late_by(
    handoff: Handoff, *, now: dt.datetime | None = None
) -> LateBy | None:
    """How late the first contact is (accepted, none logged yet) or was; None when on time."""
    if handoff.first_touch_due_at is None:
        return None
    until = clocks.first_touch_late_until(
        status=handoff.status, touched_at=handoff.first_touch_at, now=now or timezone.now()
    )
    return _late(handoff, handoff.first_touch_due_at, until)


def _late(handoff: Handoff, due_at: dt.datetime, until: dt.datetime | None) -> LateBy | None:
    if until is None or until <= due_at:
        return None
    return late_by(due_at=due_at, until=until, calendar=handoff_calendar(handoff))

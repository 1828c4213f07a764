"""What the pages show of a handoff, shared by the lead, queue and handoff pages: an SLA clock
as a template needs it (colour, label, the ticking script's numbers), a queue row, a score
breakdown grouped for display, and a person's name."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from handoff import selectors, sla
from handoff.models import Handoff
from handoff.views.support import seen_token


@dataclass(frozen=True)
class ClockView:
    """One SLA clock ready for a template: its colour, its label, and what the ticking script
    needs (business seconds left, and whether business time is passing right now)."""

    kind: str  # "accept" or "first_touch"
    state: str  # running / paused / met / missed / none
    tone: str  # ok / at-risk / late / paused / met / missed / none
    label: str  # business time: "3h 20m left", "late by 33 business days"
    wall: str  # the wall time beside it, or "" ("7 weeks")
    hours: bool  # the label is in hours and minutes: the ticking script may count it down
    business_seconds: float | None
    ticking: bool
    due_local: dt.datetime | None
    zone: str

    @property
    def is_live(self) -> bool:
        return self.state in ("running", "paused")

    @property
    def text(self) -> str:
        return f"{self.label} ({self.wall})" if self.wall else self.label


def zone_of(handoff: Handoff) -> str:
    snap = handoff.policy_snapshot or {}
    if snap.get("timezone"):
        return str(snap["timezone"])
    calendar = handoff.calendar or (handoff.team.calendar if handoff.team else None)
    return calendar.timezone if calendar is not None else "UTC"


def local_time(moment: dt.datetime | None, zone: str) -> dt.datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        return moment


def clock_view(handoff: Handoff, *, now: dt.datetime, kind: str = "accept") -> ClockView:
    if kind == "accept":
        clock = selectors.accept_clock(handoff, now=now)
        risk_at = handoff.at_risk_at
    else:
        clock = selectors.first_touch_clock(handoff, now=now)
        risk_at = handoff.first_touch_at_risk_at
    zone = zone_of(handoff)
    ticking = False
    if clock.state == "running":
        ticking = sla.is_business_time(now, selectors.handoff_calendar(handoff))
        if clock.late:
            tone = "late"
        elif risk_at is not None and now >= risk_at:
            tone = "at-risk"
        else:
            tone = "ok"
    elif clock.state == "paused":
        tone = "paused"
    else:
        tone = clock.state
    minutes = clock.business_minutes_left
    words = selectors.clock_words(clock)
    return ClockView(
        kind=kind,
        state=clock.state,
        tone=tone,
        label=words.main,
        wall=words.wall,
        hours=words.hours,
        business_seconds=round(minutes * 60, 1) if minutes is not None else None,
        ticking=ticking,
        due_local=local_time(clock.due_at, zone),
        zone=zone,
    )


@dataclass
class Row:
    handoff: Handoff
    clock: ClockView
    seen: str
    why: list[str] | None = None  # the manager's queue: why nobody has it
    next_rep: dict[str, Any] | None = None  # ... and what "Next in rotation" would do now


def rows_for(handoffs: Any, *, now: dt.datetime, kind: str = "accept") -> list[Row]:
    return [Row(h, clock_view(h, now=now, kind=kind), seen_token(h)) for h in handoffs]


def score_breakdown(data: dict[str, Any] | None) -> dict[str, Any]:
    """A score breakdown grouped for display: fit, engagement, intent, each with its items."""
    data = data or {}
    groups: dict[str, list[dict[str, Any]]] = {"fit": [], "engagement": [], "intent": []}
    for item in data.get("items") or []:
        groups.setdefault(str(item.get("category") or "other"), []).append(item)
    return {
        "total": data.get("total"),
        "threshold": data.get("threshold"),
        "parts": [
            {"name": name.capitalize(), "points": data.get(name), "items": items}
            for name, items in groups.items()
            if items or data.get(name)
        ],
        "scored_at": data.get("scored_at"),
    }


def who(user: Any) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else "nobody"

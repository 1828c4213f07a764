"""The demo's leads after the handoff story: one returned lead asks for a demo again (re-engaged
after return, first in the marketers' ready list)."""

from __future__ import annotations

import datetime as dt

from leads import services as lead_services
from leads.lifecycle import READY_RE_ENGAGED
from leads.models import Lead, Stage


def re_engage_one(now: dt.datetime) -> None:
    """One returned lead, still in its cooldown, asks for a demo again: re-engaged after
    return, first in the marketers' ready list."""
    if Lead.objects.filter(ready_reason=READY_RE_ENGAGED).exists():
        return
    lead = (
        Lead.objects.filter(stage=Stage.RECYCLED, recycle_until__gt=now)
        .order_by("-recycled_at", "id")
        .first()
    )
    if lead is not None:
        lead_services.event_record(
            lead=lead,
            kind="demo_request",
            occurred_at=now - dt.timedelta(minutes=20),
            payload={"demo": True},
            external_id="demo-re-engaged",
            now=now,
        )

"""The outward events of handoffs: their `data`, built in the transaction that made the change.

`data` carries ids, status, deadlines, rep and team, and of the lead no more than its id, name,
company and email (leads.events.lead_ref). The services publish one handoff at a time; the SLA
sweep publishes a batch of flagged handoffs with one query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from core.timefmt import iso
from handoff.models import Handoff
from leads.events import lead_ref, listening, publish_events


def handoff_data(handoff: Handoff, **extra: Any) -> dict[str, Any]:
    rep = handoff.assigned_to
    team = handoff.team
    return {
        "handoff": {
            "id": handoff.pk,
            "status": handoff.status,
            "attempt": handoff.attempt,
            "created_at": iso(handoff.created_at),
            "due_at": iso(handoff.due_at),
            "at_risk_at": iso(handoff.at_risk_at),
            "breached_at": iso(handoff.breached_at),
            "responded_at": iso(handoff.responded_at),
            "first_touch_due_at": iso(handoff.first_touch_due_at),
        },
        "lead": lead_ref(handoff.lead),
        "rep": {"id": rep.pk, "username": rep.get_username()} if rep is not None else None,
        "team": {"id": team.pk, "name": team.name} if team is not None else None,
        **extra,
    }


def publish_handoff_event(type_: str, *, handoff: Handoff, now: dt.datetime, **extra: Any) -> None:
    if listening():
        publish_events([(type_, handoff_data(handoff, **extra))], now=now)


def publish_handoff_events(type_: str, *, ids: Iterable[int], now: dt.datetime) -> None:
    """One event per handoff (the sweep's batch), read with one query."""
    ids = list(ids)
    if not ids or not listening():
        return
    rows = Handoff.objects.filter(pk__in=ids).select_related("lead", "assigned_to", "team")
    publish_events([(type_, handoff_data(row)) for row in rows.order_by("id")], now=now)

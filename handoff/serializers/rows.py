"""A handoff's API answer built directly (the list row, from an instance or from values; the
detail with its events and attempt chain): field for field what the serializers declare, at a
fraction of DRF's field-by-field walk. Tests hold the two outputs equal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from core.types import Actor
from handoff.models import Handoff, HandoffEvent
from handoff.selectors import (
    accept_clock,
    accept_clock_of_values,
    attempt_chain,
    first_touch_clock,
)


def _auto_ref(handoff: Handoff) -> dict[str, Any] | None:
    auto = handoff.auto_promotion
    return {"id": auto.get("id"), "name": str(auto.get("name", ""))} if auto else None


def _when(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str | None:
    """A datetime as DRF's DateTimeField writes it (ISO 8601 in the current zone, Z for UTC);
    `zone` is the current zone when the caller already has it (a list reads it once, not for
    each of its 50 rows' 14 times)."""
    if not value:
        return None
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _user_ref(user: Actor | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "username": str(user.get_username()),
        "full_name": str(user.get_full_name()),
    }


def list_row(handoff: Handoff, *, now: dt.datetime) -> dict[str, Any]:
    """HandoffListSerializer's output for one handoff, field for field."""
    lead = handoff.lead
    team = handoff.team if handoff.team_id else None
    snap = handoff.policy_snapshot or {}
    return {
        "id": handoff.pk,
        "lead": {
            "id": lead.pk,
            "email": str(lead.email),
            "full_name": str(lead.full_name),
            "company": str(lead.company),
            "stage": str(lead.stage),
            "score": int(lead.score),
        },
        "status": handoff.status,
        "attempt": handoff.attempt,
        "assigned_to": _user_ref(handoff.assigned_to if handoff.assigned_to_id else None),
        "promoted_by": _user_ref(handoff.promoted_by if handoff.promoted_by_id else None),
        "team": {"id": team.pk, "name": str(team.name)} if team is not None else None,
        "policy": {
            "id": handoff.policy_id,
            "name": snap.get("name", ""),
            "version": snap.get("version"),
        },
        "created_at": _when(handoff.created_at),
        "due_at": _when(handoff.due_at),
        "at_risk_at": _when(handoff.at_risk_at),
        "at_risk_flagged_at": _when(handoff.at_risk_flagged_at),
        "breached_at": _when(handoff.breached_at),
        "responded_at": _when(handoff.responded_at),
        "accepted_at": _when(handoff.accepted_at),
        "accepted_late": handoff.accepted_late,
        "paused_at": _when(handoff.paused_at),
        "first_touch_due_at": _when(handoff.first_touch_due_at),
        "first_touch_at": _when(handoff.first_touch_at),
        "first_touch_breached_at": _when(handoff.first_touch_breached_at),
        "closed_at": _when(handoff.closed_at),
        "clock": accept_clock(handoff, now=now).as_dict(),
        "auto_promotion": _auto_ref(handoff),
        "signal_at": _when(handoff.signal_at),
    }


def _ref_of(values: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    pk = values[f"{prefix}_id"]
    if pk is None:
        return None
    username = values[f"{prefix}__username"]
    full = f"{values[f'{prefix}__first_name']} {values[f'{prefix}__last_name']}".strip()
    return {"id": pk, "username": str(username), "full_name": full}


def list_row_of_values(
    values: dict[str, Any], *, now: dt.datetime, zone: dt.tzinfo | None = None
) -> dict[str, Any]:
    """list_row from a row read with .values(*handoff.selectors.LIST_ROW_VALUES): the same
    answer, without building model instances (the rep's queue read, on every refresh). `zone`:
    the current zone, read once by a caller building many rows."""
    zone = zone or timezone.get_current_timezone()
    snap = values["policy_snapshot"] or {}
    auto = values["auto_promotion"]
    clock = accept_clock_of_values(values, now)
    return {
        "id": values["id"],
        "lead": {
            "id": values["lead_id"],
            "email": str(values["lead__email"]),
            "full_name": f"{values['lead__first_name']} {values['lead__last_name']}".strip(),
            "company": str(values["lead__company"]),
            "stage": str(values["lead__stage"]),
            "score": int(values["lead__score"]),
        },
        "status": values["status"],
        "attempt": values["attempt"],
        "assigned_to": _ref_of(values, "assigned_to"),
        "promoted_by": _ref_of(values, "promoted_by"),
        "team": {"id": values["team_id"], "name": str(values["team__name"])}
        if values["team_id"] is not None
        else None,
        "policy": {
            "id": values["policy_id"],
            "name": snap.get("name", ""),
            "version": snap.get("version"),
        },
        "created_at": _when(values["created_at"], zone),
        "due_at": _when(values["due_at"], zone),
        "at_risk_at": _when(values["at_risk_at"], zone),
        "at_risk_flagged_at": _when(values["at_risk_flagged_at"], zone),
        "breached_at": _when(values["breached_at"], zone),
        "responded_at": _when(values["responded_at"], zone),
        "accepted_at": _when(values["accepted_at"], zone),
        "accepted_late": values["accepted_late"],
        "paused_at": _when(values["paused_at"], zone),
        "first_touch_due_at": _when(values["first_touch_due_at"], zone),
        "first_touch_at": _when(values["first_touch_at"], zone),
        "first_touch_breached_at": _when(values["first_touch_breached_at"], zone),
        "closed_at": _when(values["closed_at"], zone),
        "clock": clock.as_dict(),
        "auto_promotion": {"id": auto.get("id"), "name": str(auto.get("name", ""))}
        if auto
        else None,
        "signal_at": _when(values["signal_at"], zone),
    }


def chain_row(handoff: Handoff) -> dict[str, Any]:
    """The attempt chain (handoff.selectors.attempt_chain) with its times as the API writes
    them."""
    chain = attempt_chain(handoff)
    attempts = []
    for a in chain["attempts"]:
        ended = a["ended"]
        attempts.append(
            {
                **a,
                "began_at": _when(a["began_at"]),
                "breached_at": _when(a["breached_at"]),
                "ended": {**ended, "at": _when(ended["at"])} if ended else None,
            }
        )
    return {
        "promoted_at": _when(chain["promoted_at"]),
        "promoted_by": chain["promoted_by"],
        "attempts": attempts,
        "this_attempt_began_at": _when(chain["this_attempt_began_at"]),
    }


def _text(value: Any) -> str:
    return str(value)


def event_row(event: HandoffEvent) -> dict[str, Any]:
    """HandoffEventSerializer's output for one event, field for field."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": _user_ref(event.actor if event.actor_id else None),
        "reason": _text(event.reason),
        "note": _text(event.note),
        "at": _when(event.at),
        "payload": event.payload,
    }


def detail_row(handoff: Handoff, *, now: dt.datetime) -> dict[str, Any]:
    """HandoffDetailSerializer's output for one handoff (its events prefetched or read)."""
    remaining = handoff.remaining_business_minutes
    row = list_row(handoff, now=now)
    row.update(
        {
            "first_touch_clock": first_touch_clock(handoff, now=now).as_dict(),
            "context_note": _text(handoff.context_note),
            "score_snapshot": int(handoff.score_snapshot),
            "score_breakdown": handoff.score_breakdown,
            "engagement_snapshot": handoff.engagement_snapshot,
            "pql_criteria": handoff.pql_criteria,
            "history_snapshot": handoff.history_snapshot,
            "routing": handoff.routing,
            "policy_snapshot": handoff.policy_snapshot,
            "previous": handoff.previous_id,
            "remaining_business_minutes": float(remaining) if remaining is not None else None,
            "paused_seconds_total": int(handoff.paused_seconds_total),
            "pause_count": int(handoff.pause_count),
            "info_question": _text(handoff.info_question),
            "info_answer": _text(handoff.info_answer),
            "first_touch_channel": _text(handoff.first_touch_channel),
            "qualified_at": _when(handoff.qualified_at),
            "bant": handoff.bant,
            "returned_at": _when(handoff.returned_at),
            "return_reason_code": _text(handoff.return_reason_code),
            "return_note": _text(handoff.return_note),
            "events": [event_row(event) for event in handoff.events.all()],
            "chain": chain_row(handoff),
        }
    )
    return row

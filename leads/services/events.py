"""What a lead did: recording one engagement event (a replay by external id changes nothing),
and the row and hook shapes the bulk paths share with it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import RuleViolation, ValidationFailed
from leads import hooks
from leads.ingest import FUTURE_TOLERANCE, CleanEvent
from leads.models import HIGH_INTENT_KINDS, EngagementEvent, EventKind, Lead
from leads.services.scoring import SCORE_COLUMNS, lead_rescore

# The columns of an event the bulk paths INSERT.
EVENT_INSERT_COLUMNS = (
    "lead_id",
    "kind",
    "occurred_at",
    "payload",
    "is_high_intent",
    "external_id",
    "created_at",
)


def event_record(
    *,
    lead: Lead,
    kind: str,
    occurred_at: dt.datetime,
    payload: dict[str, Any] | None = None,
    external_id: str = "",
    now: dt.datetime | None = None,
) -> EngagementEvent:
    """Record what a lead did, keep last_engaged_at / last_high_intent_at, and rescore the lead.

    An event whose external_id the lead already has is a replay: the stored one is returned and
    nothing changes.
    """
    now = now or timezone.now()
    if kind not in EventKind.values:
        raise ValidationFailed(f'"{kind}" is not a known event kind.', field="kind")
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=dt.UTC)
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed("The event is in the future.", field="occurred_at")
    with transaction.atomic():
        # One event at a time per lead, so two arrivals cannot both miss each other's event.
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.erased_at is not None:
            raise RuleViolation(
                "This lead's personal data was erased on request; it takes no new events.",
                code="lead_erased",
            )
        if external_id:
            replay = EngagementEvent.objects.filter(lead=locked, external_id=external_id).first()
            if replay is not None:
                return replay
        event = EngagementEvent.objects.create(
            lead=locked,
            kind=kind,
            occurred_at=occurred_at,
            payload=payload or {},
            is_high_intent=kind in HIGH_INTENT_KINDS,
            external_id=external_id,
        )
        engaged = latest(locked.last_engaged_at, occurred_at)
        high = locked.last_high_intent_at
        if event.is_high_intent:
            high = latest(high, occurred_at)
        Lead.objects.filter(pk=locked.pk).update(last_engaged_at=engaged, last_high_intent_at=high)
        locked.last_engaged_at, locked.last_high_intent_at = engaged, high
        lead_rescore(lead=locked, now=now)
        hooks.events_recorded(
            events=[hooks.RecordedEvent(locked.pk, kind, occurred_at, now)],
            now=now,
        )
    for name in ("last_engaged_at", "last_high_intent_at", *SCORE_COLUMNS):
        setattr(lead, name, getattr(locked, name))
    return event


def event_row(lead_id: int, event: CleanEvent, now: dt.datetime) -> dict[str, Any]:
    """An event's values for the bulk INSERT (EVENT_INSERT_COLUMNS)."""
    return {
        "lead_id": lead_id,
        "kind": event.kind,
        "occurred_at": event.occurred_at,
        "payload": event.payload,
        "is_high_intent": event.kind in HIGH_INTENT_KINDS,
        "external_id": event.external_id,
        "created_at": now,
    }


def recorded_events(event_rows: Sequence[dict[str, Any]]) -> list[hooks.RecordedEvent]:
    """The inserted rows as the hooks take them."""
    return [
        hooks.RecordedEvent(r["lead_id"], r["kind"], r["occurred_at"], r["created_at"])
        for r in event_rows
    ]


def latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)

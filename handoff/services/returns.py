"""The way back to marketing: sales returns a handoff (the lead is recycled to nurture or
disqualified in the same transaction), and a manager reopens a disqualified lead."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from core.roles import is_manager
from core.timefmt import iso
from core.types import Actor
from handoff.models import Handoff, Notification
from handoff.notifications import notify
from handoff.services._common import _require_worker
from handoff.services._lead_moves import _lock_and_move_lead
from handoff.services.transitions import _transition
from handoff.states import Status, check_move
from handoff.webhook_events import publish_handoff_event
from leads.models import Lead, Stage
from leads.services import enqueue_tasks_for_relay, lead_change_stage

LEAD_EFFECTS = ("recycle", "disqualify")
DEFAULT_RECYCLE_DAYS = 30


def handoff_return(
    *,
    handoff: Handoff,
    actor: Actor,
    reason_code: str,
    note: str = "",
    lead_effect: str = "recycle",
    recycle_until: dt.datetime | None = None,
    effect_note: str = "",
    now: dt.datetime | None = None,
) -> Handoff:
    """Sales sends the lead back: recycled to nurture until `recycle_until`, or disqualified, in
    the same transaction. The feedback app wraps this with its reason rules."""
    now = now or timezone.now()
    reason_code = (reason_code or "").strip()
    if not reason_code:
        raise ValidationFailed(
            "Give a reason for the return.", code="reason_required", field="reason"
        )
    if lead_effect not in LEAD_EFFECTS:
        raise ValidationFailed(
            f"lead_effect must be one of {', '.join(LEAD_EFFECTS)}.", field="lead_effect"
        )
    _require_worker(handoff, actor, "return")
    check_move(handoff.status, Status.RETURNED)
    if lead_effect == "recycle":
        recycle_until = recycle_until or now + dt.timedelta(days=DEFAULT_RECYCLE_DAYS)
        if recycle_until <= now:
            raise ValidationFailed("recycle_until must be in the future.", field="recycle_until")
    else:
        recycle_until = None
    was_pending = handoff.status == Status.PENDING
    late = was_pending and handoff.is_late_at(now)
    fields: dict[str, Any] = {
        "returned_at": now,
        "return_reason_code": reason_code[:50],
        "return_note": note,
        "closed_at": now,
    }
    if was_pending:
        fields["responded_at"] = now
    # No savepoint: the feedback app calls this inside its own transaction and catches nothing,
    # and on the busiest write path a savepoint is two more round trips.
    with transaction.atomic(savepoint=False):
        event = _transition(
            handoff=handoff,
            to_status=Status.RETURNED,
            actor=actor,
            now=now,
            reason=reason_code,
            note=note,
            payload={
                "lead_effect": lead_effect,
                "recycle_until": iso(recycle_until),
                "effect_note": effect_note,
                "late": late,
            },
            fields=fields,
        )
        to_stage = Stage.RECYCLED if lead_effect == "recycle" else Stage.DISQUALIFIED
        lead = _lock_and_move_lead(
            handoff,
            to_stage=to_stage,
            actor=actor,
            now=now,
            reason=f"Returned by sales: {reason_code}"
            + (f" ({effect_note})" if effect_note else ""),
            extra_fields={"recycle_until": recycle_until},
            count_return=True,
            queue_rescore=False,
        )
        notify(
            kind=Notification.Kind.RETURNED,
            handoff=handoff,
            recipients=[handoff.promoted_by, lead.owner],
            event=event,
            now=now,
            body=f"Returned ({reason_code}): {note or '-'}"
            + (f"\n{effect_note}" if effect_note else ""),
            send=False,
        )
        # The sender and the rescore in one INSERT, published by the outbox relay: the request
        # neither talks to the broker nor updates the outbox rows after commit.
        tasks: list[tuple[str, dict[str, Any]]] = [("handoff.tasks.notifications_send", {})]
        if to_stage == Stage.RECYCLED:
            tasks.append(("leads.tasks.lead_rescore", {"lead_id": lead.pk}))
        enqueue_tasks_for_relay(tasks)
        publish_handoff_event(
            "handoff.returned",
            handoff=handoff,
            now=now,
            reason=reason_code,
            lead_effect=lead_effect,
        )
    return handoff


def lead_reopen(
    *, lead: Lead, actor: Actor, reason: str = "", now: dt.datetime | None = None
) -> Lead:
    """A manager reopens a disqualified lead (back to `lead`), so marketing may promote it again."""
    now = now or timezone.now()
    if not is_manager(actor):
        raise Forbidden("Only a sales manager can reopen a disqualified lead.")
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.stage != Stage.DISQUALIFIED:
            raise Conflict(
                f"Only a disqualified lead can be reopened; this one is in stage "
                f"{Stage(locked.stage).label}.",
                code="lead_not_disqualified",
            )
        lead_change_stage(
            lead=locked,
            to_stage=Stage.LEAD,
            actor=actor,
            reason=reason or "Reopened by a manager",
            now=now,
            extra_fields={"recycle_until": None},
        )
    for name in ("stage", "recycle_until", "updated_at"):
        setattr(lead, name, getattr(locked, name))
    return lead

"""The rep's moves on a handoff and the one transition function they share.

Every status change goes through `_transition`, which claims the row with a conditional UPDATE
(`WHERE id = ... AND status = <the status the caller saw>`): of two people pressing accept and
return at the same instant, exactly one UPDATE matches and the other gets HandoffConflict (HTTP
409). It writes exactly one HandoffEvent per transition. Here: accept (SAL), ask marketing (the
clock pauses), marketing's answer (it resumes), the first touch, and qualify (SQL); the return
is in returns.py, the reassignment in reassignment.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from core.timefmt import iso
from core.types import Actor
from handoff import sla
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.notifications import notify
from handoff.selectors import can_answer as _can_inform
from handoff.selectors import handoff_calendar
from handoff.services._claim import claim_and_record
from handoff.services._common import _managers_for, _require_worker
from handoff.services._lead_moves import _lock_and_move_lead, _lock_lead, _move_lead
from handoff.sla import deadlines as _deadlines
from handoff.states import HandoffConflict, InvalidTransition, Status, check_move
from handoff.webhook_events import publish_handoff_event
from leads.models import Stage

FIRST_TOUCH_CHANNELS = ("call", "email", "meeting")
BANT_FIELDS = ("budget", "authority", "need", "timeline")
BANT_MAX_LENGTH = 1000


def _claim_guard(handoff: Handoff) -> dict[str, Any]:
    """Besides the status, the claim matches the deadline the caller saw: a handoff that went
    pending -> waiting -> pending in between has a new deadline, so a stale caller loses."""
    if handoff.status == Status.PENDING:
        return {"due_at": handoff.due_at}
    return {}


def _transition(
    *,
    handoff: Handoff,
    to_status: str | None,
    actor: Actor | None,
    now: dt.datetime,
    kind: str = HandoffEvent.Kind.TRANSITION,
    reason: str = "",
    note: str = "",
    payload: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    guard: dict[str, Any] | None = None,
) -> HandoffEvent:
    """Claim the handoff in the status the caller saw, apply the change, write one event.

    `guard`: fields that must still hold the value the caller saw (None: still empty), besides
    the status (default: the deadline of a pending handoff). `to_status=None` records an event
    without a status change (first touch), still claiming the row so that two concurrent
    writers cannot both win. Call inside a transaction.
    """
    from_status = handoff.status
    if to_status is not None:
        check_move(from_status, to_status)
    values: dict[str, Any] = {**(fields or {}), "updated_at": now}
    if to_status is not None:
        values["status"] = to_status
    event = HandoffEvent(
        handoff=handoff,
        kind=kind,
        from_status=from_status,
        to_status=to_status or from_status,
        actor=actor,
        reason=reason[:100],
        note=note,
        at=now,
        payload=payload or {},
    )
    claimed = claim_and_record(
        handoff,
        from_status=from_status,
        values=values,
        guard=_claim_guard(handoff) if guard is None else guard,
        event=event,
    )
    if not claimed:
        current = Handoff.objects.filter(pk=handoff.pk).values_list("status", flat=True).first()
        if current is None:
            raise HandoffConflict(f"Handoff #{handoff.pk} no longer exists.")
        if current != from_status:
            raise HandoffConflict(
                f"Someone else got there first: handoff #{handoff.pk} is now "
                f"{Status(current).label.lower()}. Reload it and try again."
            )
        raise HandoffConflict(
            f"Handoff #{handoff.pk} changed while you were looking at it. Reload it and try again."
        )
    for name, value in values.items():
        setattr(handoff, name, value)
    return event


# --- the rep's answer -------------------------------------------------------------------------


def handoff_accept(*, handoff: Handoff, actor: Actor, now: dt.datetime | None = None) -> Handoff:
    """The rep takes the lead (it becomes a SAL); the first-touch clock starts."""
    now = now or timezone.now()
    _require_worker(handoff, actor, "accept")
    check_move(handoff.status, Status.ACCEPTED)
    calendar = handoff_calendar(handoff)
    snap = handoff.policy_snapshot or {}
    # Pending (check_move said so): late by the time from the deadline to now (handoff.clocks).
    late_by = handoff.late_by(now, calendar)
    late = late_by is not None
    fields: dict[str, Any] = {"responded_at": now, "accepted_at": now, "accepted_late": late}
    payload: dict[str, Any] = {"late": late, "due_at": iso(handoff.due_at)}
    if late_by is not None:
        payload["late_by_business_minutes"] = round(late_by.business_minutes, 2)
        payload["late_by_seconds"] = round(late_by.wall.total_seconds())
    # Business minutes the accept clock ran: the window minus what was left, plus what it was
    # late by. A pause for marketing is excluded, since the resumed deadline was computed from
    # the time that was left. Stored so that percentiles are one SQL aggregate.
    window = snap.get("accept_within_minutes")
    if window is not None and handoff.due_at is not None:
        if late_by is not None:
            used = window + late_by.business_minutes
        else:
            used = window - sla.business_minutes_between(now, handoff.due_at, calendar)
    else:
        used = sla.business_minutes_between(handoff.created_at, now, calendar)
    fields["accept_business_minutes"] = round(max(used, 0.0), 2)
    if snap.get("first_touch_within_minutes") is not None:
        ft_due, ft_risk = _deadlines(
            now, snap["first_touch_within_minutes"], snap.get("at_risk_ratio", 0.75), calendar
        )
        fields.update({"first_touch_due_at": ft_due, "first_touch_at_risk_at": ft_risk})
        payload["first_touch_due_at"] = iso(ft_due)
    if handoff.assigned_to_id is None:
        # A manager taking a handoff from their own queue becomes its owner.
        fields["assigned_to"] = actor
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=Status.ACCEPTED,
            actor=actor,
            now=now,
            reason="accepted late" if late else "accepted",
            payload=payload,
            fields=fields,
        )
        _lock_and_move_lead(
            handoff,
            to_stage=Stage.SAL,
            actor=actor,
            now=now,
            reason=f"Accepted by sales (handoff #{handoff.pk})",
        )
        publish_handoff_event("handoff.accepted", handoff=handoff, now=now, late=late)
    return handoff


def handoff_request_info(
    *, handoff: Handoff, actor: Actor, question: str, now: dt.datetime | None = None
) -> Handoff:
    """The rep asks marketing for missing information: the accept clock pauses (status waiting)
    with the business time that was left, and the promoting marketer is told."""
    now = now or timezone.now()
    question = (question or "").strip()
    if not question:
        raise ValidationFailed("Say what information is missing.", field="question")
    _require_worker(handoff, actor, "ask about")
    check_move(handoff.status, Status.WAITING)
    remaining = 0.0
    if handoff.due_at is not None and now < handoff.due_at:
        remaining = sla.business_minutes_between(now, handoff.due_at, handoff_calendar(handoff))
    with transaction.atomic():
        event = _transition(
            handoff=handoff,
            to_status=Status.WAITING,
            actor=actor,
            now=now,
            reason="info requested",
            note=question,
            payload={
                "remaining_business_minutes": round(remaining, 4),
                "due_at_before": iso(handoff.due_at),
            },
            # The deadline is cleared while paused, so nothing (the sweep included) can see a
            # paused handoff as due; resuming computes a new one from the time that was left.
            fields={
                "paused_at": now,
                "remaining_business_minutes": remaining,
                "due_at": None,
                "at_risk_at": None,
                "info_question": question,
                "info_answer": "",
            },
        )
        notify(
            kind=Notification.Kind.INFO_REQUESTED,
            handoff=handoff,
            recipients=[handoff.promoted_by, handoff.lead.owner],
            event=event,
            now=now,
            body=f"{actor.get_full_name() or actor.get_username()} asks: {question}",
        )
        publish_handoff_event("handoff.info_requested", handoff=handoff, now=now)
    return handoff


def handoff_provide_info(
    *, handoff: Handoff, actor: Actor, answer: str, now: dt.datetime | None = None
) -> Handoff:
    """Marketing answers: the clock resumes with the business time that was left when it paused."""
    now = now or timezone.now()
    answer = (answer or "").strip()
    if not answer:
        raise ValidationFailed("Write the answer for the rep.", field="answer")
    if not _can_inform(handoff, actor):
        raise Forbidden(
            "Only the marketer who promoted the lead, its owner or a sales manager can answer."
        )
    check_move(handoff.status, Status.PENDING)
    snap = handoff.policy_snapshot or {}
    remaining = max(handoff.remaining_business_minutes or 0.0, 0.0)
    total = float(snap.get("accept_within_minutes") or remaining)
    ratio = float(snap.get("at_risk_ratio", 0.75))
    calendar = handoff_calendar(handoff)
    due_at = sla.add_business_minutes(now, remaining, calendar)
    # The at-risk warning keeps its place in the whole window: it fires once `ratio` of the
    # window has elapsed, counting the business time used before the pause.
    until_risk = min(max(total * ratio - (total - remaining), 0.0), remaining)
    at_risk_at = sla.add_business_minutes(now, until_risk, calendar)
    paused_seconds = (
        max(round((now - handoff.paused_at).total_seconds()), 0) if handoff.paused_at else 0
    )
    with transaction.atomic():
        event = _transition(
            handoff=handoff,
            to_status=Status.PENDING,
            actor=actor,
            now=now,
            reason="info provided",
            note=answer,
            payload={
                "paused_seconds": paused_seconds,
                "paused_business_minutes": round(
                    sla.business_minutes_between(handoff.paused_at, now, calendar), 2
                )
                if handoff.paused_at
                else 0,
                "remaining_business_minutes": round(remaining, 4),
                "due_at": iso(due_at),
                "at_risk_at": iso(at_risk_at),
            },
            fields={
                "paused_at": None,
                "remaining_business_minutes": None,
                "due_at": due_at,
                "at_risk_at": at_risk_at,
                "paused_seconds_total": handoff.paused_seconds_total + paused_seconds,
                "pause_count": handoff.pause_count + 1,
                "info_answer": answer,
            },
            # The pause the caller saw is still the current one (not an earlier, ended pause).
            guard={"paused_at": handoff.paused_at},
        )
        notify(
            kind=Notification.Kind.INFO_PROVIDED,
            handoff=handoff,
            recipients=[handoff.assigned_to]
            if handoff.assigned_to
            else _managers_for(handoff.team),
            event=event,
            now=now,
            body=f"Answer from marketing: {answer}",
        )
        publish_handoff_event("handoff.info_provided", handoff=handoff, now=now)
    return handoff


def _clean_bant(bant: Any) -> dict[str, str]:
    if not isinstance(bant, dict):
        raise ValidationFailed(
            "Give the BANT answers as an object with budget, authority, need and timeline.",
            field="bant",
        )
    unknown = sorted(set(bant) - set(BANT_FIELDS))
    if unknown:
        raise ValidationFailed(f"Unknown BANT field: {unknown[0]}.", field=f"bant.{unknown[0]}")
    cleaned: dict[str, str] = {}
    for name in BANT_FIELDS:
        value = bant.get(name)
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise ValidationFailed(f"Answer the {name} question.", field=f"bant.{name}")
        if len(text) > BANT_MAX_LENGTH:
            raise ValidationFailed(
                f"The {name} answer is longer than {BANT_MAX_LENGTH} characters.",
                field=f"bant.{name}",
            )
        cleaned[name] = text
    return cleaned


def handoff_qualify(
    *, handoff: Handoff, actor: Actor, bant: dict, note: str = "", now: dt.datetime | None = None
) -> Handoff:
    """After the first conversation the rep qualifies the SAL as an SQL, with the BANT answers."""
    now = now or timezone.now()
    cleaned = _clean_bant(bant)
    _require_worker(handoff, actor, "qualify")
    check_move(handoff.status, Status.QUALIFIED)
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=Status.QUALIFIED,
            actor=actor,
            now=now,
            reason="qualified",
            note=note,
            payload={"bant": cleaned},
            fields={"qualified_at": now, "bant": cleaned, "closed_at": now},
        )
        lead = _lock_lead(handoff)
        _move_lead(
            lead=lead,
            to_stage=Stage.SQL,
            actor=actor,
            now=now,
            reason=f"Qualified by sales (handoff #{handoff.pk})",
        )
        publish_handoff_event("handoff.qualified", handoff=handoff, now=now)
    return handoff


def handoff_log_first_touch(
    *, handoff: Handoff, actor: Actor, channel: str, note: str = "", now: dt.datetime | None = None
) -> Handoff:
    """The rep reached the lead (call, email or meeting): stops the first-touch clock."""
    now = now or timezone.now()
    if channel not in FIRST_TOUCH_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(FIRST_TOUCH_CHANNELS)}.", field="channel"
        )
    _require_worker(handoff, actor, "log a first touch on")
    if handoff.status != Status.ACCEPTED:
        raise InvalidTransition(
            f"This handoff is {Status(handoff.status).label.lower()} now: a first touch is "
            "logged on an accepted handoff only.",
            current_status=handoff.status,
        )
    if handoff.first_touch_at is not None:
        raise Conflict(
            f"The first touch was already logged at {handoff.first_touch_at:%Y-%m-%d %H:%M} UTC.",
            code="first_touch_logged",
        )
    due = handoff.first_touch_due_at
    late = handoff.first_touch_late_at(now)
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=None,
            actor=actor,
            now=now,
            kind=HandoffEvent.Kind.FIRST_TOUCH,
            reason=channel,
            note=note,
            payload={"channel": channel, "late": late, "due_at": iso(due)},
            fields={"first_touch_at": now, "first_touch_channel": channel},
            guard={"first_touch_at": None},
        )
    return handoff

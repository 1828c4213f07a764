"""Reassignment: a pending handoff goes to another rep (a manager's choice, the next rep in the
rotation, or the SLA sweep on breach); the old attempt closes as `reassigned` and a new one starts
with a fresh deadline and the same packet.

What "next in rotation" would do now is a read: handoff.availability.reassign_preview."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from core.roles import is_manager, is_rep
from core.timefmt import iso
from core.types import Actor
from handoff import sla
from handoff.assignment import RepChoice, pick_rep
from handoff.availability import nobody_available_message
from handoff.models import Handoff, HandoffEvent
from handoff.selectors import handoff_calendar
from handoff.selectors import user_ref as _user_ref
from handoff.services._routing import _advance_rotation, _announce, _routing
from handoff.services.transitions import _transition
from handoff.sla import deadlines as _deadlines
from handoff.states import HandoffConflict, Status, check_move
from handoff.webhook_events import publish_handoff_event


def handoff_reassign(
    *,
    handoff: Handoff,
    actor: Actor | None = None,
    to_rep: Actor | None = None,
    reason: str = "",
    automatic: bool = False,
    now: dt.datetime | None = None,
) -> Handoff:
    """Give a pending handoff to another rep: the old one becomes `reassigned` and a new attempt
    starts with a fresh deadline and the same packet. Returns the NEW handoff.

    By a manager (to a chosen rep, or the next one in the rotation), or by the sweep on breach
    (automatic=True). Nobody available: the new attempt waits in the manager's queue."""
    now = now or timezone.now()
    if not automatic and not is_manager(actor):
        raise Forbidden("Only a sales manager can reassign a handoff.")
    if to_rep is not None:
        if not (to_rep.is_active and is_rep(to_rep)):
            raise ValidationFailed(
                f"{to_rep.get_username()} is not an active sales rep.", field="to_rep"
            )
        if to_rep.pk == handoff.assigned_to_id:
            raise ValidationFailed(
                f"The handoff is already assigned to {to_rep.get_username()}.", field="to_rep"
            )
    check_move(handoff.status, Status.REASSIGNED)
    snap = handoff.policy_snapshot or {}
    calendar = handoff_calendar(handoff)
    minutes = snap.get("accept_within_minutes")
    if minutes is None:
        minutes = round(_business_minutes_or_zero(handoff.created_at, handoff.due_at, calendar))
    due_at, at_risk_at = _deadlines(now, minutes, float(snap.get("at_risk_ratio", 0.75)), calendar)
    reason = reason or ("automatic: SLA breached" if automatic else "reassigned by a manager")
    team = handoff.team
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=Status.REASSIGNED,
            actor=actor,
            now=now,
            reason=reason,
            payload={
                "automatic": automatic,
                "from_rep": _user_ref(handoff.assigned_to),
                "to_rep": _user_ref(to_rep),
                "next_attempt": handoff.attempt + 1,
            },
            fields={"closed_at": now},
        )
        choice: RepChoice | None = None
        if to_rep is None and team is not None:
            exclude = {handoff.assigned_to_id} if handoff.assigned_to_id else set()
            choice = pick_rep(
                team=team,
                now=now,
                skip_off_hours=bool(snap.get("skip_reps_off_hours")),
                exclude_rep_ids=exclude,
            )
            if choice.rep is None and not automatic:
                # A new attempt with nobody on it would go straight back to the manager's
                # queue with a fresh clock: refuse, and say who could take it and when.
                raise Conflict(
                    nobody_available_message(team=team, now=now, choice=choice),
                    code="nobody_available",
                    field="to_rep",
                )
            _advance_rotation(team, choice)
        by = actor.get_username() if actor is not None else "the SLA sweep"
        if to_rep is not None:
            rule = f"reassigned by {by} to {to_rep.get_username()}"
        elif automatic:
            rule = "reassigned on breach to the next rep in the rotation"
        else:
            rule = f"reassigned by {by} to the next rep in the rotation"
        rule += f" (attempt {handoff.attempt + 1})"
        routing = _routing(
            team=team,
            rule=rule,
            matched={},
            policy=snap or {"id": handoff.policy_id, "name": "", "version": None},
            choice=choice,
            now=now,
            lead=handoff.lead,
            chosen_by=actor,
            to_rep=to_rep,
        )
        routing["previous"] = {"id": handoff.pk, "rep": _user_ref(handoff.assigned_to)}
        try:
            with transaction.atomic():
                new = Handoff.objects.create(
                    lead_id=handoff.lead_id,
                    promoted_by_id=handoff.promoted_by_id,
                    assigned_to=to_rep if to_rep is not None else (choice.rep if choice else None),
                    team=team,
                    policy_id=handoff.policy_id,
                    policy_snapshot=handoff.policy_snapshot,
                    calendar_id=handoff.calendar_id,
                    status=Status.PENDING,
                    context_note=handoff.context_note,
                    score_snapshot=handoff.score_snapshot,
                    lead_source=handoff.lead_source,
                    lead_campaign_id=handoff.lead_campaign_id,
                    score_breakdown=handoff.score_breakdown,
                    engagement_snapshot=handoff.engagement_snapshot,
                    history_snapshot=handoff.history_snapshot,
                    routing=routing,
                    attempt=handoff.attempt + 1,
                    previous=handoff,
                    created_at=now,
                    due_at=due_at,
                    at_risk_at=at_risk_at,
                    auto_rule_id=handoff.auto_rule_id,
                    auto_promotion=handoff.auto_promotion,
                    signal_at=handoff.signal_at,
                    signal_received_at=handoff.signal_received_at,
                )
        except IntegrityError as exc:
            raise HandoffConflict("The lead got another open handoff at the same moment.") from exc
        new.lead = handoff.lead
        event = HandoffEvent.objects.create(
            handoff=new,
            kind=HandoffEvent.Kind.ASSIGNED if new.assigned_to_id else HandoffEvent.Kind.UNASSIGNED,
            to_status=Status.PENDING,
            actor=actor,
            reason=reason[:100],
            at=now,
            payload={
                "previous": handoff.pk,
                "attempt": new.attempt,
                "automatic": automatic,
                "rep": routing["rep"],
                "due_at": iso(due_at),
            },
        )
        publish_handoff_event(
            "handoff.reassigned",
            handoff=handoff,
            now=now,
            automatic=automatic,
            next_handoff_id=new.pk,
        )
        _announce(handoff=new, event=event, now=now)
    return new


def _business_minutes_or_zero(
    a: dt.datetime | None, b: dt.datetime | None, calendar: sla.Calendar
) -> float:
    if a is None or b is None:
        return 0.0
    return sla.business_minutes_between(a, b, calendar)

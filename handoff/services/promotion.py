"""Promotion: marketing (or an auto-promotion rule) hands a lead to sales. Snapshots the
warm-handoff packet, picks the team, policy and rep, starts the SLA clock and tells the rep.

Whether a lead may be promoted and what a promotion would do are reads: handoff.selectors
(`lead_promotion_block`, `promotion_block`, `promotion_preview`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Forbidden, ValidationFailed
from core.roles import is_manager, is_marketer
from core.timefmt import iso
from core.types import Actor
from handoff.assignment import match_policy, match_team, pick_rep, policy_snapshot
from handoff.models import AutoPromotionRule, Handoff, HandoffEvent, Team
from handoff.selectors import calendar_for
from handoff.selectors import history_block as _promotion_block
from handoff.selectors import last_return_at as _last_return_at
from handoff.selectors import lead_history as _lead_history
from handoff.selectors import stage_block as _stage_block
from handoff.services._lead_moves import _move_lead
from handoff.services._routing import _advance_rotation, _announce, _routing
from handoff.sla import deadlines as _deadlines
from handoff.states import HandoffConflict, Status
from handoff.webhook_events import publish_handoff_event
from leads.models import HIGH_INTENT_KINDS, Account, Lead, Stage

ENGAGEMENT_SNAPSHOT_SIZE = 10


def _history_snapshot(history: list[Handoff]) -> list[dict[str, Any]]:
    return [
        {
            "id": h.pk,
            "attempt": h.attempt,
            "created_at": iso(h.created_at),
            "status": h.status,
            "assigned_to": h.assigned_to.get_username() if h.assigned_to else None,
            "ended_at": iso(h.closed_at),
            "accepted_late": h.accepted_late,
            "return_reason_code": h.return_reason_code,
            "return_note": h.return_note,
        }
        for h in history
    ]


def _engagement_snapshot(lead: Lead, now: dt.datetime) -> list[dict[str, Any]]:
    """The lead's latest events, plus the latest of each high-intent kind (contact form, demo,
    pricing, trial) when a run of page views pushed it out: those drive the intent points the
    rep sees in the score, so the activity beside the score must show them."""
    events = lead.events.filter(occurred_at__lte=now).order_by("-occurred_at", "-id")
    latest = list(events[:ENGAGEMENT_SNAPSHOT_SIZE])
    shown_kinds = {e.kind for e in latest}
    missing = [kind for kind in HIGH_INTENT_KINDS if kind not in shown_kinds]
    if missing:
        for kind in sorted(missing):
            found = events.filter(kind=kind).first()
            if found is not None:
                latest.append(found)
        latest.sort(key=lambda e: (e.occurred_at, e.pk), reverse=True)
    return [
        {
            "kind": e.kind,
            "label": e.get_kind_display(),
            "occurred_at": iso(e.occurred_at),
            "is_high_intent": e.is_high_intent,
            "payload": e.payload,
        }
        for e in latest
    ]


def _latest_signal(lead: Lead, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The lead's latest high-intent event before `now`: (occurred_at, received at)."""
    if lead.last_high_intent_at is None:
        return None
    row = (
        lead.events.filter(is_high_intent=True, occurred_at__lte=now)
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", "created_at")
        .first()
    )
    return (row[0], row[1]) if row else None


# The context note is the warm handoff: a rep reads it first. A few words ("Hot one") tell them
# nothing the score does not, so a promotion needs a sentence.
CONTEXT_NOTE_MIN_CHARS = 20


def handoff_promote(
    *,
    lead: Lead,
    actor: Actor | None,
    note: str = "",
    team: Team | None = None,
    now: dt.datetime | None = None,
    auto_rule: AutoPromotionRule | None = None,
    signal: tuple[dt.datetime, dt.datetime] | None = None,
) -> Handoff:
    """Marketing hands a lead to sales: snapshot the warm-handoff packet, start the SLA clock,
    assign a rep by rotation and tell them at once.

    With `auto_rule` the system promotes (no actor; handoff.autopromotion calls this), with
    `signal` the triggering event's (occurred_at, received_at); every guard applies the same.
    """
    now = now or timezone.now()
    if auto_rule is None and not (is_marketer(actor) or is_manager(actor)):
        raise Forbidden("Only marketing (or a sales manager) promotes leads to sales.")
    history = _lead_history(lead)
    blocked = _promotion_block(lead, now, history)
    if blocked is not None:
        raise blocked
    note = (note or "").strip()
    if len(note) < CONTEXT_NOTE_MIN_CHARS:
        raise ValidationFailed(
            f"Write the context for the rep (at least {CONTEXT_NOTE_MIN_CHARS} characters): "
            "why this lead, why now, what they asked for. It is the warm handoff.",
            code="note_too_short",
            field="note",
        )
    chosen_team, match = match_team(lead=lead, team=team)
    policy = match_policy(lead=lead, team=chosen_team, now=now)
    calendar_row = policy.calendar or chosen_team.calendar
    snapshot = policy_snapshot(policy, calendar_row.pk, calendar_row.name, calendar_row.timezone)
    due_at, at_risk_at = _deadlines(
        now, policy.accept_within_minutes, policy.at_risk_ratio, calendar_for(calendar_row)
    )
    engagement = _engagement_snapshot(lead, now)
    if signal is None:
        signal = _latest_signal(lead, now)
    auto = {"id": auto_rule.pk, "name": auto_rule.name} if auto_rule is not None else None

    with transaction.atomic():
        try:
            # The partial unique constraint is the real guard against two open handoffs (two
            # marketers promoting the same lead at once); the check above only explains it.
            with transaction.atomic():
                handoff = Handoff.objects.create(
                    lead=lead,
                    promoted_by=actor,
                    team=chosen_team,
                    policy=policy,
                    policy_snapshot=snapshot,
                    calendar=calendar_row,
                    status=Status.PENDING,
                    context_note=note,
                    score_snapshot=lead.score,
                    lead_source=lead.source,
                    lead_campaign_id=lead.campaign_id,
                    score_breakdown=lead.score_breakdown or {},
                    engagement_snapshot=engagement,
                    pql_criteria=lead.pql_criteria if lead.pql else [],
                    history_snapshot=_history_snapshot(history),
                    created_at=now,
                    due_at=due_at,
                    at_risk_at=at_risk_at,
                    auto_rule=auto_rule,
                    auto_promotion=auto,
                    signal_at=signal[0] if signal else None,
                    signal_received_at=signal[1] if signal else None,
                )
        except IntegrityError as exc:
            raise HandoffConflict(
                "The lead was promoted by someone else at the same moment.",
                code="open_handoff_exists",
            ) from exc
        choice = pick_rep(
            team=chosen_team,
            now=now,
            skip_off_hours=policy.skip_reps_off_hours,
            account_owner_id=(
                _account_owner_id(lead) if chosen_team.route_to_account_owner else None
            ),
        )
        _advance_rotation(chosen_team, choice)
        handoff.routing = _routing(
            team=chosen_team,
            rule=match["rule"],
            matched=match["matched"],
            policy=snapshot,
            choice=choice,
            now=now,
            lead=lead,
        )
        handoff.assigned_to = choice.rep
        Handoff.objects.filter(pk=handoff.pk).update(
            assigned_to=handoff.assigned_to, routing=handoff.routing
        )

        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        # Re-checked on the locked row: the stage may have moved since the first look.
        stage_blocked = _stage_block(locked, now, _last_return_at(locked, history))
        if stage_blocked is not None:
            raise stage_blocked
        _move_lead(
            lead=locked,
            to_stage=Stage.MQL,
            actor=actor,
            reason=(
                f"Promoted to sales (handoff #{handoff.pk})"
                if auto is None
                else f"Promoted to sales automatically by rule {auto['name']} "
                f"(handoff #{handoff.pk})"
            ),
            now=now,
        )
        handoff.lead = locked
        event = HandoffEvent.objects.create(
            handoff=handoff,
            kind=HandoffEvent.Kind.CREATED,
            to_status=Status.PENDING,
            actor=actor,
            reason=handoff.routing["queue"],
            note=note,
            at=now,
            payload={
                "team": handoff.routing["team"],
                "rep": handoff.routing["rep"],
                "policy": handoff.routing["policy"],
                "due_at": iso(due_at),
                "at_risk_at": iso(at_risk_at),
                **({"auto_promotion": auto} if auto else {}),
            },
        )
        publish_handoff_event("lead.promoted", handoff=handoff, now=now)
        _announce(handoff=handoff, event=event, now=now)
    for name in ("stage", "mql_at", "updated_at"):
        setattr(lead, name, getattr(locked, name))
    return handoff


def _account_owner_id(lead: Lead) -> int | None:
    if lead.account_id is None:
        return None
    return Account.objects.filter(pk=lead.account_id).values_list("owner_id", flat=True).first()

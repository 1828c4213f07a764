"""Every write to opportunities: keyword-only functions, atomic, taking `now`.

Every stage change and edit claims the row with a conditional UPDATE (`WHERE id = ... AND
stage = 'open'`): of a win and a lose pressed at the same instant exactly one matches, the other
gets a 409 naming the stage it found. Each change writes one append-only OpportunityEvent (amount
changes keep the amount before and after). The lead follows in the same transaction, through
leads.services.lead_change_stage (one stage-history row per move).

Lock order: the lead row first (opening), or the opportunity claim then the lead row (closing),
as the handoff services do: handoff/opportunity row, then lead row.

This module: open, update, win and lose (the CRM sync in `sync`, the input rules in `rules`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from core.types import Actor
from handoff.models import Handoff
from handoff.states import Status
from leads.events import lead_ref, listening, publish_event
from leads.models import Lead
from leads.models import Stage as LeadStage
from leads.services import lead_change_stage
from pipeline import rollup
from pipeline.models import LostReason, Opportunity, OpportunityEvent
from pipeline.services.rules import (
    LEAD_EFFECTS,
    UNSET,
    _require,
    can_open_from,
    can_work,
    clean_amount,
    clean_currency,
    score_band_label,
)
from pipeline.states import InvalidTransition, Stage, check_move

# --- the transitions --------------------------------------------------------------------------


def _event(
    *,
    opportunity: Opportunity,
    kind: str,
    actor: Actor | None,
    now: dt.datetime,
    from_stage: str,
    amount_before: Decimal | None,
    payload: dict[str, Any] | None = None,
) -> OpportunityEvent:
    event = OpportunityEvent.objects.create(
        opportunity=opportunity,
        kind=kind,
        from_stage=from_stage,
        to_stage=opportunity.stage,
        actor=actor,
        at=now,
        amount_before=amount_before,
        amount_after=opportunity.amount,
        payload=payload or {},
    )
    # Every change of a deal writes one event: its promotion day's revenue rollup is marked stale
    # (one statement; the refresh recounts it off the request path).
    rollup.mark_dirty(rollup.day_of(opportunity.promoted_at))
    if listening():
        publish_event(
            WEBHOOK_TYPES.get(kind, "opportunity.updated"), _webhook_data(opportunity), now=now
        )
    return event


# The outward event of each kind of change (webhooks; every other kind is an update).
WEBHOOK_TYPES: dict[str, str] = {
    OpportunityEvent.Kind.OPENED: "opportunity.opened",
    OpportunityEvent.Kind.WON: "opportunity.won",
    OpportunityEvent.Kind.LOST: "opportunity.lost",
}


def _webhook_data(opportunity: Opportunity) -> dict[str, Any]:
    close = opportunity.expected_close_date
    reason = opportunity.lost_reason
    return {
        "opportunity": {
            "id": opportunity.pk,
            "stage": opportunity.stage,
            "amount": str(opportunity.amount) if opportunity.amount is not None else None,
            "currency": opportunity.currency,
            "expected_close_date": close.isoformat() if close else None,
            "external_id": opportunity.external_id,
            "lost_reason": reason.code if reason is not None else None,
        },
        "handoff_id": opportunity.handoff_id,
        "lead": lead_ref(opportunity.lead),
    }


def _claim(opportunity: Opportunity, values: dict[str, Any]) -> None:
    """Apply `values` to the opportunity if it is still open; otherwise 409 naming its stage."""
    claimed = Opportunity.objects.filter(pk=opportunity.pk, stage=Stage.OPEN).update(**values)
    if claimed != 1:
        current = Opportunity.objects.filter(pk=opportunity.pk).values_list("stage", flat=True)
        stage = next(iter(current), None)
        if stage is None:
            raise Conflict(f"Opportunity #{opportunity.pk} no longer exists.")
        raise InvalidTransition(
            f"Opportunity #{opportunity.pk} is {Stage(stage).label.lower()}: "
            "a closed opportunity cannot change.",
            field="stage",
        )
    for name, value in values.items():
        setattr(opportunity, name, value)


def _lock_lead(lead_id: int) -> Lead:
    return Lead.objects.select_for_update(of=("self",)).get(pk=lead_id)


def opportunity_open(
    *,
    handoff: Handoff,
    actor: Actor | None,
    amount: Any,
    expected_close_date: dt.date | None,
    currency: Any = None,
    external_id: str | None = None,
    now: dt.datetime | None = None,
    check_actor: bool = True,
) -> Opportunity:
    """Open an opportunity from a qualified handoff; the lead becomes an opportunity.

    At most one open opportunity per lead: checked on the locked lead row, and held by a partial
    unique constraint for the race that slips past (the loser gets a 409).
    """
    now = now or timezone.now()
    cleaned_amount = None if amount is None and not check_actor else clean_amount(amount)
    cleaned_currency = clean_currency(currency)
    if expected_close_date is None and check_actor:
        raise ValidationFailed(
            "Give an expected close date.", code="required", field="expected_close_date"
        )
    if check_actor and not can_open_from(handoff, actor):
        raise Forbidden("Only the handoff's rep or a sales manager can open an opportunity.")
    if handoff.status != Status.QUALIFIED:
        raise InvalidTransition(
            f"Handoff #{handoff.pk} is {Status(handoff.status).label.lower()}: only a qualified "
            "handoff (an SQL) can grow an opportunity.",
            code="handoff_not_qualified",
            field="handoff",
        )
    try:
        with transaction.atomic():
            lead = _lock_lead(handoff.lead_id)
            if Opportunity.objects.filter(lead=lead, stage=Stage.OPEN).exists():
                raise Conflict(
                    f"Lead #{lead.pk} already has an open opportunity.",
                    code="open_opportunity_exists",
                    field="lead",
                )
            if lead.stage != LeadStage.SQL:
                raise InvalidTransition(
                    f"The lead is {LeadStage(lead.stage).label}, not an SQL: only an SQL can "
                    "become an opportunity.",
                    code="lead_not_sql",
                    field="lead",
                )
            opportunity = Opportunity.objects.create(
                lead=lead,
                handoff=handoff,
                owner_id=handoff.assigned_to_id or getattr(actor, "pk", None),
                opened_by=actor,
                team_id=handoff.team_id,
                amount=cleaned_amount,
                currency=cleaned_currency,
                expected_close_date=expected_close_date,
                external_id=external_id or None,
                source=handoff.lead_source,
                campaign_id=handoff.lead_campaign_id,
                score=handoff.score_snapshot,
                score_band=score_band_label(handoff.score_snapshot),
                promoted_at=handoff.created_at,
                sql_at=handoff.qualified_at,
                opened_at=now,
                updated_at=now,
            )
            _event(
                opportunity=opportunity,
                kind=OpportunityEvent.Kind.OPENED,
                actor=actor,
                now=now,
                from_stage="",
                amount_before=None,
                payload={"currency": cleaned_currency},
            )
            lead_change_stage(
                lead=lead,
                to_stage=LeadStage.OPPORTUNITY,
                actor=actor,
                now=now,
                reason=f"Opportunity #{opportunity.pk} opened (handoff #{handoff.pk})",
            )
    except IntegrityError as exc:
        if external_id and Opportunity.objects.filter(external_id=external_id).exists():
            raise Conflict(
                f"external_id {external_id!r} is already used by another opportunity.",
                code="duplicate_external_id",
                field="external_id",
            ) from exc
        raise Conflict(
            f"Lead #{handoff.lead_id} already has an open opportunity.",
            code="open_opportunity_exists",
            field="lead",
        ) from exc
    return opportunity


def opportunity_update(
    *,
    opportunity: Opportunity,
    actor: Actor | None,
    amount: Any = UNSET,
    currency: Any = UNSET,
    expected_close_date: Any = UNSET,
    now: dt.datetime | None = None,
    kind: str = OpportunityEvent.Kind.UPDATED,
    check_actor: bool = True,
) -> Opportunity:
    """Edit an open opportunity's amount, currency or expected close date (one event)."""
    now = now or timezone.now()
    values: dict[str, Any] = {}
    if amount is not UNSET:
        values["amount"] = clean_amount(amount)
    if currency is not UNSET:
        values["currency"] = clean_currency(currency)
    if expected_close_date is not UNSET:
        if expected_close_date is None:
            raise ValidationFailed(
                "Give an expected close date.", code="required", field="expected_close_date"
            )
        values["expected_close_date"] = expected_close_date
    if check_actor:
        _require(can_work(opportunity, actor), "edit")
    if opportunity.stage != Stage.OPEN:
        raise InvalidTransition(
            f"Opportunity #{opportunity.pk} is {Stage(opportunity.stage).label.lower()}: "
            "a closed opportunity cannot change.",
            field="stage",
        )
    changed = {k: v for k, v in values.items() if getattr(opportunity, k) != v}
    if not changed:
        return opportunity
    before = opportunity.amount
    with transaction.atomic():
        _claim(opportunity, {**changed, "updated_at": now})
        _event(
            opportunity=opportunity,
            kind=kind,
            actor=actor,
            now=now,
            from_stage=Stage.OPEN,
            amount_before=before,
            payload={
                name: (str(value) if value is not None else None) for name, value in changed.items()
            },
        )
    return opportunity


def opportunity_win(
    *,
    opportunity: Opportunity,
    actor: Actor | None,
    amount: Any = None,
    now: dt.datetime | None = None,
    check_actor: bool = True,
) -> Opportunity:
    """Close as won (at the given amount, or the one on record); the lead becomes a customer."""
    now = now or timezone.now()
    final = clean_amount(amount) if amount is not None else opportunity.amount
    if final is None:
        raise ValidationFailed(
            "A win needs an amount: give one, or set it on the opportunity first.",
            code="amount_required",
            field="amount",
        )
    if check_actor:
        _require(can_work(opportunity, actor), "win")
    check_move(opportunity.stage, Stage.WON)
    before = opportunity.amount
    with transaction.atomic():
        _claim(opportunity, {"stage": Stage.WON, "won_at": now, "amount": final, "updated_at": now})
        _event(
            opportunity=opportunity,
            kind=OpportunityEvent.Kind.WON,
            actor=actor,
            now=now,
            from_stage=Stage.OPEN,
            amount_before=before,
        )
        lead = _lock_lead(opportunity.lead_id)
        if lead.stage != LeadStage.CUSTOMER:
            lead_change_stage(
                lead=lead,
                to_stage=LeadStage.CUSTOMER,
                actor=actor,
                now=now,
                reason=f"Opportunity #{opportunity.pk} won",
            )
    return opportunity


def lost_reason_for(code: Any) -> LostReason:
    code = str(code or "").strip()
    if not code:
        raise ValidationFailed(
            "Give the reason the deal was lost.", code="required", field="reason"
        )
    reason = LostReason.objects.filter(code=code, active=True).first()
    if reason is None:
        raise ValidationFailed(f"Unknown lost reason {code!r}.", code="invalid", field="reason")
    return reason


def opportunity_lose(
    *,
    opportunity: Opportunity,
    actor: Actor | None,
    reason: Any,
    lead_effect: str = "recycle",
    note: str = "",
    now: dt.datetime | None = None,
    check_actor: bool = True,
) -> Opportunity:
    """Close as lost with a reason; the lead is recycled to nurture (with a cooldown) or
    disqualified, as the rep chooses."""
    now = now or timezone.now()
    lost_reason = reason if isinstance(reason, LostReason) else lost_reason_for(reason)
    if lead_effect not in LEAD_EFFECTS:
        raise ValidationFailed(
            f"lead_effect must be one of {', '.join(LEAD_EFFECTS)}.", field="lead_effect"
        )
    if check_actor:
        _require(can_work(opportunity, actor), "lose")
    check_move(opportunity.stage, Stage.LOST)
    with transaction.atomic():
        _claim(
            opportunity,
            {
                "stage": Stage.LOST,
                "lost_at": now,
                "lost_reason": lost_reason,
                "lost_note": note or "",
                "updated_at": now,
            },
        )
        _event(
            opportunity=opportunity,
            kind=OpportunityEvent.Kind.LOST,
            actor=actor,
            now=now,
            from_stage=Stage.OPEN,
            amount_before=opportunity.amount,
            payload={"reason": lost_reason.code, "lead_effect": lead_effect, "note": note or ""},
        )
        lead = _lock_lead(opportunity.lead_id)
        if lead_effect == "recycle":
            to_stage = LeadStage.RECYCLED
            extra: dict[str, Any] = {
                "recycle_until": now + dt.timedelta(days=settings.PIPELINE_RECYCLE_DAYS)
            }
        else:
            to_stage, extra = LeadStage.DISQUALIFIED, {}
        if lead.stage == LeadStage.OPPORTUNITY:
            lead_change_stage(
                lead=lead,
                to_stage=to_stage,
                actor=actor,
                now=now,
                reason=f"Opportunity #{opportunity.pk} lost: {lost_reason.code}",
                extra_fields=extra,
            )
    return opportunity

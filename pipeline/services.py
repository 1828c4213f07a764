"""Every write to opportunities: keyword-only functions, atomic, taking `now`.

Every stage change and edit claims the row with a conditional UPDATE (`WHERE id = ... AND
stage = 'open'`): of a win and a lose pressed at the same instant exactly one matches, the other
gets a 409 naming the stage it found. Each change writes one append-only OpportunityEvent (amount
changes keep the amount before and after). The lead follows in the same transaction, through
leads.services.lead_change_stage (one stage-history row per move).

Lock order: the lead row first (opening), or the opportunity claim then the lead row (closing),
as the handoff services do: handoff/opportunity row, then lead row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, DomainError, Forbidden, ValidationFailed
from core.roles import is_manager, is_rep
from handoff.models import Handoff
from handoff.states import Status
from leads.events import lead_ref, listening, publish_event
from leads.models import Lead
from leads.models import Stage as LeadStage
from leads.selectors import score_bands
from leads.services import lead_change_stage, normalise_email
from pipeline import rollup
from pipeline.models import LostReason, Opportunity, OpportunityEvent
from pipeline.states import InvalidTransition, Stage, check_move

LEAD_EFFECTS = ("recycle", "disqualify")
MAX_AMOUNT = Decimal("999999999999.99")
UNSET: Any = object()


# --- input rules ------------------------------------------------------------------------------


def clean_amount(raw: Any, *, field: str = "amount") -> Decimal:
    """A money amount: a finite number >= 0 with at most 2 decimals (strings or numbers)."""
    if raw is None or isinstance(raw, bool) or raw == "":
        raise ValidationFailed("Give an amount.", code="amount_required", field=field)
    try:
        value = Decimal(str(raw).strip()) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} must be a number.", code="invalid", field=field) from None
    if not value.is_finite():
        raise ValidationFailed(f"{field} must be a finite number.", code="invalid", field=field)
    if value < 0:
        raise ValidationFailed(f"{field} must be 0 or more.", code="invalid", field=field)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise ValidationFailed(
            f"{field} has more than 2 decimal places.", code="invalid", field=field
        )
    if value > MAX_AMOUNT:
        raise ValidationFailed(f"{field} is too large.", code="invalid", field=field)
    return value.quantize(Decimal("0.01"))


def clean_currency(raw: Any, *, field: str = "currency") -> str:
    """An ISO 4217 code; empty means the company currency (settings.DEFAULT_CURRENCY)."""
    if raw is None or raw == "":
        return str(settings.DEFAULT_CURRENCY)
    code = str(raw).strip().upper()
    if len(code) != 3 or not code.isalpha() or pycountry.currencies.get(alpha_3=code) is None:
        raise ValidationFailed(
            f"{raw!r} is not an ISO 4217 currency code (e.g. USD, EUR).",
            code="invalid_currency",
            field=field,
        )
    return code


def score_band_label(score: int) -> str:
    """The score band (settings.FEEDBACK_SCORE_BANDS) a score falls in."""
    bands = score_bands()
    label = bands[0][1]
    for low, name in bands:
        if score >= low:
            label = name
    return label


# --- permissions ------------------------------------------------------------------------------


def can_work(opportunity: Opportunity, actor: Any) -> bool:
    """The opportunity's rep and managers act on it."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return is_manager(actor) or (is_rep(actor) and opportunity.owner_id == actor.pk)


def can_open_from(handoff: Handoff, actor: Any) -> bool:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return is_manager(actor) or (is_rep(actor) and handoff.assigned_to_id == actor.pk)


def _require(allowed: bool, verb: str) -> None:
    if not allowed:
        raise Forbidden(f"Only the opportunity's rep or a sales manager can {verb} it.")


# --- the transitions --------------------------------------------------------------------------


def _event(
    *,
    opportunity: Opportunity,
    kind: str,
    actor: Any,
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
    actor: Any,
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
    actor: Any,
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
    actor: Any,
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
    actor: Any,
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


# --- CRM sync ---------------------------------------------------------------------------------


@dataclass
class SyncOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0

    def as_response(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.failed,
            "results": self.results,
        }


SYNC_FIELDS = frozenset(
    {
        "external_id",
        "email",
        "amount",
        "currency",
        "expected_close_date",
        "stage",
        "lost_reason",
        "lost_note",
        "lead_effect",
    }
)


class RowError(DomainError):
    """A row of a sync refused: the row's answer carries its code, field and HTTP status."""


def _clean_row(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationFailed("Each row must be a JSON object.", code="invalid_shape", field="row")
    unknown = sorted(set(raw) - SYNC_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
    row: dict[str, Any] = {}
    external_id = raw.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 100:
        raise ValidationFailed(
            "external_id is required (1-100 characters).", code="required", field="external_id"
        )
    row["external_id"] = external_id.strip()
    email = raw.get("email")
    if email is not None and not isinstance(email, str):
        raise ValidationFailed("email must be a string.", field="email")
    row["email"] = normalise_email(email or "")
    if raw.get("amount") is not None:
        row["amount"] = clean_amount(raw["amount"])
    elif "amount" in raw:
        raise ValidationFailed("amount must be a number.", code="invalid", field="amount")
    if "currency" in raw:
        row["currency"] = clean_currency(raw["currency"] or "")
    if raw.get("expected_close_date") is not None:
        value = raw["expected_close_date"]
        try:
            row["expected_close_date"] = dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed(
                "expected_close_date must be a date like 2026-01-31.",
                code="invalid_date",
                field="expected_close_date",
            ) from None
    stage = raw.get("stage")
    if stage is not None:
        if stage not in Stage.values:
            raise ValidationFailed(
                f"stage must be one of {', '.join(Stage.values)}.", field="stage"
            )
        row["stage"] = stage
    if stage == Stage.LOST:
        row["lost_reason"] = lost_reason_for(raw.get("lost_reason"))
    elif raw.get("lost_reason") is not None:
        raise ValidationFailed("lost_reason goes with stage lost only.", field="lost_reason")
    note = raw.get("lost_note")
    if note is not None and not isinstance(note, str):
        raise ValidationFailed("lost_note must be a string.", field="lost_note")
    row["lost_note"] = note or ""
    effect = raw.get("lead_effect", "recycle")
    if effect not in LEAD_EFFECTS:
        raise ValidationFailed(
            f"lead_effect must be one of {', '.join(LEAD_EFFECTS)}.", field="lead_effect"
        )
    row["lead_effect"] = effect
    return row


def _closed_differs(opportunity: Opportunity, row: dict[str, Any]) -> list[str]:
    """The fields of a row that would rewrite a closed opportunity."""
    differs = []
    if row.get("stage", opportunity.stage) != opportunity.stage:
        differs.append("stage")
    for name in ("amount", "currency", "expected_close_date"):
        if name in row and row[name] != getattr(opportunity, name):
            differs.append(name)
    if "lost_reason" in row and row["lost_reason"].pk != opportunity.lost_reason_id:
        differs.append("lost_reason")
    return differs


def _sync_one(row: dict[str, Any], *, actor: Any, now: dt.datetime) -> tuple[str, Opportunity]:
    created = False
    opportunity = (
        Opportunity.objects.select_for_update(of=("self",))
        .filter(external_id=row["external_id"])
        .first()
    )
    if opportunity is None:
        if not row["email"]:
            raise ValidationFailed(
                f"No opportunity has external_id {row['external_id']!r}; give the lead's email "
                "to link or open one.",
                code="not_found",
                field="external_id",
            )
        lead = Lead.objects.filter(email=row["email"]).first()
        if lead is None:
            raise ValidationFailed(
                f"No lead has the email {row['email']!r}.", code="not_found", field="email"
            )
        opportunity = (
            Opportunity.objects.select_for_update(of=("self",))
            .filter(lead=lead, stage=Stage.OPEN, external_id__isnull=True)
            .first()
        )
        if opportunity is not None:
            Opportunity.objects.filter(pk=opportunity.pk).update(external_id=row["external_id"])
            opportunity.external_id = row["external_id"]
        else:
            handoff = (
                Handoff.objects.filter(lead=lead, status=Status.QUALIFIED)
                .order_by("-qualified_at", "-id")
                .first()
            )
            if handoff is None:
                raise InvalidTransition(
                    f"The lead {row['email']!r} has no qualified handoff to open an "
                    "opportunity from.",
                    code="handoff_not_qualified",
                    field="email",
                )
            opportunity = opportunity_open(
                handoff=handoff,
                actor=actor,
                amount=row.get("amount"),
                currency=row.get("currency"),
                expected_close_date=row.get("expected_close_date"),
                external_id=row["external_id"],
                now=now,
                check_actor=False,
            )
            created = True
    if opportunity.stage != Stage.OPEN:
        differs = _closed_differs(opportunity, row)
        if differs:
            raise InvalidTransition(
                f"Opportunity #{opportunity.pk} is {opportunity.stage}; the row would change "
                f"{', '.join(differs)}. A closed opportunity is never rewritten.",
                code="opportunity_closed",
                field=differs[0],
            )
        return "unchanged", opportunity
    edits = {k: row[k] for k in ("amount", "currency", "expected_close_date") if k in row}
    before = (opportunity.amount, opportunity.currency, opportunity.expected_close_date)
    if edits and not created:
        opportunity_update(
            opportunity=opportunity,
            actor=actor,
            now=now,
            kind=OpportunityEvent.Kind.SYNCED,
            check_actor=False,
            **edits,
        )
    changed = before != (opportunity.amount, opportunity.currency, opportunity.expected_close_date)
    stage = row.get("stage", Stage.OPEN)
    if stage == Stage.WON:
        opportunity_win(opportunity=opportunity, actor=actor, now=now, check_actor=False)
        changed = True
    elif stage == Stage.LOST:
        opportunity_lose(
            opportunity=opportunity,
            actor=actor,
            reason=row["lost_reason"],
            lead_effect=row["lead_effect"],
            note=row["lost_note"],
            now=now,
            check_actor=False,
        )
        changed = True
    if created:
        return "created", opportunity
    return ("updated" if changed else "unchanged"), opportunity


def opportunities_sync(
    *, rows: list[Any], actor: Any, now: dt.datetime | None = None
) -> SyncOutcome:
    """Upsert CRM rows by external_id (or the lead's email on the first sync), each row in its
    own savepoint and answered: created, updated, unchanged, or error (400 bad field, 409 a
    closed opportunity the row would rewrite, or a lost race). Managers only."""
    now = now or timezone.now()
    if not is_manager(actor):
        raise Forbidden("Only sales managers (and the CRM's account) can sync opportunities.")
    outcome = SyncOutcome()
    cleaned: list[dict[str, Any] | DomainError] = []
    for raw in rows:
        try:
            cleaned.append(_clean_row(raw))
        except DomainError as exc:
            cleaned.append(exc)
    seen: dict[str, int] = {}
    for item in cleaned:
        if isinstance(item, dict):
            seen[item["external_id"]] = seen.get(item["external_id"], 0) + 1
    for index, item in enumerate(cleaned):
        answer: dict[str, Any] = {"row": index}
        if isinstance(item, dict):
            answer["external_id"] = item["external_id"]
            if seen[item["external_id"]] > 1:
                item = ValidationFailed(
                    "This external_id appears more than once in the batch.",
                    code="duplicate_row",
                    field="external_id",
                )
        if isinstance(item, dict):
            try:
                with transaction.atomic():
                    status, opportunity = _sync_one(item, actor=actor, now=now)
            except DomainError as exc:
                item = exc
            else:
                answer.update(status=status, id=opportunity.pk, stage=opportunity.stage)
                setattr(outcome, status, getattr(outcome, status) + 1)
        if isinstance(item, DomainError):
            outcome.failed += 1
            answer.update(
                status="error",
                code=item.code,
                http_status=item.http_status,
                errors={item.field or "non_field_errors": [item.message]},
            )
        outcome.results.append(answer)
    return outcome


def opportunity_sync_one(*, row: Any, now: dt.datetime | None = None) -> tuple[str, Opportunity]:
    """One CRM row, applied as `opportunities_sync` applies each row, its error raised: for a
    caller that authenticated the CRM itself (a signed inbound event)."""
    now = now or timezone.now()
    with transaction.atomic():
        return _sync_one(_clean_row(row), actor=None, now=now)

"""CRM sync: upsert CRM rows by external_id (or the lead's email on the first sync), each row
in its own savepoint and answered created, updated, unchanged or error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError, Forbidden, ValidationFailed
from core.roles import is_manager
from core.types import Actor
from handoff.models import Handoff
from handoff.states import Status
from leads.models import Lead
from leads.services import normalise_email
from pipeline.models import Opportunity, OpportunityEvent
from pipeline.services.rules import LEAD_EFFECTS, clean_amount, clean_currency
from pipeline.services.transitions import (
    lost_reason_for,
    opportunity_lose,
    opportunity_open,
    opportunity_update,
    opportunity_win,
)
from pipeline.states import InvalidTransition, Stage

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
    """A CRM row checked field by field (the first bad field raises ValidationFailed)."""
    if not isinstance(raw, dict):
        raise ValidationFailed("Each row must be a JSON object.", code="invalid_shape", field="row")
    unknown = sorted(set(raw) - SYNC_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
    return {**_clean_identity(raw), **_clean_terms(raw), **_clean_outcome(raw)}


def _clean_identity(raw: dict[str, Any]) -> dict[str, Any]:
    """external_id (required) and the lead's email (optional)."""
    external_id = raw.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 100:
        raise ValidationFailed(
            "external_id is required (1-100 characters).", code="required", field="external_id"
        )
    email = raw.get("email")
    if email is not None and not isinstance(email, str):
        raise ValidationFailed("email must be a string.", field="email")
    return {"external_id": external_id.strip(), "email": normalise_email(email or "")}


def _clean_terms(raw: dict[str, Any]) -> dict[str, Any]:
    """amount, currency and expected_close_date: each only when the row gives it."""
    row: dict[str, Any] = {}
    if raw.get("amount") is not None:
        row["amount"] = clean_amount(raw["amount"])
    elif "amount" in raw:
        raise ValidationFailed("amount must be a number.", code="invalid", field="amount")
    if "currency" in raw:
        row["currency"] = clean_currency(raw["currency"] or "")
    if raw.get("expected_close_date") is not None:
        try:
            row["expected_close_date"] = dt.date.fromisoformat(str(raw["expected_close_date"]))
        except ValueError:
            raise ValidationFailed(
                "expected_close_date must be a date like 2026-01-31.",
                code="invalid_date",
                field="expected_close_date",
            ) from None
    return row


def _clean_outcome(raw: dict[str, Any]) -> dict[str, Any]:
    """stage, and with a loss its reason, note and what happens to the lead."""
    row: dict[str, Any] = {}
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


def _sync_one(
    row: dict[str, Any], *, actor: Actor | None, now: dt.datetime
) -> tuple[str, Opportunity]:
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
    *, rows: list[Any], actor: Actor, now: dt.datetime | None = None
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

"""Events a CRM sends in, signed the Standard Webhooks way.

`crm_event_receive` verifies the signature against every active integration's secrets (and the
timestamp within 5 minutes), answers a webhook-id it already applied as a duplicate without
doing anything again, validates the envelope and the event's `data`, and applies it in one
transaction: everything or nothing. A malformed or unknown event is refused naming what is
wrong, and logged (InboundEvent, status rejected) for the admin; nothing else is written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, DomainError, ValidationFailed
from integrations import signing
from integrations.models import CrmIntegration, InboundEvent
from leads.models import Lead
from leads.serializers import LeadWriteSerializer
from leads.services import lead_update, normalise_email
from pipeline.services import opportunity_sync_one

# What a CRM may change on a lead's contact record (never owner, stage, source or score).
CONTACT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "title",
    "company",
    "industry",
    "employee_band",
    "country",
)


class Unauthorized(Exception):
    """The signature (or its timestamp) does not verify: HTTP 401."""


@dataclass(frozen=True)
class Received:
    event: InboundEvent
    duplicate: bool


Handler = Callable[[dict[str, Any], dt.datetime], dict[str, Any]]


def _integration_for(body: bytes, headers: dict[str, str], now: dt.datetime) -> CrmIntegration:
    last = "No CRM integration is set up."
    for integration in CrmIntegration.objects.filter(active=True).order_by("id"):
        in_force = signing.signing_secrets(
            integration.secret,
            integration.previous_secret,
            integration.previous_secret_expires_at,
            now=now,
        )
        try:
            signing.verify(body=body, request_headers=headers, secrets_in_force=in_force)
        except signing.WebhookVerificationError as exc:
            last = str(exc)
            continue
        return integration
    raise Unauthorized(f"The signature does not verify: {last}")


def _reject(
    *,
    integration: CrmIntegration,
    webhook_id: str,
    event_type: str,
    payload: Any,
    error: DomainError,
    now: dt.datetime,
) -> None:
    InboundEvent.objects.create(
        integration=integration,
        webhook_id=webhook_id[:200],
        event_type=event_type[:64],
        received_at=now,
        status=InboundEvent.Status.REJECTED,
        error=f"{error.field}: {error.message}" if error.field else error.message,
        payload=payload if isinstance(payload, dict) else None,
    )


def crm_event_receive(
    *, body: bytes, headers: dict[str, str], now: dt.datetime | None = None
) -> Received:
    now = now or timezone.now()
    headers = {k.lower(): v for k, v in headers.items()}
    integration = _integration_for(body, headers, now)
    webhook_id = headers.get("webhook-id", "")
    done = InboundEvent.objects.filter(webhook_id=webhook_id, status=InboundEvent.Status.APPLIED)
    previous = done.first()
    if previous is not None:
        return Received(previous, duplicate=True)
    payload: Any = None
    event_type = ""
    try:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise ValidationFailed(f"The body is not JSON ({exc}).", field="body") from exc
        if not isinstance(payload, dict):
            raise ValidationFailed("The body must be a JSON object.", field="body")
        raw_type = payload.get("type")
        event_type = raw_type if isinstance(raw_type, str) else ""
        if not event_type:
            raise ValidationFailed("Give the event type.", field="type")
        handler = HANDLERS.get(event_type)
        if handler is None:
            raise ValidationFailed(
                f"Unknown event type {event_type!r}; this desk takes "
                f"{', '.join(sorted(HANDLERS))}.",
                field="type",
            )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ValidationFailed("data must be a JSON object.", field="data")
        with transaction.atomic():
            result = handler(data, now)
            event = InboundEvent.objects.create(
                integration=integration,
                webhook_id=webhook_id,
                event_type=event_type,
                received_at=now,
                status=InboundEvent.Status.APPLIED,
                payload=payload,
                result=result,
                lead_id=result.get("lead_id"),
            )
    except DomainError as exc:
        if isinstance(exc, ValidationFailed) or exc.http_status == 400:
            _reject(
                integration=integration,
                webhook_id=webhook_id,
                event_type=event_type,
                payload=payload,
                error=exc,
                now=now,
            )
        raise
    except IntegrityError as exc:
        # The same webhook-id applied by a concurrent request a moment ago: it won.
        raise Conflict(
            "This event is being applied by another request; retry to see it as a duplicate.",
            code="duplicate_in_flight",
        ) from exc
    return Received(event, duplicate=False)


def _contact_updated(data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ValidationFailed(
            "Give the contact's email (the lead's current one).", field="data.email"
        )
    lead = Lead.objects.filter(email=normalise_email(email)).first()
    if lead is None:
        raise ValidationFailed(f"No lead has the email {email.strip()}.", field="data.email")
    changes = data.get("changes")
    if not isinstance(changes, dict) or not changes:
        raise ValidationFailed(
            f"Give the changed fields as an object (any of {', '.join(CONTACT_FIELDS)}).",
            field="data.changes",
        )
    unknown = sorted(set(changes) - set(CONTACT_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"{unknown[0]} cannot be changed from the CRM; use any of {', '.join(CONTACT_FIELDS)}.",
            field=f"data.changes.{unknown[0]}",
        )
    serializer = LeadWriteSerializer(lead, data=changes, partial=True)
    if not serializer.is_valid():
        name, problems = next(iter(serializer.errors.items()))
        raise ValidationFailed(str(problems[0]), field=f"data.changes.{name}")
    updated = lead_update(lead=lead, data=dict(serializer.validated_data), now=now)
    return {"lead_id": updated.pk, "changed": sorted(changes)}


def _opportunity(stage: str | None) -> Handler:
    """opportunity.updated|won|lost: upsert the desk's opportunity by external_id through the
    revenue loop's sync (its row rules and answers: 400 a bad field, 409 a closed opportunity
    the event would rewrite); the event type says the stage."""

    def handle(data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        if "stage" in data:
            raise ValidationFailed(
                "The event type says the stage (opportunity.won, opportunity.lost); leave "
                "stage out.",
                field="data.stage",
            )
        row = {**data, **({"stage": stage} if stage else {})}
        try:
            status, opportunity = opportunity_sync_one(row=row, now=now)
        except DomainError as exc:
            exc.field = f"data.{exc.field}" if exc.field and exc.field != "row" else "data"
            raise
        return {
            "opportunity_id": opportunity.pk,
            "status": status,
            "stage": opportunity.stage,
            "lead_id": opportunity.lead_id,
        }

    return handle


HANDLERS: dict[str, Handler] = {
    "contact.updated": _contact_updated,
    "opportunity.updated": _opportunity(None),
    "opportunity.won": _opportunity("won"),
    "opportunity.lost": _opportunity("lost"),
}

"""Writes of the integrations: endpoints and CRM integrations (managers only), redelivery and
replay. Keyword-only, atomic, `now` injected."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Forbidden, ValidationFailed
from core.outbox import enqueue_task
from core.roles import is_manager
from integrations import chat, signing, ssrf
from integrations.delivery import DELIVER_TASK
from integrations.models import CrmIntegration, Endpoint, Message

EVENT_TYPES: tuple[str, ...] = (
    "lead.promoted",
    "handoff.assigned",
    "handoff.accepted",
    "handoff.info_requested",
    "handoff.info_provided",
    "handoff.returned",
    "handoff.qualified",
    "handoff.at_risk",
    "handoff.breached",
    "handoff.reassigned",
    "handoff.unassigned",
    "feedback.acknowledged",
    "feedback.disputed",
    "opportunity.opened",
    "opportunity.updated",
    "opportunity.won",
    "opportunity.lost",
)
ENDPOINT_FIELDS = ("url", "description", "event_types", "active", "kind", "team")


def _require_manager(actor: Any) -> None:
    if actor is not None and not is_manager(actor):
        raise Forbidden("Only sales managers manage integrations.")


def rotation_grace() -> dt.timedelta:
    return dt.timedelta(hours=float(settings.WEBHOOK_SECRET_ROTATION_HOURS))


def clean_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("Give the URL events are POSTed to.", field="url")
    url = url.strip()
    try:
        ssrf.resolve(url)
    except ssrf.UnsafeUrl as exc:
        raise ValidationFailed(f"This URL cannot receive events: {exc}", field="url") from exc
    return url


def clean_event_types(value: Any, *, kind: str) -> list[str]:
    if kind == Endpoint.Kind.CHAT and value in (None, []):
        return sorted(chat.CHAT_TYPES)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(
            'Give event_types as a list of event type names, or ["*"] for all.',
            field="event_types",
        )
    known = set(EVENT_TYPES) | {"*"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValidationFailed(
            f"Unknown event type {unknown[0]!r}; use {', '.join(EVENT_TYPES)} or *.",
            field="event_types",
        )
    if kind == Endpoint.Kind.CHAT and not set(value) <= set(chat.CHAT_TYPES) | {"*"}:
        raise ValidationFailed(
            f"A chat endpoint gets only {', '.join(sorted(chat.CHAT_TYPES))}.",
            field="event_types",
        )
    return sorted(set(value))


def endpoint_create(
    *, data: dict[str, Any], actor: Any = None, now: dt.datetime | None = None
) -> Endpoint:
    """A new endpoint with a fresh `whsec_` secret (the caller shows it once)."""
    _require_manager(actor)
    now = now or timezone.now()
    kind = data.get("kind") or Endpoint.Kind.WEBHOOK
    if kind not in Endpoint.Kind.values:
        raise ValidationFailed(
            f"kind must be one of {', '.join(Endpoint.Kind.values)}.", field="kind"
        )
    endpoint = Endpoint(
        kind=kind,
        url=clean_url(data.get("url")),
        description=(data.get("description") or "").strip(),
        event_types=clean_event_types(data.get("event_types"), kind=kind),
        team=data.get("team"),
        active=bool(data.get("active", True)),
        secret=signing.new_secret(),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    endpoint.save(force_insert=True)
    return endpoint


def endpoint_update(
    *, endpoint: Endpoint, data: dict[str, Any], actor: Any = None, now: dt.datetime | None = None
) -> Endpoint:
    _require_manager(actor)
    now = now or timezone.now()
    unknown = sorted(set(data) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ValidationFailed(f"{unknown[0]} cannot be changed.", field=unknown[0])
    kind = data.get("kind", endpoint.kind)
    if kind not in Endpoint.Kind.values:
        raise ValidationFailed(
            f"kind must be one of {', '.join(Endpoint.Kind.values)}.", field="kind"
        )
    fields: dict[str, Any] = {"updated_at": now, "kind": kind}
    if "url" in data:
        fields["url"] = clean_url(data["url"])
    if "description" in data:
        fields["description"] = (data["description"] or "").strip()
    if "event_types" in data or kind != endpoint.kind:
        fields["event_types"] = clean_event_types(
            data.get("event_types", endpoint.event_types), kind=kind
        )
    if "team" in data:
        fields["team"] = data["team"]
    if "active" in data:
        fields["active"] = bool(data["active"])
        if fields["active"] and not endpoint.active:
            # Enabled again: a fresh start, and what waited is sent now.
            fields.update(disabled_at=None, disabled_reason="", failing_since=None)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=list(fields))
        if fields.get("active"):
            enqueue_task(DELIVER_TASK, endpoint_id=endpoint.pk)
    return endpoint


def endpoint_delete(*, endpoint: Endpoint, actor: Any = None) -> None:
    _require_manager(actor)
    endpoint.delete()


def endpoint_rotate_secret(
    *, endpoint: Endpoint, actor: Any = None, now: dt.datetime | None = None
) -> Endpoint:
    """A new secret; the old one keeps signing beside it for WEBHOOK_SECRET_ROTATION_HOURS, so
    receivers can switch without losing a message."""
    _require_manager(actor)
    now = now or timezone.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + rotation_grace()
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    endpoint.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    return endpoint


def message_redeliver(
    *, message: Message, actor: Any = None, now: dt.datetime | None = None
) -> None:
    """Send one message again now (delivered or not), with a fresh retry schedule."""
    _require_manager(actor)
    now = now or timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.PENDING, next_attempt_at=now, attempts=0
        )
        enqueue_task(DELIVER_TASK, endpoint_id=message.endpoint_id)


def endpoint_replay_since(
    *, endpoint: Endpoint, since: dt.datetime, actor: Any = None, now: dt.datetime | None = None
) -> int:
    """Send again every message of the endpoint created since `since`; returns how many."""
    _require_manager(actor)
    now = now or timezone.now()
    if since > now:
        raise ValidationFailed("since must be in the past.", field="since")
    with transaction.atomic():
        count = Message.objects.filter(endpoint=endpoint, created_at__gte=since).update(
            status=Message.Status.PENDING, next_attempt_at=now, attempts=0
        )
        if count:
            enqueue_task(DELIVER_TASK, endpoint_id=endpoint.pk)
    return count


def crm_integration_create(
    *, name: str, actor: Any = None, now: dt.datetime | None = None
) -> CrmIntegration:
    _require_manager(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Name the integration.", field="name")
    if CrmIntegration.objects.filter(name=name).exists():
        raise ValidationFailed("An integration of this name exists.", field="name")
    return CrmIntegration.objects.create(
        name=name, secret=signing.new_secret(), created_at=now or timezone.now()
    )


def crm_integration_rotate_secret(
    *, integration: CrmIntegration, actor: Any = None, now: dt.datetime | None = None
) -> CrmIntegration:
    """A new secret; events signed with the old one are accepted for 24 h more."""
    _require_manager(actor)
    now = now or timezone.now()
    integration.previous_secret = integration.secret
    integration.previous_secret_expires_at = now + rotation_grace()
    integration.secret = signing.new_secret()
    integration.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return integration

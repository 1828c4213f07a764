"""Thin Celery tasks: take ids, call one service, safe to run twice."""

from __future__ import annotations

import smtplib

from celery import shared_task

from leads import outbox, services
from leads.models import Lead


@shared_task(name="leads.tasks.leads_rescore_all")
def leads_rescore_all(version: int | None = None) -> int:
    """Rescore every lead: queued by every rule change (with its version) and run periodically
    by beat (without one), because engagement points decay as days pass."""
    return services.leads_rescore_all(version=version)


@shared_task(name="leads.tasks.lead_rescore")
def lead_rescore(lead_id: int) -> int | None:
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        return None
    return services.lead_rescore(lead=lead).total


@shared_task(name="leads.tasks.idempotency_purge")
def idempotency_purge() -> int:
    return services.idempotency_purge()


@shared_task(name="leads.tasks.outbox_relay")
def outbox_relay() -> dict[str, object]:
    """Publish the pending outbox rows (beat, every OUTBOX_RELAY_INTERVAL_SECONDS)."""
    return outbox.outbox_relay().summary()


@shared_task(name="leads.tasks.outbox_purge")
def outbox_purge() -> int:
    return outbox.outbox_purge()


@shared_task(
    name="leads.tasks.lead_re_engaged_notify",
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=8,
)
def lead_re_engaged_notify(lead_id: int) -> bool:
    """Email the owner of a recycled lead that came back with new intent (once per comeback)."""
    return services.lead_re_engaged_notify(lead_id=lead_id)

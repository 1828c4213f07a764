"""Thin Celery tasks: take ids, call one service, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from core import outbox
from leads import services
from leads.imports import services as imports
from leads.models import Lead

logger = logging.getLogger(__name__)


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
    purged = services.idempotency_purge()
    if purged:
        logger.info("idempotency purge: %s expired keys removed", purged)
    return purged


@shared_task(name="leads.tasks.outbox_relay")
def outbox_relay() -> dict[str, object]:
    """Publish the pending outbox rows (beat, every OUTBOX_RELAY_INTERVAL_SECONDS)."""
    summary = outbox.outbox_relay().summary()
    if summary["published"]:  # idle runs are DEBUG (config.quiet_logs); work done is INFO
        logger.info("outbox relay: published %s task messages", summary["published"])
    return summary


@shared_task(name="leads.tasks.outbox_purge")
def outbox_purge() -> int:
    purged = outbox.outbox_purge()
    if purged:
        logger.info("outbox purge: %s published messages removed", purged)
    return purged


@shared_task(name="leads.tasks.lead_import_run")
def lead_import_run(lead_import_id: int) -> str:
    """Write a confirmed import from the import page (leads.imports.services)."""
    return imports.lead_import_run(lead_import_id=lead_import_id)


@shared_task(name="leads.tasks.lead_import_check")
def lead_import_check(lead_import_id: int) -> str:
    """The dry run of a large file from the import page."""
    return imports.lead_import_check_run(lead_import_id=lead_import_id)


@shared_task(name="leads.tasks.lead_imports_purge")
def lead_imports_purge() -> int:
    return imports.lead_imports_purge()


@shared_task(name="leads.tasks.lead_re_engaged_notify")
def lead_re_engaged_notify(lead_id: int) -> bool:
    """A message queued before re-engagement notices went through the notification outbox:
    writes the owner's notification there (rescoring now writes it directly)."""
    return services.lead_re_engaged_notify(lead_id=lead_id)

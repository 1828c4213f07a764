"""Celery tasks of the handoff app: thin, idempotent, each calls one service.

Both run from the static beat schedule (config/settings/base.py, CELERY_BEAT_SCHEDULE); the
sender is also queued on commit by every transaction that writes to the outbox. Running either
twice is harmless: the sweep's advisory lock and conditional updates, and the sender's leases,
make a second copy find nothing to do. acks_late and task_reject_on_worker_lost are on for every
task (settings), so a worker killed mid-run leaves the message to be redelivered, and the
work it had not committed is simply done by the next run.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from handoff import autopromotion, notifications, sweep

logger = logging.getLogger(__name__)


@shared_task(name="handoff.tasks.sla_sweep")
def sla_sweep() -> dict[str, Any]:
    return sweep.sla_sweep().summary()


@shared_task(name="handoff.tasks.notifications_send")
def notifications_send() -> dict[str, int]:
    result = notifications.notifications_send()
    counts = {
        "sent": len(result.sent),
        "failed": len(result.failed),
        "gave_up": len(result.gave_up),
    }
    if any(counts.values()):  # idle runs are DEBUG (config.quiet_logs); work done is INFO
        logger.info("notifications: sent %(sent)s, failed %(failed)s, gave up %(gave_up)s", counts)
    return counts


@shared_task(name="handoff.tasks.auto_promotions_release")
def auto_promotions_release() -> int:
    return autopromotion.auto_promotions_release()

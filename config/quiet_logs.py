"""Keep the worker's log for what an operator needs: work done at INFO, idle ticks at DEBUG.

Beat runs a few housekeeping tasks every few seconds (the outbox relay every 2 s). Celery logs
each one three times at INFO (beat sending it, the worker receiving it, its success), which
buried everything else: about 80 lines a minute from a desk doing nothing. Those three lines
are DEBUG for the tasks below; each task logs its own INFO line when it did something
(`outbox relay: published ...`, `sla sweep: ...`, `notifications: sent ...`).
"""

from __future__ import annotations

import logging

QUIET_TASKS = frozenset(
    {
        "leads.tasks.outbox_relay",
        "leads.tasks.outbox_purge",
        "leads.tasks.idempotency_purge",
        "handoff.tasks.sla_sweep",
        "handoff.tasks.notifications_send",
    }
)
# The loggers Celery writes those lines to (and, for a tick that expired in the queue while
# the worker was busy, "Discarding revoked task").
TICK_LOGGERS = (
    "celery.beat",
    "celery.worker.strategy",
    "celery.app.trace",
    "celery.worker.request",
)


def _is_tick(record: logging.LogRecord) -> bool:
    args = record.args
    if isinstance(args, dict):  # worker: {"name": ..., "id": ...}
        return str(args.get("name", "")) in QUIET_TASKS
    if isinstance(args, tuple):  # beat: (entry, task); request: (task, id)
        return any(str(arg) in QUIET_TASKS for arg in args)
    return False


def _quiet() -> bool:
    """LOG_QUIET_TICKS (default on); off, every tick is logged at INFO as Celery writes it
    (the worker tests wait for a sweep's line)."""
    from django.conf import settings

    return not settings.configured or bool(getattr(settings, "LOG_QUIET_TICKS", True))


class QuietTicks(logging.Filter):
    """Demote the tick lines of QUIET_TASKS to DEBUG (dropped unless DEBUG is enabled)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not _is_tick(record) or not _quiet():
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def install() -> None:
    """Attach the filter to Celery's tick loggers (once; safe to call again)."""
    for name in TICK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietTicks) for f in logger.filters):
            logger.addFilter(QuietTicks())

"""Thin Celery tasks of the feedback app."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from feedback import digest


@shared_task(name="feedback.tasks.alignment_digest")
def alignment_digest() -> dict[str, int]:
    """Beat runs this every DIGEST_CHECK_INTERVAL_SECONDS (hourly): each recipient whose Monday
    morning it is in their own zone gets the week that just ended there, once; every run
    retries unsent rows of earlier weeks."""
    return digest.digest_send_due(now=timezone.now())


@shared_task(name="feedback.tasks.feedback_rollup_compact")
def feedback_rollup_compact() -> int | None:
    """Beat runs this every FEEDBACK_ROLLUP_COMPACT_SECONDS: the correction rows the handoff
    triggers appended since are folded into their months, so a read finds few to add (a read
    still folds them itself past rollup.COMPACT_AFTER). Rows folded; None if another ran."""
    from feedback import rollup

    return rollup.compact(after=0)

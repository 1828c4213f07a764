"""Thin Celery tasks of the feedback app."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from feedback import digest


@shared_task(name="feedback.tasks.alignment_digest")
def alignment_digest() -> dict[str, int]:
    """Beat runs this every few minutes: on Monday morning (DIGEST_* settings) it sends last
    week's digest to whoever has not had it; every run retries unsent rows of earlier weeks."""
    now = timezone.now()
    week = digest.digest_due(now)
    if week is not None:
        return digest.digest_send(week=week, now=now)
    return digest.digest_deliver(now=now)

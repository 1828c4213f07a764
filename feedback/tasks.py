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

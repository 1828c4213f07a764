"""Thin Celery tasks of the pipeline app."""

from __future__ import annotations

from celery import shared_task

from pipeline import rollup


@shared_task(name="pipeline.tasks.revenue_rollup_refresh")
def revenue_rollup_refresh() -> int:
    """Beat runs this every minute: recount the promotion days that changes marked dirty. The
    number of days recounted (-1: another worker's refresh was running)."""
    days = rollup.refresh_dirty()
    return -1 if days is None else len(days)

"""The models of core: the task outbox's rows (core.outbox queues and relays them)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """The task outbox: a Celery task to publish, written in the transaction that wants it.

    Requests never talk to the broker: a relay (a periodic task, and a best-effort attempt right
    after commit) publishes pending rows and marks them published, so a broker outage delays
    tasks but never fails a request or loses one.
    """

    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict, blank=True)
    # Equal keys collapse while unpublished (ten notifications in one transaction: one send).
    dedupe_key = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    available_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table kept its name when the model moved here from leads (no data moved).
        db_table = "leads_outboxmessage"
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(published_at__isnull=True) & ~Q(dedupe_key=""),
                name="outbox_pending_dedupe",
            )
        ]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="outbox_pending",
                condition=Q(published_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.task} ({'published' if self.published_at else 'pending'})"

"""The notification outbox: one row per message, written in the transaction that caused it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from handoff.models.events import HandoffEvent
from handoff.models.handoff import Handoff


class Notification(models.Model):
    """The notification outbox: written in the transaction that caused it, sent by a task,
    marked sent only after the send succeeded, retried with backoff."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "New handoff assigned"
        AT_RISK = "at_risk", "Handoff at risk"
        BREACHED = "breached", "SLA breached"
        FIRST_TOUCH_AT_RISK = "first_touch_at_risk", "First touch at risk"
        FIRST_TOUCH_BREACHED = "first_touch_breached", "First touch overdue"
        UNASSIGNED = "unassigned", "Handoff needs an owner"
        INFO_REQUESTED = "info_requested", "Sales asked for information"
        INFO_PROVIDED = "info_provided", "Marketing answered"
        RETURNED = "returned", "Lead returned to marketing"
        DISPUTED = "disputed", "Marketing disputed a return"
        DISPUTE_RESOLVED = "dispute_resolved", "A disputed return was resolved"
        RE_ENGAGED = "re_engaged", "Lead re-engaged after return"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # No index of its own: notification_once_per_event (event, recipient, kind) leads with it
    # and serves every lookup by event (the cascade from an event included). One index fewer
    # to write per outbox row; the sweep writes thousands per run.
    event = models.ForeignKey(
        HandoffEvent,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One message per event and recipient: a sweep run twice cannot notify twice.
            models.UniqueConstraint(
                fields=["event", "recipient", "kind"], name="notification_once_per_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_unsent",
                condition=Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_email}"

"""The notification outbox: one row per message, written in the transaction that caused it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from handoff.models.events import HandoffEvent
from handoff.models.handoff import Handoff


class Notification(models.Model):
    """The notification outbox: written in the transaction that caused it, sent by a task,
    marked sent only after the send succeeded, retried with backoff.

    An append-only log, written in bulk by the sweep (thousands of rows per run), so it is kept
    cheap to write: its foreign keys have no database constraint (`db_constraint=False`) and it
    has no unique constraint.

    - No foreign-key checks: every row is written by this code base in the transaction that
      flagged, created or changed what it points at (the handoff, its event, a user read in the
      same transaction), so the check could only ever pass; events cannot be deleted at all
      (a trigger refuses it, migration 0006), and deleting a handoff or a user goes through
      Django, which still cascades (the handoff's messages) or sets NULL (the recipient) in
      Python, as `on_delete` says. What the checks cost was one index probe into three tables
      per outbox row, at commit.
    - No unique (event, recipient, kind): exactly once comes from the sweep's claim. A batch
      claims its rows (`FOR UPDATE SKIP LOCKED`), flags them with a conditional UPDATE and
      writes their events and messages in the same transaction, so a row is flagged, and
      told, once or (rolled back) not at all, and a second sweep finds nothing unflagged; a
      grouped breach alert (`BREACHES`) belongs to no single event, which such a constraint
      could not cover anyway.
    """

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "New handoff assigned"
        AT_RISK = "at_risk", "Handoff at risk"
        BREACHED = "breached", "SLA breached"
        # One message for many breaches of one sweep batch to the same manager (storm
        # suppression, see handoff.sweep.ladder.group_breaches): no handoff, no event.
        BREACHES = "breaches", "SLA breaches, grouped"
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
    # Indexed: the speed-to-lead report, erasure, the demo and a handoff's deletion read by it.
    handoff = models.ForeignKey(
        Handoff,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_constraint=False,
    )
    # No index: nothing reads the outbox by event, and events are never deleted.
    event = models.ForeignKey(
        HandoffEvent,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Indexed: deleting a user sets it to NULL (in Python), which without it scans the outbox.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
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
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notification_unsent",
                condition=Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_email}"

"""The append-only log of what happened to each handoff."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from handoff.models.handoff import Handoff
from handoff.states import Status


class HandoffEvent(models.Model):
    """Append-only: what happened to a handoff, who did it and when. `id` is the sequence."""

    class Kind(models.TextChoices):
        CREATED = "created", "Promoted"
        TRANSITION = "transition", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Sent to the manager's queue"
        AT_RISK = "at_risk", "At risk"
        BREACHED = "breached", "SLA breached"
        FIRST_TOUCH_AT_RISK = "first_touch_at_risk", "First touch at risk"
        FIRST_TOUCH_BREACHED = "first_touch_breached", "First touch overdue"
        FIRST_TOUCH = "first_touch", "First touch logged"
        ESCALATED = "escalated", "Escalated to the manager"

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)
    at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["handoff", "id"], name="handoffevent_handoff_seq")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.at:%Y-%m-%d %H:%M}"

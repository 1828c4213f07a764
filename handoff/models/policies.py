"""SLA policies: how fast sales must answer the handoffs each covers, and what happens when it
does not."""

from __future__ import annotations

from django.db import models

from handoff.models.calendars import BusinessCalendar
from handoff.models.teams import Team
from leads.history import AuditRecords
from leads.models import Source


class SlaPolicy(models.Model):
    """How fast sales must answer a handoff it covers, and what happens when it does not."""

    name = models.CharField(max_length=100, unique=True)
    # Bumped on every edit; the handoff keeps a snapshot, so editing never rewrites history.
    version = models.PositiveIntegerField(default=1)
    # Matching: empty / null matches anything.
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="policies"
    )
    min_score = models.IntegerField(null=True, blank=True)
    max_score = models.IntegerField(null=True, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text=f"Any of {Source.values}")
    requires_high_intent = models.BooleanField(
        default=False, help_text="Covers only leads with a recent high-intent event (demo...)."
    )
    requires_pql = models.BooleanField(
        default=False, help_text="Covers only product-qualified leads (PQLs)."
    )
    precedence = models.PositiveIntegerField(
        default=100, help_text="When several policies match, the lowest precedence wins."
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: the team's calendar.",
    )
    accept_within_minutes = models.PositiveIntegerField(help_text="Business minutes.")
    first_touch_within_minutes = models.PositiveIntegerField(help_text="Business minutes.")
    at_risk_ratio = models.FloatField(default=0.75, help_text="Warn when this share has elapsed.")
    notify_manager_on_breach = models.BooleanField(default=True)
    reassign_on_breach = models.BooleanField(default=False)
    max_reassignments = models.PositiveIntegerField(default=2)
    # A tight policy only assigns reps who are inside their working hours right now.
    skip_reps_off_hours = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["precedence", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

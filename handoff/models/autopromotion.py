"""Auto-promotion: the rules by which the system promotes a lead by itself, and the log of
each firing."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from handoff.models.handoff import Handoff
from leads.history import AuditRecords
from leads.models import Campaign, Lead, Source


class AutoPromotionRule(models.Model):
    """When the system promotes a lead by itself, the moment a qualifying event arrives.

    Data that marketing edits (admin, /api/scoring/auto-promotion/). A lead matches when an
    event of one of `event_kinds` arrives within `within_minutes` of its `occurred_at`, and
    every other condition set here holds (an empty list or a null bound matches anything).
    """

    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    event_kinds = models.JSONField(
        default=list, help_text='Any of these arriving triggers the rule, e.g. ["demo_request"].'
    )
    within_minutes = models.PositiveIntegerField(
        default=60,
        help_text="The event must have happened at most this many minutes before it arrived.",
    )
    min_score = models.IntegerField(null=True, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text=f"Any of {Source.values}")
    campaigns = models.ManyToManyField(Campaign, blank=True, related_name="+")
    fit_rules = models.ManyToManyField(
        "leads.FitRule",
        blank=True,
        related_name="+",
        help_text="Fit rules that must all match the lead (their points do not matter).",
    )
    requires_pql = models.BooleanField(
        default=False,
        help_text="Only product-qualified leads (a PQL criterion met when the event arrives).",
    )
    hold_outside_hours = models.BooleanField(
        default=False,
        help_text="Outside the target team's working hours, wait for the next window to open.",
    )
    max_per_hour = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many promotions by this rule in any hour; the rest wait for "
        "a marketer, flagged.",
    )
    order = models.PositiveIntegerField(default=100, help_text="Rules are tried lowest first.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Audit rows of every change (the rule's campaign and fit-rule lists are not tracked).
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({'on' if self.active else 'off'})"


class AutoPromotion(models.Model):
    """One firing of an auto-promotion rule for a lead, and what came of it (the log that
    marketers read: promoted, already promoted, held for working hours, over the ceiling...)."""

    class Outcome(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        ALREADY = "already_promoted", "Already promoted"
        BLOCKED = "blocked", "Blocked by a promotion guard"
        HELD = "held", "Held until working hours"
        OVER_CEILING = "over_ceiling", "Over the hourly ceiling: waits for a marketer"
        FAILED = "failed", "Could not be routed"

    rule = models.ForeignKey(
        AutoPromotionRule, null=True, on_delete=models.SET_NULL, related_name="firings"
    )
    rule_name = models.CharField(max_length=100)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_kind = models.CharField(max_length=32)
    signal_at = models.DateTimeField(help_text="When the triggering event happened.")
    received_at = models.DateTimeField(help_text="When the desk received it.")
    created_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    code = models.CharField(max_length=50, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "created_at"], name="autopromo_lead"),
            # The hourly ceiling: promotions by a rule, by when they went out.
            models.Index(fields=["rule", "outcome", "resolved_at"], name="autopromo_rule_outcome"),
            models.Index(
                fields=["release_at"],
                name="autopromo_held",
                condition=Q(outcome="held", resolved_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name}: lead {self.lead_id} {self.outcome}"

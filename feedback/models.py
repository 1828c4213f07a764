"""Why sales returned a lead, and marketing's answer: the loop that teaches the MQL threshold."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from handoff.models import Handoff
from leads.history import AuditRecords
from leads.models import FitRule, Lead


class RejectionReason(models.Model):
    class Category(models.TextChoices):
        FIT = "fit", "Fit"
        TIMING = "timing", "Timing"
        DATA_QUALITY = "data_quality", "Data quality"
        DUPLICATE = "duplicate", "Duplicate"
        OTHER = "other", "Other"

    class Effect(models.TextChoices):
        RECYCLE = "recycle", "Recycle to nurture"
        DISQUALIFY = "disqualify", "Disqualify"

    code = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    category = models.CharField(max_length=16, choices=Category.choices)
    note_required = models.BooleanField(default=False)
    effect = models.CharField(max_length=16, choices=Effect.choices, default=Effect.RECYCLE)
    recycle_days = models.PositiveIntegerField(
        default=30, help_text="Cooldown before marketing may promote the lead again."
    )
    contradicts_rule = models.ForeignKey(
        FitRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rejection_reasons",
        help_text="The scoring rule this reason says was wrong (e.g. company too small).",
    )
    active = models.BooleanField(default=True)
    display_order = models.PositiveIntegerField(default=100)
    history = AuditRecords()

    class Meta:
        ordering = ["display_order", "label"]

    def __str__(self) -> str:
        return self.label


class ReturnFeedback(models.Model):
    """One return from sales, waiting for marketing to review it."""

    class FollowUp(models.TextChoices):
        NONE = "", "No action"
        NURTURE = "nurture", "Add to a nurture campaign"
        FIX_DATA = "fix_data", "Fix the lead's data"
        DISPUTE = "dispute", "Dispute with the sales manager"

    class DisputeStatus(models.TextChoices):
        NONE = "", "-"
        OPEN = "open", "Open"
        UPHELD = "upheld", "Return upheld"
        OVERTURNED = "overturned", "Return overturned"

    handoff = models.OneToOneField(Handoff, on_delete=models.CASCADE, related_name="feedback")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="return_feedback")
    reason = models.ForeignKey(RejectionReason, on_delete=models.PROTECT, related_name="returns")
    note = models.TextField(blank=True)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    returned_at = models.DateTimeField()
    # What the return did to the lead (recycle / disqualify), and why, e.g. the recycle cap.
    lead_effect = models.CharField(max_length=16, choices=RejectionReason.Effect.choices)
    effect_note = models.CharField(max_length=200, blank=True)
    recycle_until = models.DateTimeField(null=True, blank=True)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply = models.TextField(blank=True)
    follow_up = models.CharField(
        max_length=16, choices=FollowUp.choices, default=FollowUp.NONE, blank=True
    )
    dispute_status = models.CharField(
        max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.NONE, blank=True
    )
    dispute_resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dispute_resolved_at = models.DateTimeField(null=True, blank=True)
    dispute_resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-returned_at", "-id"]
        indexes = [
            models.Index(
                fields=["returned_at"],
                name="feedback_unacknowledged",
                condition=Q(acknowledged_at__isnull=True),
            ),
            models.Index(fields=["reason", "returned_at"], name="feedback_reason_returned"),
            # The review queue's order: unacknowledged first, then the newest returns. (On
            # PostgreSQL DESC sorts NULLs first, the order the queue asks for; SQLite cannot
            # declare NULLS FIRST in an index.)
            models.Index(fields=["-acknowledged_at", "-returned_at"], name="feedback_queue_order"),
            models.Index(
                fields=["returned_at"],
                name="feedback_open_disputes",
                condition=Q(dispute_status="open"),
            ),
            models.Index(fields=["lead", "returned_at"], name="feedback_lead_returned"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} on handoff #{self.handoff_id}"


class DigestDelivery(models.Model):
    """One week's alignment digest to one recipient: written once (unique), sent at most once
    (claimed before sending, marked after), retried with backoff when the mail server fails."""

    week = models.CharField(max_length=8, help_text="ISO week, e.g. 2026-W49")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    email = models.EmailField()
    created_at = models.DateTimeField()
    # When it may be tried (again); a claim moves it forward by the lease.
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-week", "id"]
        verbose_name_plural = "digest deliveries"
        constraints = [
            models.UniqueConstraint(fields=["week", "recipient"], name="digest_week_recipient")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="digest_unsent",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"Digest {self.week} to {self.email} ({'sent' if self.sent_at else 'unsent'})"


class FeedbackRollup(models.Model):
    """The feedback analytics' handoffs counted per month of promotion (the site's zone) and per
    combination of what the payload groups by: source and campaign snapshots, raw score (not a
    band: bands and candidate thresholds are settings), team, rep, return reason, PQL or not.
    Reassigned handoffs are left out, as in the analytics. Each handoff counts in two rows of
    two kinds (feedback.rollup.BY_KEYS, BY_SCORE): the score crossed with everything else would
    not compress.

    Written only by database triggers on the handoffs table (feedback.rollup): every insert,
    delete or change of a counted column appends `delta` rows (-1 for the row as it was, +1
    as it is) in the writing transaction, so the sum of the rows is exact at every commit;
    `feedback.rollup.compact` folds a month's delta rows into one row per combination."""

    period = models.DateField(help_text="First day of the month of promotion (site zone)")
    # 0: keyed by all but the score (score 0); 1: by score and return reason only.
    kind = models.SmallIntegerField(default=0)
    lead_source = models.CharField(max_length=32, blank=True)
    lead_campaign_id = models.BigIntegerField(null=True)
    score = models.IntegerField()
    team_id = models.BigIntegerField(null=True)
    assigned_to_id = models.BigIntegerField(null=True)
    return_reason_code = models.CharField(max_length=50, blank=True)
    pql = models.BooleanField()
    handoffs = models.IntegerField()
    open = models.IntegerField()
    accepted = models.IntegerField()
    qualified = models.IntegerField()
    returned = models.IntegerField()
    delta = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["period"], name="feedback_rollup_period"),
            # The months with delta rows to fold (compact): few rows, read on every payload.
            models.Index(fields=["period"], name="feedback_rollup_delta", condition=Q(delta=True)),
        ]

    def __str__(self) -> str:
        return f"Feedback rollup {self.period} ({self.handoffs} handoffs)"

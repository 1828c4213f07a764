"""Opportunities grown from qualified handoffs: their value, how they ended, and why.

Each opportunity keeps a frozen attribution (the handoff it came from and that handoff's
snapshot of source, campaign, score and score band at promotion, the promotion and SQL dates,
the team and rep): revenue reports read these columns and never the live lead.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q

from handoff.models import Handoff, Team
from leads.history import AuditRecords
from leads.models import Campaign, Lead, Source
from pipeline.states import Stage


class LostReason(models.Model):
    """Why a deal was lost: a picklist kept in the admin, like the return reasons."""

    class Category(models.TextChoices):
        PRICE = "price", "Price"
        COMPETITION = "competition", "Competition"
        NO_DECISION = "no_decision", "No decision"
        TIMING = "timing", "Timing"
        PRODUCT = "product", "Product"
        FIT = "fit", "Fit"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    category = models.CharField(max_length=16, choices=Category.choices)
    active = models.BooleanField(default=True)
    display_order = models.PositiveIntegerField(default=100)
    history = AuditRecords()

    class Meta:
        ordering = ["display_order", "label"]

    def __str__(self) -> str:
        return self.label


class Opportunity(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="opportunities")
    handoff = models.ForeignKey(Handoff, on_delete=models.PROTECT, related_name="opportunities")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(max_length=8, choices=Stage.choices, default=Stage.OPEN)
    # Null only for a row a CRM synced without a value yet; a win needs one.
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3)
    expected_close_date = models.DateField(null=True, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)

    # Frozen attribution, copied from the handoff when the opportunity opens.
    source = models.CharField(max_length=32, choices=Source.choices, blank=True)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    score = models.IntegerField(default=0)
    score_band = models.CharField(max_length=20, blank=True)
    promoted_at = models.DateTimeField()
    sql_at = models.DateTimeField(null=True, blank=True)

    opened_at = models.DateTimeField()
    won_at = models.DateTimeField(null=True, blank=True)
    lost_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, null=True, blank=True, on_delete=models.PROTECT, related_name="opportunities"
    )
    lost_note = models.TextField(blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "opportunities"
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(stage=Stage.OPEN), name="opportunity_one_open_per_lead"
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="opportunity_amount_not_negative",
            ),
        ]
        indexes = [
            # Revenue metrics read the promotion cohort with the attribution columns only.
            models.Index(
                fields=["promoted_at"],
                name="opportunity_cohort",
                include=[
                    "stage",
                    "amount",
                    "currency",
                    "source",
                    "campaign",
                    "score",
                    "score_band",
                    "team",
                    "owner",
                    "opened_at",
                    "won_at",
                ],
            ),
            models.Index(fields=["owner", "stage"], name="opportunity_owner_stage"),
            models.Index(fields=["stage", "won_at"], name="opportunity_stage_won"),
        ]

    def __str__(self) -> str:
        return f"Opportunity #{self.pk} of lead {self.lead_id} ({self.stage})"

    @property
    def closed_at(self) -> dt.datetime | None:
        return self.won_at or self.lost_at


class OpportunityEvent(models.Model):
    """Append-only: what happened to an opportunity; amount changes keep their history."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        UPDATED = "updated", "Updated"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        SYNCED = "synced", "Synced from the CRM"

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_stage = models.CharField(max_length=8, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=8, choices=Stage.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    amount_before = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    amount_after = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["opportunity", "id"], name="oppevent_opportunity_seq")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.at:%Y-%m-%d %H:%M}"


class RevenueRollup(models.Model):
    """Counts and sums of one promotion day's cohort, by every dimension the revenue metrics
    report: what `pipeline.rollup` recounts from handoffs and opportunities, and what the
    metrics read instead of the raw rows.

    A row holds either the handoff side (`currency` empty: MQLs and SQLs) or the opportunity side
    of one currency (deals, won, lost and their amounts). Team, rep and campaign are plain ids
    (no foreign keys): a rollup row is a figure, not a relation, and a rebuild rewrites it.
    """

    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    rep_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=32, blank=True)
    campaign_id = models.BigIntegerField(null=True)
    score_band = models.CharField(max_length=20, blank=True)
    qualification = models.CharField(max_length=3)  # "pql" or "mql"
    currency = models.CharField(max_length=3, blank=True)
    mqls = models.IntegerField(default=0)
    sqls = models.IntegerField(default=0)
    opportunities = models.IntegerField(default=0)
    won = models.IntegerField(default=0)
    lost = models.IntegerField(default=0)
    won_priced = models.IntegerField(default=0)
    won_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    pipeline_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "currency"], name="revenue_rollup_day")]

    def __str__(self) -> str:
        return f"Revenue of {self.day} ({self.currency or 'handoffs'})"


class RevenueDuration(models.Model):
    """How many of one promotion day's cohort took `hours` (whole hours, rounded down) from
    promotion to SQL, to opportunity or to won, by the rollup's dimensions: the histograms the
    median and p90 days are read from."""

    class Metric(models.TextChoices):
        TO_SQL = "sql", "To SQL"
        TO_OPPORTUNITY = "opportunity", "To opportunity"
        TO_WON = "won", "To won"

    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    rep_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=32, blank=True)
    campaign_id = models.BigIntegerField(null=True)
    score_band = models.CharField(max_length=20, blank=True)
    qualification = models.CharField(max_length=3)
    metric = models.CharField(max_length=12, choices=Metric.choices)
    hours = models.IntegerField()
    n = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "metric"], name="revenue_duration_day")]

    def __str__(self) -> str:
        return f"{self.n} at {self.hours} h {self.metric} ({self.day})"


class RevenueDirtyDay(models.Model):
    """A promotion day whose revenue rollup rows are stale: a transaction that changed a figure
    of that day's cohort marked it (one INSERT ... ON CONFLICT DO NOTHING), and the refresh
    (`pipeline.rollup.refresh_dirty`, beat every minute) recounts it and deletes the mark.

    `txn` is the marking transaction's id on PostgreSQL (0 on SQLite): a mark is never shared
    with another open transaction, so the refresh can only delete marks whose changes it sees.
    """

    day = models.DateField()
    txn = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "txn"], name="revenue_dirty_day_txn"),
        ]

    def __str__(self) -> str:
        return f"Revenue of {self.day} to recount"


class RevenueRefresh(models.Model):
    """One row: when the revenue rollup was last brought up to date (the figures' `as_of`)."""

    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Revenue rollup as of {self.refreshed_at}"


class RevenueSlice(models.Model):
    """The revenue rollup folded down to one dimension at a time: per promotion day x team x
    currency, one row per value of `dimension` (source, campaign, score_band, rep,
    qualification; `total`: one row, value null). What the unfiltered revenue tables read: a
    table reads its dimension's rows only. Derived from `RevenueRollup` by the refresh."""

    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=64, null=True)  # noqa: DJ001 (null: no campaign/rep)
    currency = models.CharField(max_length=3, blank=True)
    mqls = models.IntegerField(default=0)
    sqls = models.IntegerField(default=0)
    opportunities = models.IntegerField(default=0)
    won = models.IntegerField(default=0)
    lost = models.IntegerField(default=0)
    won_priced = models.IntegerField(default=0)
    won_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    pipeline_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["dimension", "day"], name="revenue_slice_dim_day")]

    def __str__(self) -> str:
        return f"Revenue of {self.day} by {self.dimension}"


class RevenueSliceDuration(models.Model):
    """`RevenueDuration` folded the same way: histograms per promotion day x team x dimension
    value (the percentiles of one table)."""

    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    dimension = models.CharField(max_length=16)
    value = models.CharField(max_length=64, null=True)  # noqa: DJ001 (null: no campaign/rep)
    metric = models.CharField(max_length=12)
    hours = models.IntegerField()
    n = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["dimension", "day"], name="revenue_slice_dur_dim_day")]

    def __str__(self) -> str:
        return f"{self.n} at {self.hours} h {self.metric} ({self.day}, {self.dimension})"


class RevenueScore(models.Model):
    """The threshold advisor's rollup: per promotion day x team x score at promotion, the
    handoffs sent and what sales decided (accepted, qualified, returned), and the won deals
    (company-currency amount). A row holds the handoff side or the won side. Kept by the same
    refresh as the revenue rollup."""

    day = models.DateField()
    team_id = models.BigIntegerField(null=True)
    score = models.IntegerField()
    sent = models.IntegerField(default=0)
    accepted = models.IntegerField(default=0)
    qualified = models.IntegerField(default=0)
    returned = models.IntegerField(default=0)
    won = models.IntegerField(default=0)
    won_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="revenue_score_day")]

    def __str__(self) -> str:
        return f"Score {self.score} on {self.day}"

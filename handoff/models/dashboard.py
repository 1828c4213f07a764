"""The dashboard's daily rollup (handoff.rollup keeps it): handoffs counted per local day.

Days are local dates in a time zone (the viewer's: the dashboard's range is in the zone of whoever
reads it), so each zone read has its own rows. Two parts share the table:
- PROMOTIONS: handoffs promoted that day, per team, lead source at handover and path (PQL or
  MQL): the funnel's counts (reassigned attempts left out of mql/sal/sql, see handoff.metrics).
- REPS: per team and rep, the attempts promoted that day (attempts, accepted, returned) and the
  SLA outcomes dated that day (due, met).
- PROMOTIONS_WEEK and REPS_WEEK: the same counts summed over an ISO week (`day` is its Monday),
  so a long range reads a row per week for its full weeks and day rows only at its edges.
"""

from __future__ import annotations

from django.db import models


class DashboardDay(models.Model):
    class Part(models.IntegerChoices):
        PROMOTIONS = 0, "promotions by team, source and path"
        REPS = 1, "attempts and SLA outcomes by team and rep"
        PROMOTIONS_WEEK = 2, "promotions by team, source and path, per ISO week"
        REPS_WEEK = 3, "attempts and SLA outcomes by team and rep, per ISO week"

    zone = models.CharField(max_length=64)
    day = models.DateField()
    part = models.PositiveSmallIntegerField(choices=Part.choices)
    # Plain ids, not foreign keys: a recount rewrites the rows, and a deleted team or user must
    # not cascade into the figures (the metrics label an unknown id themselves).
    team_id = models.BigIntegerField(null=True)
    rep_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=32, blank=True, default="")
    pql = models.BooleanField(default=False)
    # PROMOTIONS
    mql = models.PositiveIntegerField(default=0)
    sal = models.PositiveIntegerField(default=0)
    sql = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)  # both parts
    open = models.PositiveIntegerField(default=0)
    # REPS
    attempts = models.PositiveIntegerField(default=0)
    attempts_accepted = models.PositiveIntegerField(default=0)
    due = models.PositiveIntegerField(default=0)
    met = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["zone", "part", "day"], name="dashboardday_read")]

    def __str__(self) -> str:
        return f"{self.zone} {self.day} part {self.part}"


class DashboardRefresh(models.Model):
    """Per zone: when the rollup was last brought up to date (handoff.rollup.refresh)."""

    zone = models.CharField(max_length=64, unique=True)
    checked_at = models.DateTimeField(null=True)  # the clock at the last check
    # Just after the latest `updated_at` the last check saw (the writes' own clock).
    watermark = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.zone} checked at {self.checked_at}"

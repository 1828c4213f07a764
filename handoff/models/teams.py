"""Teams of reps, who is in each (capacity, weight, rotation position), and reps' time off."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from handoff.models.calendars import BusinessCalendar
from leads.history import AuditRecords


class Team(models.Model):
    """A team of reps, which leads it takes, and where its round-robin rotation stands."""

    name = models.CharField(max_length=100, unique=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="teams")
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    # Matching rules: an empty list / null bound matches anything.
    match_regions = models.JSONField(default=list, blank=True, help_text='e.g. ["EMEA"]')
    match_countries = models.JSONField(default=list, blank=True, help_text='e.g. ["FR", "DE"]')
    match_industries = models.JSONField(default=list, blank=True)
    match_employee_bands = models.JSONField(default=list, blank=True)
    match_min_score = models.IntegerField(null=True, blank=True)
    match_max_score = models.IntegerField(null=True, blank=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Teams are tried in this order (lowest first)."
    )
    active = models.BooleanField(default=True)
    route_to_account_owner = models.BooleanField(
        default=False,
        help_text="A lead whose account has an owner in this team goes to that owner first "
        "(when they are in, not on time off and below capacity), before the rotation.",
    )
    # The rotation state: row-locked while a promotion picks the next rep.
    rotation_position = models.PositiveIntegerField(default=0)
    # (Not the rotation: it moves with every assignment, and handoff events record those.)
    history = AuditRecords(excluded_fields=["rotation_position"])

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    capacity = models.PositiveIntegerField(default=10, help_text="Most open pending handoffs.")
    weight = models.PositiveIntegerField(default=1, help_text="Turns per rotation cycle.")
    position = models.PositiveIntegerField(default=0)
    is_away = models.BooleanField(default=False)
    # The rep's own working hours; empty means the team's calendar.
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    history = AuditRecords()

    class Meta:
        ordering = ["team", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "rep"], name="membership_team_rep_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rep} in {self.team}"


class TimeOff(models.Model):
    """A rep's days off (both ends included): routing skips the rep on those days."""

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="time_off"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = AuditRecords()

    class Meta:
        ordering = ["starts_on", "id"]
        verbose_name = "time off"
        verbose_name_plural = "time off"
        indexes = [models.Index(fields=["rep", "ends_on"], name="timeoff_rep_ends")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="timeoff_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rep} off {self.starts_on}..{self.ends_on}"

    def covers(self, day: dt.date) -> bool:
        return self.starts_on <= day <= self.ends_on

"""What a person sets for themselves (their time zone)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from leads.history import AuditRecords


class UserProfile(models.Model):
    """What a person sets for themselves: the time zone every time is shown in. Empty means
    automatic: their team calendar's zone, else the site's TIME_ZONE (resolved by
    handoff.timezones, which knows the teams)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="An IANA zone such as Europe/Paris. Empty: the team calendar's zone.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = AuditRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone or 'automatic'})"

"""Erasures of a person's data on request: the audit record and the blocklist."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Erasure(models.Model):
    """One erasure of a person's data on request (GDPR): the audit record, and the blocklist.

    Only a keyed hash of the normalised email is kept, so the address cannot be read back, but
    re-ingesting it is refused.
    """

    email_hash = models.CharField(max_length=64, unique=True)
    lead_id_erased = models.BigIntegerField(null=True, blank=True)
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What was removed, as counts per table (no personal data).
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"Erasure of lead {self.lead_id_erased} at {self.erased_at:%Y-%m-%d %H:%M}"

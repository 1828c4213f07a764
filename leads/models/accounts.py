"""Accounts: the companies leads belong to, matched by domain (leads.accounts)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Account(models.Model):
    """A company: the leads sharing a company domain (matched by leads.accounts)."""

    # Normalised by leads.accounts.account_domain: lower-case, no "www.", never free mail.
    domain = models.CharField(max_length=253)
    name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        help_text="The sales rep who owns the relationship (routing can prefer them).",
    )
    # A duplicate merged away: its domain stays as an alias of the surviving account.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="aliases"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["domain"], name="account_unique_domain")]

    def __str__(self) -> str:
        return f"{self.name or self.domain} ({self.domain})"

"""The stored first answers of requests sent with an Idempotency-Key."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an `Idempotency-Key` header, kept for 24 hours.

    The row is claimed (inserted as in flight, committed at once) before the work starts, so a
    duplicate that arrives while the first is still running sees it and gets a 409; it is
    completed in the same transaction as the work, so a stored answer always matches what was
    written.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Which endpoint the key was used on: keys are per user and per endpoint.
    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="idempotency_unique_user_scope_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.state})"

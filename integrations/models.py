"""Outbound webhook endpoints (and team chat hooks), their messages and every delivery attempt;
inbound CRM integrations and the events they sent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Endpoint(models.Model):
    """Where events go: a Standard Webhooks receiver, or a team's chat incoming webhook."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (Standard Webhooks, signed)"
        CHAT = "chat", "Team chat (Slack-compatible incoming webhook)"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event type names, or ["*"] for every type.
    event_types = models.JSONField(default=list, blank=True)
    # Chat: the team whose alerts it gets (empty: every team).
    team = models.ForeignKey(
        "handoff.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=200, editable=False)
    # After a rotation the old secret signs too, until previous_secret_expires_at.
    previous_secret = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The first failure of the current run of failures (cleared by a 2xx).
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)
    # One worker delivers to an endpoint at a time: it holds this lease while it does.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' ')[0]} #{self.pk} {self.url}"


class Message(models.Model):
    """One event for one endpoint: sent until a 2xx (at least once), with a stable webhook-id."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="messages")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    # The exact bytes POSTed (as text): signed afresh each attempt, never re-serialised.
    body = models.TextField()
    lead_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_message_endpoint_event"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "endpoint"],
                name="webhook_message_due",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "created_at"], name="webhook_message_endpoint_at"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> endpoint #{self.endpoint_id}"


class Attempt(models.Model):
    """One POST of a message: when, the answer (or the error), how long it took."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["endpoint", "at"], name="webhook_attempt_endpoint_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


class CrmIntegration(models.Model):
    """A CRM allowed to send events in: its signing secret (and the previous one for 24 h)."""

    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=200, editable=False)
    previous_secret = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name = "CRM integration"

    def __str__(self) -> str:
        return self.name


class InboundEvent(models.Model):
    """Every event a CRM sent: applied (once per webhook-id) or rejected with why."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"

    integration = models.ForeignKey(
        CrmIntegration, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    webhook_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    payload = models.JSONField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    lead_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["webhook_id"],
                condition=Q(status="applied"),
                name="inbound_event_applied_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type or '?'} {self.webhook_id} ({self.status})"

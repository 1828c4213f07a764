"""Writes to the configuration the clocks run on: SLA policies (an edit bumps the version and
writes an audit row) and calendars (touched so cached copies retire)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.types import Actor
from handoff.models import BusinessCalendar, SlaPolicy
from leads.history import audited


def sla_policy_save(*, policy: SlaPolicy, actor: Actor | None = None) -> SlaPolicy:
    """Save a policy; an edit bumps its version (handoffs keep the version they were timed by)."""
    with transaction.atomic():
        audited(policy, actor=actor)
        if policy.pk is None:
            policy.version = 1
            policy.save()
            return policy
        current = (
            SlaPolicy.objects.select_for_update()
            .values_list("version", flat=True)
            .get(pk=policy.pk)
        )
        policy.version = current + 1
        policy.save()
    return policy


def calendar_touch(*, calendar: BusinessCalendar) -> None:
    """Mark a calendar changed (after editing its windows or dates), retiring cached copies."""
    now = timezone.now()
    BusinessCalendar.objects.filter(pk=calendar.pk).update(updated_at=now)
    calendar.updated_at = now

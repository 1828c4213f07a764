"""The notification outbox: rows written in the transaction that caused them, sent by a task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from handoff.models import Handoff, HandoffEvent, Notification
from leads.services import enqueue_task

SUBJECTS = {
    Notification.Kind.ASSIGNED: "New lead for you: {lead} (answer by {due})",
    Notification.Kind.AT_RISK: "At risk: {lead} is due {due}",
    Notification.Kind.BREACHED: "SLA breached: {lead} was due {due}",
    Notification.Kind.FIRST_TOUCH_AT_RISK: "First touch due soon: {lead}",
    Notification.Kind.FIRST_TOUCH_BREACHED: "First touch overdue: {lead}",
    Notification.Kind.UNASSIGNED: "Needs an owner: {lead}",
    Notification.Kind.INFO_REQUESTED: "Sales asked about {lead}",
    Notification.Kind.INFO_PROVIDED: "Marketing answered about {lead}",
    Notification.Kind.RETURNED: "Returned to marketing: {lead}",
}


def _format_due(when: dt.datetime | None) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M %Z") if when else "-"


def notify(
    *,
    kind: str,
    handoff: Handoff,
    recipients: Iterable[Any],
    event: HandoffEvent | None = None,
    now: dt.datetime | None = None,
    body: str = "",
) -> list[Notification]:
    """Write one outbox row per recipient with an email address; the sender task runs on commit.

    Call inside the transaction that caused the notification, so that a rolled-back transition
    notifies nobody and a committed one is never lost.
    """
    now = now or timezone.now()
    lead = handoff.lead
    subject = SUBJECTS[Notification.Kind(kind)].format(
        lead=lead.full_name or lead.email, due=_format_due(handoff.due_at)
    )
    rows = [
        Notification(
            kind=kind,
            handoff=handoff,
            event=event,
            recipient=user,
            to_email=user.email,
            subject=subject[:200],
            body=body or subject,
            created_at=now,
            next_attempt_at=now,
        )
        for user in {u.pk: u for u in recipients if u is not None and u.email}.values()
    ]
    if rows:
        Notification.objects.bulk_create(rows)
        enqueue_task("handoff.tasks.notifications_send")
    return rows

"""Delivering notifications: `notifications_send()` claims due outbox rows (SKIP LOCKED on
PostgreSQL) by leasing them, sends each through Django's email backend outside any transaction,
and marks a row sent only after its send returned. A failure is retried with exponential
backoff; a sender killed mid-send leaves the row leased, and it is sent again once the lease
expires (at least once: each message carries a Message-ID derived from the row, so mail systems
can drop a duplicate)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from handoff.models import Notification

logger = logging.getLogger(__name__)


@dataclass
class SendResult:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait before the next try after `attempts` failed ones: base * 2**(attempts-1), capped."""
    base = float(settings.NOTIFICATION_RETRY_BASE_SECONDS)
    cap = float(settings.NOTIFICATION_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _claim(*, now: dt.datetime, lease_from: dt.datetime, batch_size: int) -> list[Notification]:
    """Lease a batch of due rows in one short transaction.

    The lease (next_attempt_at pushed into the future, attempts counted) is what keeps two
    senders apart once the transaction has committed; SKIP LOCKED keeps them apart while it
    runs, so a second sender takes the next rows instead of waiting.
    """
    lease = dt.timedelta(seconds=float(settings.NOTIFICATION_SEND_LEASE_SECONDS))
    due = Notification.objects.filter(
        sent_at__isnull=True,
        next_attempt_at__lte=now,
        attempts__lt=settings.NOTIFICATION_MAX_ATTEMPTS,
    ).order_by("next_attempt_at", "id")
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due[:batch_size])
        if not rows:
            return []
        # attempts counts tries started, so a send killed mid-way still counts toward giving up.
        Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
            next_attempt_at=lease_from + lease, attempts=F("attempts") + 1
        )
    for row in rows:
        row.attempts += 1
    return rows


def _message(row: Notification, mail_connection: Any) -> EmailMessage:
    return EmailMessage(
        subject=row.subject,
        body=row.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.to_email],
        connection=mail_connection,
        headers={"Message-ID": f"<notification-{row.pk}@handoff-desk>"},
    )


def notifications_send(
    *,
    now: dt.datetime | None = None,
    batch_size: int = 100,
    clock: Callable[[], dt.datetime] | None = None,
) -> SendResult:
    """Send every due unsent notification; mark each sent only after its send succeeded.

    Runs until no due row is left. Rows that fail get their next try at now + backoff, so one
    run never retries a row it just failed.
    """
    if clock is None:
        fixed = now
        clock = (lambda: fixed) if fixed is not None else timezone.now
    now = now or clock()
    result = SendResult()
    while True:
        rows = _claim(now=now, lease_from=clock(), batch_size=batch_size)
        if not rows:
            return result
        mail_connection = get_connection(fail_silently=False)
        opened = False
        try:
            mail_connection.open()
            opened = True
        except Exception as exc:  # the mail server is down: this batch waits, the rest too
            for row in rows:
                _failed(row, exc, now=clock(), result=result)
            return result
        try:
            for row in rows:
                try:
                    _message(row, mail_connection).send()
                except Exception as exc:
                    _failed(row, exc, now=clock(), result=result)
                    continue
                Notification.objects.filter(pk=row.pk, sent_at__isnull=True).update(
                    sent_at=clock(), last_error=""
                )
                result.sent.append(row.pk)
        finally:
            if opened:
                try:
                    mail_connection.close()
                except Exception:
                    logger.warning("closing the mail connection failed", exc_info=True)


def _failed(row: Notification, exc: BaseException, *, now: dt.datetime, result: SendResult) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    Notification.objects.filter(pk=row.pk, sent_at__isnull=True).update(
        next_attempt_at=now + retry_delay(row.attempts), last_error=error
    )
    if row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        logger.error("gave up notification %s to %s: %s", row.pk, row.to_email, error)
        result.gave_up.append(row.pk)
    else:
        logger.warning("notification %s failed (try %s): %s", row.pk, row.attempts, error)
        result.failed.append(row.pk)


def unsent_backlog(*, now: dt.datetime | None = None) -> dict[str, int]:
    """How many rows wait, are retrying, or were given up: for operators and the admin."""
    now = now or timezone.now()
    unsent = Notification.objects.filter(sent_at__isnull=True)
    limit = settings.NOTIFICATION_MAX_ATTEMPTS
    return {
        "due": unsent.filter(next_attempt_at__lte=now, attempts__lt=limit).count(),
        "retrying": unsent.filter(~Q(last_error=""), attempts__lt=limit).count(),
        "gave_up": unsent.filter(attempts__gte=limit).count(),
    }

"""Fan events out to endpoints and deliver them: at least once, one endpoint never holding up
another.

Fan-out (`webhook_fanout`, the task leads.events queues in the transaction of the change) writes
one Message per subscribed endpoint, idempotently (unique endpoint + event id, so a fan-out run
twice writes nothing twice), and queues one delivery task per endpoint.

Delivery (`endpoint_deliver`): a worker takes an endpoint's lease (a conditional UPDATE, so one
worker per endpoint at a time), POSTs its due messages oldest first for at most
WEBHOOK_WORKER_BUDGET_SECONDS, records every attempt, then releases the lease and queues itself
again if more is due: a slow endpoint holds one worker slot for one budget at a time, while the
other endpoints' tasks run beside it. A message is marked delivered only after its 2xx was
read; a worker killed mid-delivery leaves it pending and the endpoint leased until the lease
runs out, and the dispatcher (`webhooks_dispatch`, on beat) hands the endpoint to a worker again.

Answers: 2xx delivered; 410 Gone disables the endpoint; anything else (an error, a timeout, a
3xx: redirects are not followed) is retried after WEBHOOK_RETRY_SCHEDULE_SECONDS[n] with jitter
(about 3 days in all), then given up. An endpoint failing without a single success for
WEBHOOK_DISABLE_AFTER_HOURS is disabled and its managers told by email.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.outbox import enqueue_task
from core.roles import SALES_MANAGER
from integrations import chat, signing, ssrf
from integrations.http import Answer, post
from integrations.models import Attempt, Endpoint, Message

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.tasks.webhook_deliver"
Clock = Callable[[], dt.datetime]


_active_endpoint_sql: dict[str, tuple[str, list[Any]]] = {}


def any_active_endpoint() -> bool:
    """Whether any endpoint is active: asked by every transition before it builds an event, so
    the ORM's exists() is compiled once per process and run through a cursor."""
    from django.db import connections, router

    alias = router.db_for_read(Endpoint)
    if alias not in _active_endpoint_sql:
        exists = Endpoint.objects.filter(active=True).order_by()[:1].values_list("pk")
        sql, params = exists.query.get_compiler(using=alias).as_sql()
        _active_endpoint_sql[alias] = (sql, list(params))
    sql, params = _active_endpoint_sql[alias]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


# --- fan-out ---------------------------------------------------------------------------------


def subscribes(endpoint: Endpoint, event: dict[str, Any]) -> bool:
    if endpoint.kind == Endpoint.Kind.CHAT:
        return chat.matches(event, team_id=endpoint.team_id)
    types = endpoint.event_types or []
    return "*" in types or event["type"] in types


def render(endpoint: Endpoint, event: dict[str, Any]) -> str:
    if endpoint.kind == Endpoint.Kind.CHAT:
        return chat.body(event)
    envelope = {"type": event["type"], "timestamp": event["timestamp"], "data": event["data"]}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True)


def _lead_id(event: dict[str, Any]) -> int | None:
    lead = event.get("data", {}).get("lead")
    value = lead.get("id") if isinstance(lead, dict) else None
    return value if isinstance(value, int) else None


def webhook_fanout(*, events: Iterable[dict[str, Any]], now: dt.datetime | None = None) -> int:
    """One Message per (event, subscribed endpoint); returns how many were new or repeated."""
    now = now or timezone.now()
    endpoints = list(Endpoint.objects.filter(active=True))
    rows: list[Message] = []
    for event in events:
        created = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        for endpoint in endpoints:
            if subscribes(endpoint, event):
                rows.append(
                    Message(
                        endpoint=endpoint,
                        event_id=event["id"],
                        event_type=event["type"],
                        body=render(endpoint, event),
                        lead_id=_lead_id(event),
                        created_at=created,
                        next_attempt_at=now,
                    )
                )
    if not rows:
        return 0
    with transaction.atomic():
        Message.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        for endpoint_id in sorted({row.endpoint_id for row in rows}):
            enqueue_task(DELIVER_TASK, endpoint_id=endpoint_id)
    return len(rows)


# --- delivery --------------------------------------------------------------------------------


@dataclass
class DeliveryRun:
    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    leased: bool = False
    requeued: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "delivered": len(self.delivered),
            "failed": len(self.failed),
            "leased": self.leased,
            "requeued": self.requeued,
        }


def retry_delay(attempts: int, *, rng: random.Random | None = None) -> dt.timedelta | None:
    """The wait after the `attempts`-th failed try, with +-20% jitter; None: give up."""
    schedule = [float(s) for s in settings.WEBHOOK_RETRY_SCHEDULE_SECONDS]
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return dt.timedelta(seconds=base * (rng or random).uniform(0.8, 1.2))


def _lease_seconds() -> float:
    # Longer than a whole run (the budget plus one request that started at its end): the lease
    # never runs out under a live worker, and only a dead one's expires.
    return (
        float(settings.WEBHOOK_WORKER_BUDGET_SECONDS)
        + float(settings.WEBHOOK_TOTAL_TIMEOUT_SECONDS)
        + 5.0
    )


def _free(now: dt.datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def _claim(endpoint_id: int, token: str, now: dt.datetime) -> bool:
    until = now + dt.timedelta(seconds=_lease_seconds())
    claimed = Endpoint.objects.filter(_free(now), pk=endpoint_id, active=True).update(
        lease_until=until, lease_token=token
    )
    return claimed == 1


def _release(endpoint_id: int, token: str) -> None:
    Endpoint.objects.filter(pk=endpoint_id, lease_token=token).update(
        lease_until=None, lease_token=""
    )


def _due(endpoint_id: int, now: dt.datetime) -> Any:
    return Message.objects.filter(
        endpoint_id=endpoint_id, status=Message.Status.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "id")


def endpoint_deliver(*, endpoint_id: int, clock: Clock = timezone.now) -> DeliveryRun:
    """Deliver an endpoint's due messages for one budget (see the module docstring)."""
    run = DeliveryRun()
    budget = float(settings.WEBHOOK_WORKER_BUDGET_SECONDS)
    started = time.monotonic()
    token = uuid.uuid4().hex
    while True:
        if not _claim(endpoint_id, token, clock()):
            return run
        run.leased = True
        out_of_time = False
        try:
            while not out_of_time:
                endpoint = Endpoint.objects.filter(pk=endpoint_id, active=True).first()
                if endpoint is None:
                    break
                batch = list(_due(endpoint_id, clock())[: int(settings.WEBHOOK_BATCH_SIZE)])
                if not batch:
                    break
                for message in batch:
                    if time.monotonic() - started >= budget:
                        out_of_time = True
                        break
                    if _attempt(endpoint, message, clock=clock):
                        run.delivered.append(message.pk)
                    else:
                        run.failed.append(message.pk)
                    if not endpoint.active:
                        break
                if not endpoint.active:
                    break
        finally:
            _release(endpoint_id, token)
        # Checked after the release: a message queued while we held the lease (its own task
        # found the endpoint leased and left) is seen here.
        if not _due(endpoint_id, clock()).filter(endpoint__active=True).exists():
            return run
        if out_of_time:
            enqueue_task(DELIVER_TASK, endpoint_id=endpoint_id)
            run.requeued = True
            return run


def _attempt(endpoint: Endpoint, message: Message, *, clock: Clock) -> bool:
    body = message.body.encode()
    now = clock()
    try:
        target = ssrf.resolve(endpoint.url)
    except ssrf.UnsafeUrl as exc:
        answer = Answer(None, "", f"Refused: {exc}"[:500], 0)
    else:
        in_force = signing.signing_secrets(
            endpoint.secret,
            endpoint.previous_secret,
            endpoint.previous_secret_expires_at,
            now=now,
        )
        headers = signing.headers(
            msg_id=message.event_id, body=body, secrets_in_force=in_force, now=now
        )
        answer = post(target, body=body, headers=headers)
    return attempt_record(endpoint=endpoint, message=message, answer=answer, now=clock())


def attempt_record(
    *, endpoint: Endpoint, message: Message, answer: Answer, now: dt.datetime
) -> bool:
    """Log one attempt and apply its outcome; True when the message is delivered."""
    code = answer.status_code
    delivered = code is not None and 200 <= code < 300
    error = answer.error or ("" if delivered else f"HTTP {code}")
    disable_reason = ""
    with transaction.atomic():
        Attempt.objects.create(
            message=message,
            endpoint=endpoint,
            at=now,
            status_code=code,
            latency_ms=answer.latency_ms,
            error=answer.error,
            response_excerpt=answer.excerpt,
        )
        pending = Message.objects.filter(pk=message.pk, status=Message.Status.PENDING)
        if delivered:
            pending.update(
                status=Message.Status.DELIVERED,
                delivered_at=now,
                attempts=F("attempts") + 1,
                last_error="",
            )
            if endpoint.failing_since is not None:
                Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
                endpoint.failing_since = None
            return True
        message.attempts += 1
        if code == 410:
            disable_reason = "The endpoint answered 410 Gone."
            pending.update(attempts=F("attempts") + 1, last_error=error[:500])
        else:
            wait = retry_delay(message.attempts)
            if wait is None:
                pending.update(
                    status=Message.Status.FAILED,
                    attempts=F("attempts") + 1,
                    last_error=error[:500],
                )
            else:
                pending.update(
                    attempts=F("attempts") + 1,
                    last_error=error[:500],
                    next_attempt_at=now + wait,
                )
            if endpoint.failing_since is None:
                Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
                    failing_since=now
                )
                endpoint.failing_since = now
            elif now - endpoint.failing_since >= dt.timedelta(
                hours=float(settings.WEBHOOK_DISABLE_AFTER_HOURS)
            ):
                disable_reason = (
                    f"Every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
                    f"(last: {error[:200]})."
                )
        if disable_reason:
            endpoint_disable(endpoint=endpoint, reason=disable_reason, now=now)
    return False


def endpoint_disable(*, endpoint: Endpoint, reason: str, now: dt.datetime) -> None:
    """Stop sending to an endpoint (pending messages wait for it to be enabled again) and tell
    its managers, once."""
    changed = Endpoint.objects.filter(pk=endpoint.pk, active=True).update(
        active=False, disabled_at=now, disabled_reason=reason[:200], updated_at=now
    )
    endpoint.active = False
    endpoint.disabled_reason = reason[:200]
    if changed:
        transaction.on_commit(lambda: _tell_managers(endpoint, reason))


def _tell_managers(endpoint: Endpoint, reason: str) -> None:
    users = get_user_model().objects.filter(groups__name=SALES_MANAGER, is_active=True)
    emails = sorted({user.email for user in users if user.email})
    if not emails:
        return
    try:
        send_mail(
            f"Webhook endpoint disabled: {endpoint.url}",
            f"The desk stopped sending events to {endpoint.url} ({endpoint.description or '-'}).\n"
            f"Why: {reason}\n\nFix the receiver, enable the endpoint again in the admin, and "
            'use "replay since" to resend what it missed.',
            None,
            emails,
        )
    except Exception:  # the endpoint stays disabled; the admin shows why
        logger.exception("could not tell the managers that endpoint %s was disabled", endpoint.pk)


def webhooks_dispatch(*, now: dt.datetime | None = None) -> list[int]:
    """Queue a delivery for every active, unleased endpoint with a due message (the safety net
    behind the tasks queued on fan-out: retries that came due, endpoints of a dead worker)."""
    now = now or timezone.now()
    ids = sorted(
        set(
            Message.objects.filter(
                status=Message.Status.PENDING,
                next_attempt_at__lte=now,
                endpoint__active=True,
            )
            .filter(Q(endpoint__lease_until__isnull=True) | Q(endpoint__lease_until__lt=now))
            .values_list("endpoint_id", flat=True)
            .distinct()
        )
    )
    with transaction.atomic():
        for endpoint_id in ids:
            enqueue_task(DELIVER_TASK, endpoint_id=endpoint_id)
    return ids


def webhook_messages_purge(*, now: dt.datetime | None = None, limit: int = 50_000) -> int:
    """Delete messages (and their attempt logs) older than WEBHOOK_KEEP_DAYS."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=float(settings.WEBHOOK_KEEP_DAYS))
    ids = list(
        Message.objects.filter(created_at__lt=cutoff)
        .exclude(status=Message.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    deleted, _ = Message.objects.filter(pk__in=ids).delete()
    return deleted

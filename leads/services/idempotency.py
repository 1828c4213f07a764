"""Idempotency-Key records: claiming a key before the work, storing the first answer with it,
freeing a key whose work failed, and purging expired ones."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, IdempotencyKeyReused, ValidationFailed
from core.types import Actor
from leads.models import IdempotencyRecord

# A claimed Idempotency-Key whose request never finished (its worker died) is free again after
# this long; no bulk request runs anywhere near it.
IDEMPOTENCY_STALE_AFTER = dt.timedelta(minutes=10)


def idempotency_claim(
    *,
    user: Actor,
    scope: str,
    key: str,
    request_hash: str,
    now: dt.datetime | None = None,
) -> tuple[IdempotencyRecord, bool]:
    """Claim an Idempotency-Key for a request: (record, replay).

    replay False: the key is ours, in flight, committed at once (call outside a transaction) so
    that a duplicate arriving meanwhile sees it. replay True: the record holds the first answer.
    Raises IdempotencyKeyReused (422) for the same key with another body, Conflict (409) while
    the first request with this key is still running.
    """
    now = now or timezone.now()
    if not key or len(key) > 255:
        raise ValidationFailed(
            "The Idempotency-Key header must be 1 to 255 characters.",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    ttl = dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user,
                    scope=scope,
                    key=key,
                    request_hash=request_hash,
                    created_at=now,
                    expires_at=now + ttl,
                )
            return record, False
        except IntegrityError:
            pass
        found = IdempotencyRecord.objects.filter(user=user, scope=scope, key=key).first()
        if found is None:
            continue  # expired and purged between our two statements: claim again
        stale = found.state == IdempotencyRecord.State.IN_FLIGHT and (
            found.created_at <= now - IDEMPOTENCY_STALE_AFTER
        )
        if found.expires_at <= now or stale:
            # Conditional on the row we read, so two claimers cannot both delete a fresh claim.
            IdempotencyRecord.objects.filter(pk=found.pk, created_at=found.created_at).delete()
            continue
        if found.request_hash != request_hash:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a new request.",
                field="Idempotency-Key",
            )
        if found.state == IdempotencyRecord.State.IN_FLIGHT:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; "
                "retry in a moment to get its answer.",
                code="idempotency_in_flight",
                field="Idempotency-Key",
            )
        return found, True
    raise Conflict("Could not claim the Idempotency-Key; retry.", code="idempotency_in_flight")


def idempotency_complete(
    *, record: IdempotencyRecord, status: int, body: str, now: dt.datetime | None = None
) -> None:
    """Store the first answer; call inside the transaction that did the work."""
    now = now or timezone.now()
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE,
        response_status=status,
        response_body=body,
        completed_at=now,
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """The work failed (nothing written): free the key so the client can retry with it."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def idempotency_purge(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now).delete()
    return deleted

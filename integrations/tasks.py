"""Celery tasks of the integrations: thin, idempotent, each calls one function.

webhook_fanout is queued through the task outbox in the transaction of the change;
webhook_deliver by the fan-out, by itself (a run out of budget) and by webhooks_dispatch, which
beat runs every WEBHOOK_DISPATCH_INTERVAL_SECONDS. Running any of them twice is harmless (unique
messages, the endpoint lease).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from integrations import delivery


@shared_task(name="integrations.tasks.webhook_fanout")
def webhook_fanout(events: list[dict[str, Any]]) -> int:
    return delivery.webhook_fanout(events=events)


@shared_task(name="integrations.tasks.webhook_deliver")
def webhook_deliver(endpoint_id: int) -> dict[str, Any]:
    return delivery.endpoint_deliver(endpoint_id=endpoint_id).summary()


@shared_task(name="integrations.tasks.webhooks_dispatch")
def webhooks_dispatch() -> int:
    return len(delivery.webhooks_dispatch())


@shared_task(name="integrations.tasks.webhook_messages_purge")
def webhook_messages_purge() -> int:
    return delivery.webhook_messages_purge()

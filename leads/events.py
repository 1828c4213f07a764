"""Domain events for the outside world (webhooks, team chat), written in the caller's transaction.

Services call `publish_events()` inside the transaction that made the change: the events become
one row of the task outbox (core.outbox), so a rolled-back change publishes nothing and a
committed one is never lost. The task named by FANOUT_TASK (the integrations app, above every
other app) fans each event out to the endpoints that subscribe to it; this module names it by
string so that no app imports upward.

`subscribers` is a hook the integrations app sets when it loads: it answers whether anybody
listens at all, so that a desk without endpoints writes no rows for nobody.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.utils import timezone

from core.outbox import enqueue_task

FANOUT_TASK = "integrations.tasks.webhook_fanout"

# Set by integrations.apps at start-up: () -> bool, whether any endpoint is active.
subscribers: Callable[[], bool] | None = None


def event_id() -> str:
    """A message id as Standard Webhooks suggests (`msg_` + a unique suffix)."""
    return f"msg_{uuid.uuid4().hex}"


def envelope(type_: str, data: dict[str, Any], *, now: dt.datetime) -> dict[str, Any]:
    """The body every receiver gets: {"type", "timestamp", "data"} (plus the id it is sent as)."""
    return {
        "id": event_id(),
        "type": type_,
        "timestamp": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def listening() -> bool:
    """Whether any endpoint would receive an event (callers may skip building one)."""
    return subscribers is None or subscribers()


def publish_events(
    events: Iterable[tuple[str, dict[str, Any]]], *, now: dt.datetime | None = None
) -> int:
    """Queue (type, data) events in the current transaction; returns how many were queued."""
    if not listening():
        return 0
    now = now or timezone.now()
    bodies = [envelope(type_, data, now=now) for type_, data in events]
    if bodies:
        enqueue_task(FANOUT_TASK, events=bodies)
    return len(bodies)


def publish_event(type_: str, data: dict[str, Any], *, now: dt.datetime | None = None) -> int:
    return publish_events([(type_, data)], now=now)


def lead_ref(lead: Any) -> dict[str, Any]:
    """The most personal data an event carries about a lead: id, name, company and email."""
    name = f"{lead.first_name} {lead.last_name}".strip()
    return {"id": lead.pk, "name": name, "company": lead.company, "email": lead.email}

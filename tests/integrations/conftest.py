from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.models import OutboxMessage
from integrations import delivery
from integrations.models import Endpoint, Message
from leads.events import FANOUT_TASK
from tests.handoff.conftest import celery_worker_group  # noqa: F401 (the real-worker fixture)
from tests.integrations.receivers import Receiver
from tests.reliability.security_world import SecurityWorld, make_security_world


@pytest.fixture
def world(db) -> SecurityWorld:
    return make_security_world(handoffs=False)


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """`receiver(status=200, delay=0.0, ...)`: a started HTTP receiver on 127.0.0.1."""
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        made = Receiver(**kwargs).start()
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()


def fan_out() -> int:
    """Run the fan-out tasks the outbox holds (what a worker would), oldest first."""
    count = 0
    rows = OutboxMessage.objects.filter(task=FANOUT_TASK, published_at__isnull=True)
    for row in rows.order_by("id"):
        count += delivery.webhook_fanout(events=row.kwargs["events"])
        OutboxMessage.objects.filter(pk=row.pk).delete()
    return count


def pump() -> None:
    """Fan out, then deliver every endpoint's due messages (one worker's run each)."""
    fan_out()
    for endpoint_id in Endpoint.objects.values_list("id", flat=True):
        delivery.endpoint_deliver(endpoint_id=endpoint_id)


def events_of(endpoint: Endpoint) -> list[str]:
    return list(
        Message.objects.filter(endpoint=endpoint)
        .order_by("id")
        .values_list("event_type", flat=True)
    )

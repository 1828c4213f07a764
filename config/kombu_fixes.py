"""A workaround for a kombu bug that makes a Celery worker exit when Redis goes away mid-task.

With acks_late (config.settings: CELERY_TASK_ACKS_LATE) a task is acknowledged when it ends. If
Redis goes away while it runs, the consumer drops the connection and closes the channel, and
then two things touch that closed channel: the channel's close restores the still-unacknowledged
message (kombu.transport.virtual.Channel.close -> QoS.restore_unacked_once), and, once the
worker has reconnected, the task's late ack runs on the old channel. Both make kombu 5.7's
Redis transport build a client from a transport the closing Connection has already detached,
and fail with AttributeError ("'NoneType' object has no attribute 'hostname'" / "... 'client'")
where Celery expects a connection error; Celery lets it through and the worker stops with
"Unrecoverable error". (kombu issues #582 and #970 show the same path.)
tests/reliability/test_broker_lost_mid_task.py reproduces both.

The fix: a detached Redis channel raises redis' ConnectionError, one of the transport's
connection errors, which Celery already handles ("Couldn't ack", a skipped restore). Nothing is
lost: kombu keeps every delivered message in Redis's `unacked` set until it is acknowledged and
a worker puts it back after the visibility timeout; our tasks are idempotent and the periodic
ones run again at their next tick.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_connparams = kombu_redis.Channel._connparams


def _connparams_unless_detached(self: Any, asynchronous: bool = False) -> Any:
    transport = self.connection
    if transport is None or getattr(transport, "client", None) is None:
        raise RedisConnectionError("this channel's broker connection was closed")
    return _connparams(self, asynchronous=asynchronous)


def apply() -> None:
    """Install the workaround (idempotent)."""
    kombu_redis.Channel._connparams = _connparams_unless_detached  # type: ignore[method-assign]

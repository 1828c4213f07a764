"""Fixtures for the sweep, the outbox and the real-worker tests.

`sweep_world`: a team on a round-the-clock UTC calendar with a manager and two reps, and a
`make_handoff(...)` that writes bare handoff rows (the sweep only reads what the services
store). `celery_worker_group`: starts a real `celery -A config worker -B` process group on
Redis against the pytest database, and kills only that group.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from core.roles import SALES
from handoff.models import Handoff
from handoff.states import Status
from tests.factories import (
    BusinessCalendarFactory,
    HandoffFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2025, 3, 4, 15, 0, tzinfo=dt.UTC)  # a Tuesday

# --- the world the unit tests sweep ------------------------------------------------------


@dataclass
class SweepWorld:
    calendar: Any
    team: Any
    manager: Any
    rep: Any
    next_rep: Any
    make_handoff: Callable[..., Handoff]
    policy: dict[str, Any] = field(default_factory=dict)


def policy_snapshot(**overrides: Any) -> dict[str, Any]:
    snapshot = {
        "name": "Standard",
        "version": 1,
        "accept_within_minutes": 240,
        "first_touch_within_minutes": 480,
        "at_risk_ratio": 0.75,
        "notify_manager_on_breach": True,
        "reassign_on_breach": False,
        "max_reassignments": 2,
    }
    snapshot.update(overrides)
    return snapshot


@pytest.fixture
def sweep_world(db, manager) -> SweepWorld:
    calendar = BusinessCalendarFactory(
        name="Round the clock", timezone="UTC", windows=[(d, "00:00", "00:00") for d in range(7)]
    )
    team = TeamFactory(name="Sweepers", calendar=calendar, manager=manager)
    rep = UserFactory(username="rita.rep", first_name="Rita", role=SALES)
    next_rep = UserFactory(username="nick.rep", first_name="Nick", role=SALES)
    TeamMembershipFactory(team=team, rep=rep, position=0)
    TeamMembershipFactory(team=team, rep=next_rep, position=1)

    def make_handoff(
        *,
        due_at: dt.datetime,
        at_risk_at: dt.datetime | None = None,
        status: str = Status.PENDING,
        rep: Any = rep,
        policy: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Handoff:
        values = {
            "team": team,
            "calendar": calendar,
            "assigned_to": rep,
            "status": status,
            "created_at": due_at - dt.timedelta(hours=4),
            "due_at": due_at,
            "at_risk_at": at_risk_at or due_at - dt.timedelta(hours=1),
            "policy_snapshot": policy or policy_snapshot(),
        }
        return HandoffFactory(**{**values, **fields})

    return SweepWorld(calendar, team, manager, rep, next_rep, make_handoff)


# --- an outside mail server that fails -----------------------------------------------------


class FlakyEmailBackend(BaseEmailBackend):
    """Stands in for an SMTP server that refuses the next `failures` messages, then accepts
    (into django.core.mail.outbox, like the locmem backend)."""

    failures = 0
    refuse_connection = False

    def open(self) -> bool:
        if type(self).refuse_connection:
            raise ConnectionRefusedError("mail server down")
        return True

    def send_messages(self, email_messages: Any) -> int:
        sent = 0
        for message in email_messages:
            if type(self).failures > 0:
                type(self).failures -= 1
                raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
            message.message()  # renders, as a real backend would
            if not hasattr(mail, "outbox"):
                mail.outbox = []
            mail.outbox.append(message)
            sent += 1
        return sent


@pytest.fixture
def flaky_mail(settings) -> Iterator[type[FlakyEmailBackend]]:
    settings.EMAIL_BACKEND = "tests.handoff.conftest.FlakyEmailBackend"
    FlakyEmailBackend.failures = 0
    FlakyEmailBackend.refuse_connection = False
    yield FlakyEmailBackend
    FlakyEmailBackend.failures = 0
    FlakyEmailBackend.refuse_connection = False


# --- a real Celery worker on Redis ---------------------------------------------------------


def broker_url() -> str:
    """CELERY_BROKER_URL when it is Redis (CI), else this helper's own Redis database."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else "redis://127.0.0.1:6379/4"


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def database_url() -> str:
    """The pytest test database as a URL, for the worker process."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{auth}@{host}:{port}/{quote(s['NAME'])}"


class WorkerGroup:
    """One `celery worker -B` process group (worker, its pool children and embedded beat)."""

    def __init__(self, *, tmp: Path, env: dict[str, str], queue: str, url: str) -> None:
        self.tmp = tmp
        # The tests wait for the sweep's own log lines, which a normal run keeps at DEBUG.
        self.env = {"LOG_QUIET_TICKS": "false", **env}
        self.queue = queue
        self.url = url
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.tmp / f"worker-{self.starts}.log"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-B",
             "--loglevel=INFO", "--concurrency=2", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"{self.queue}-{self.starts}@%h",
             "--schedule", str(self.tmp / "beat-schedule")],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we kill exactly this group
        )  # fmt: skip
        log.close()

    def log(self) -> str:
        return "\n".join(
            (self.tmp / f"worker-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
            if (self.tmp / f"worker-{n}.log").exists()
        )

    def wait_for_log(self, needle: str, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_path.read_text(errors="replace"):
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(
            f"no {needle!r} in the worker log after {timeout}s:\n{self.log()[-4000:]}"
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Pool children are in the same group; give the kernel a moment to reap them too, so
        # their database sessions (and the sweep's advisory lock) are gone before we go on.
        time.sleep(0.3)

    def cleanup_broker(self) -> None:
        """Drop this test's queue and any of its messages left unacked by a killed worker."""
        import redis

        client = redis.Redis.from_url(self.url)
        client.delete(
            self.queue,
            f"_kombu.binding.{self.queue}",
            f"_kombu.binding_permanent.{self.queue}",
        )
        for tag, raw in client.hgetall("unacked").items():
            try:
                routing = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing == self.queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)


@pytest.fixture
def celery_worker_group(
    transactional_db, django_db_serialized_rollback, tmp_path
) -> Iterator[Callable[..., WorkerGroup]]:
    """`celery_worker_group(**settings_env)`: a started worker + beat on Redis, pointed at the
    pytest database, with the given settings (e.g. SLA_SWEEP_INTERVAL_SECONDS="2")."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "the worker process shares the test database: needs PostgreSQL (DATABASE_URL); "
            "SQLite's test database lives in this process's memory"
        )
    url = broker_url()
    if not redis_answers(url):
        pytest.skip(f"no Redis answering at {url}")
    groups: list[WorkerGroup] = []

    def start(**settings_env: str) -> WorkerGroup:
        queue = f"sweeptest-{uuid.uuid4().hex[:10]}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
            **settings_env,
        }
        group = WorkerGroup(tmp=tmp_path, env=env, queue=queue, url=url)
        groups.append(group)
        group.start()
        return group

    try:
        yield start
    finally:
        for group in groups:
            group.kill()
            group.cleanup_broker()
        # Close this process's connection so the database flush at teardown does not wait on
        # anything of ours, then let pytest-django flush the tables.
        connection.close()


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)

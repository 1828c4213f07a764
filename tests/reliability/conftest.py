"""Fixtures for the fault and load tests (FAULTS): a private Redis server, gunicorn on loopback,
and the in-process Celery app pointed at a broker (the `figure` fixture and the figures table
printed after the run are in tests/conftest.py).

Every process started here runs in its own process group and is killed by its group id at the
end; the shared Redis on 6379 is never touched (the private servers listen on spare ports).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core import outbox

ROOT = Path(__file__).resolve().parents[2]


# --- processes -------------------------------------------------------------------------------


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_group(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL) -> None:
    """Kill exactly the process group we started (the process is its leader)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class RedisServer:
    """A redis-server of our own on a spare loopback port, with an append-only file in a temp
    folder, so that a stop and start keeps what was queued (as a production Redis does)."""

    folder: Path
    port: int = field(default_factory=spare_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"redis-server on {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the server flushes its append-only file and exits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def kill(self) -> None:
        kill_group(self.proc)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH")
    server = RedisServer(folder=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def app_on_broker() -> Iterator[Callable[[str], None]]:
    """`app_on_broker(url)`: this process's Celery app publishes to `url` until the test ends."""
    from celery import current_app

    def reset_pools() -> None:
        pool = getattr(current_app, "_pool", None)
        if pool is not None:
            pool.force_close_all()
        current_app._pool = None
        current_app.amqp._producer_pool = None

    from django.conf import settings

    # Publishing uses the write URL, which wins over CELERY_BROKER_URL (set in CI's environment);
    # the transport options are those production uses with Redis (the publish timeouts).
    before = (current_app.conf.get("broker_write_url"), current_app.conf.broker_transport_options)

    def point(url: str) -> None:
        reset_pools()
        current_app.conf.broker_write_url = url
        current_app.conf.broker_transport_options = dict(settings.BROKER_NETWORK_TRANSPORT_OPTIONS)

    yield point
    reset_pools()
    current_app.conf.broker_write_url, current_app.conf.broker_transport_options = before


@pytest.fixture(autouse=True)
def _closed_breaker() -> Iterator[None]:
    outbox.breaker.reset()
    yield
    outbox.breaker.reset()


def queued_task_names(server: RedisServer, queue: str = "celery") -> list[str]:
    """The task names of the messages waiting in a queue of a Redis broker."""
    raw = server.client().lrange(queue, 0, -1)
    return [json.loads(m)["headers"]["task"] for m in reversed(raw)]


# --- gunicorn ----------------------------------------------------------------------------------


@dataclass
class Gunicorn:
    env: dict[str, str]
    log_path: Path
    workers: int = 2
    threads: int = 1
    port: int = field(default_factory=spare_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_path: str, headers: dict[str, str]) -> None:
        log = self.log_path.open("wb")
        args = [sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}",
                "--timeout", "60", "--log-level", "warning"]  # fmt: skip
        if self.threads > 1:
            args += ["--worker-class", "gthread", "--threads", str(self.threads)]
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = self.request("GET", ready_path, headers=headers, timeout=5)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"gunicorn did not come up:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            sent = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        kill_group(self.proc, signal.SIGTERM)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]

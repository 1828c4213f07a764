"""A login flood from one address does not slow down anybody else.

gunicorn with 4 sync workers serves the test database. One address (127.0.0.21) sends bursts
of 20 concurrent wrong-password token requests, each burst sent at the moment another address
(127.0.0.97) signs in for a token and reads its queue; between bursts, that address does the
same on a quiet server. An
attempt that finds its address's attempt lock held is answered 429 at once instead of waiting
for the lock in a worker, so the flood never holds the workers and the other address's p95
stays under twice its quiet figure (both measured here, in the same run).

Needs PostgreSQL (gunicorn is another process; the attempt lock is a PostgreSQL advisory lock).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from core.roles import SALES
from tests.factories import UserFactory
from tests.handoff.conftest import database_url
from tests.reliability.conftest import Gunicorn, percentile

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FLOODER = "127.0.0.21"
OTHER = "127.0.0.97"
WORKERS = 4
BURST = 20
SAMPLES = 20
PASSWORD = "a-Real-pass-phrase-77"


def call(
    server: Gunicorn,
    source: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=60, source_address=(source, 0)
    )
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(
            method,
            path,
            body=payload,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw
    finally:
        conn.close()


def sign_in_and_read_queue(server: Gunicorn, username: str) -> float:
    started = time.monotonic()
    status, answer = call(
        server, OTHER, "POST", "/api/auth/token/",
        body={"username": username, "password": PASSWORD},
    )  # fmt: skip
    assert status == 200, answer
    status, answer = call(
        server, OTHER, "GET", "/api/handoffs/?status=pending&ordering=due_at",
        headers={"Authorization": f"Token {answer['token']}"},
    )  # fmt: skip
    assert status == 200, answer
    return time.monotonic() - started


@pytest.fixture
def server(transactional_db, django_db_serialized_rollback, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.reliability.flood_settings",
        "DATABASE_URL": database_url(),
        "DATABASE_CONN_MAX_AGE": "60",  # as in production: no new connection per request
        # The flooder is never locked out: every burst asks for password checks.
        "AXES_FAILURE_LIMIT": "1000000",
        "PYTHONUNBUFFERED": "1",
    }
    gunicorn = Gunicorn(env=env, log_path=tmp_path / "gunicorn.log", workers=WORKERS)
    gunicorn.start(ready_path="/login/", headers={})
    try:
        yield gunicorn
    finally:
        gunicorn.stop()


def test_a_login_flood_from_one_address_does_not_slow_down_another(server, figure):
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, "floodtestsalt")
    rep = UserFactory(username="ravi.rep", role=SALES)
    rep.password = hashed
    rep.save(update_fields=["password"])
    victim = UserFactory(username="mia.marketer", role=SALES)
    victim.password = hashed
    victim.save(update_fields=["password"])

    sign_in_and_read_queue(server, rep.username)  # warm every path once
    answers: list[int] = []
    took_429: list[float] = []
    lock = threading.Lock()

    def wrong_login(barrier: threading.Barrier, i: int) -> None:
        barrier.wait(timeout=30)
        t0 = time.monotonic()
        status, _ = call(
            server, FLOODER, "POST", "/api/auth/token/",
            body={"username": victim.username, "password": f"guess-{i}"},
        )  # fmt: skip
        with lock:
            answers.append(status)
            if status == 429:
                took_429.append(time.monotonic() - t0)

    def flooded_sample() -> float:
        """One sign-in and queue read, sent at the same moment as a burst of wrong logins."""
        barrier = threading.Barrier(BURST + 1)
        burst = [threading.Thread(target=wrong_login, args=(barrier, i)) for i in range(BURST)]
        for thread in burst:
            thread.start()
        barrier.wait(timeout=30)
        took = sign_in_and_read_queue(server, rep.username)
        for thread in burst:
            thread.join(timeout=60)
        return took

    # Quiet and flooded samples alternate, so that the machine's other load weighs on both alike.
    quiet: list[float] = []
    flooded: list[float] = []
    for _ in range(SAMPLES):
        quiet.append(sign_in_and_read_queue(server, rep.username))
        flooded.append(flooded_sample())

    quiet_p95, flooded_p95 = percentile(quiet, 95), percentile(flooded, 95)
    load = os.getloadavg()[0]
    figure(
        "login flood",
        f"{OTHER} sign-in + queue read p95 during bursts of {BURST} wrong logins from {FLOODER}",
        f"< 2 x quiet ({2 * quiet_p95 * 1000:.0f} ms)",
        f"{flooded_p95 * 1000:.0f} ms (quiet {quiet_p95 * 1000:.0f} ms; load {load:.1f})",
    )
    print(f"\n[login flood] quiet ms {sorted(round(t * 1000) for t in quiet)}")
    print(
        f"[login flood] 429 ms p50 {percentile(took_429, 50) * 1000:.0f} p95 {percentile(took_429, 95) * 1000:.0f}"
    )
    print(f"[login flood] flooded ms {sorted(round(t * 1000) for t in flooded)}")
    print(
        f"[login flood] quiet p95 {quiet_p95 * 1000:.0f} ms, flooded p95 "
        f"{flooded_p95 * 1000:.0f} ms; flood answers {sorted(set(answers))} "
        f"({answers.count(429)} x 429 of {len(answers)}); load average {load:.1f}"
    )
    assert set(answers) <= {400, 429}
    assert answers.count(429) > 0
    assert flooded_p95 < 2 * quiet_p95

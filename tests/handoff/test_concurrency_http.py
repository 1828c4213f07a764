"""Lost races over real HTTP on PostgreSQL: one winner, and a 409 for every loser.

Twenty clients accept or ask about one pending handoff through the live server. Half of them
read it before the winner commits (they wait on the row lock the test holds, then lose the
claim: `conflict`); the other half arrive after the winner committed and read it as accepted or
waiting (`invalid_transition`). Both lost the same race, so both are 409 naming the status.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from handoff import services
from handoff.models import Handoff, HandoffEvent
from handoff.states import Status
from tests.handoff.world import World, make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EARLY = 10
LATE = 10
ROUNDS = 3


@pytest.fixture
def world(transactional_db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def _post(base: str, token: str, handoff_id: int, index: int) -> requests.Response:
    action, body = (
        ("accept", {}) if index % 2 == 0 else ("request-info", {"question": "Which region?"})
    )
    return requests.post(
        f"{base}/api/handoffs/{handoff_id}/{action}/",
        json=body,
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )


def _run(calls: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # a transport error is a failure the test reports
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    return [threads, results]


def test_twenty_clients_accepting_or_asking_at_once_one_wins_and_every_loser_gets_409(
    world, live_server
):
    token = Token.objects.create(user=world.rep).key
    world.memberships["olga.rep"].is_away = True  # every round lands with rob
    world.memberships["olga.rep"].save()
    for _ in range(ROUNDS):
        h = services.handoff_promote(
            lead=world.lead(), actor=world.marketer, note="Asked for a demo after the webinar."
        )
        calls = [
            lambda i=i, pk=h.pk: _post(live_server.url, token, pk, i) for i in range(EARLY + LATE)
        ]
        with transaction.atomic():
            Handoff.objects.select_for_update().get(pk=h.pk)
            early_threads, early = _run(calls[:EARLY])
            deadline = time.monotonic() + 20
            while _lock_waiters() < EARLY:
                assert time.monotonic() < deadline, f"contenders never reached the lock: {early}"
                time.sleep(0.005)
        late_threads, late = _run(calls[EARLY:])
        for thread in early_threads + late_threads:
            thread.join(timeout=60)
        responses = early + late
        assert all(isinstance(r, requests.Response) for r in responses), responses
        codes = [r.status_code for r in responses]
        assert codes.count(200) == 1, codes
        losers = [r for r in responses if r.status_code != 200]
        assert {r.status_code for r in losers} == {409}, [(r.status_code, r.text) for r in losers]
        h.refresh_from_db()
        for r in losers:
            body = r.json()
            assert body["code"] in ("conflict", "invalid_transition"), body
            assert Status(h.status).label.lower() in body["detail"], body
        assert h.status in (Status.ACCEPTED, Status.WAITING)
        moves = HandoffEvent.objects.filter(handoff=h).exclude(kind="created")
        assert moves.count() == 1

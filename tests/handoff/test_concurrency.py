"""Races on PostgreSQL, with real threads, each on its own database connection.

To make "at the same instant" exact rather than lucky, each round holds a gate: the test's own
transaction locks the contested row (`SELECT ... FOR UPDATE`) while the contenders start. They
read the row as it is (plain reads do not wait on a row lock), then block in their claiming
UPDATE. Once all of them are waiting on the lock, the gate commits and they race for real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from handoff import services
from handoff.models import Handoff, HandoffEvent, Team
from handoff.states import OPEN_STATUSES, HandoffConflict, Status
from leads.models import Stage
from tests.handoff.world import NOTE, World, make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROUNDS = 50


@pytest.fixture
def world(transactional_db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        # Activity statistics are a snapshot kept for the whole transaction: refresh them.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def race(gate: Callable[[], Any], contenders: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the contenders in threads behind the gate; (outcome, value) for each, in order."""
    results: list[tuple[str, Any]] = [("unfinished", None)] * len(contenders)

    def run(index: int, contender: Callable[[], Any]) -> None:
        try:
            results[index] = ("won", contender())
        except HandoffConflict as exc:
            results[index] = ("conflict", exc)
        except Exception as exc:
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contenders)]
    with transaction.atomic():
        gate()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while _lock_waiters() < len(contenders):
            finished = any(not thread.is_alive() for thread in threads)
            assert not finished, f"a contender finished before the gate opened: {results}"
            assert time.monotonic() < deadline, "contenders never reached the lock"
            time.sleep(0.002)
    for thread in threads:
        thread.join(timeout=30)
    assert not any(outcome in ("error", "unfinished") for outcome, _ in results), results
    return results


def fresh(pk: int) -> Handoff:
    return Handoff.objects.select_related("lead", "team", "calendar", "assigned_to").get(pk=pk)


def lock_handoff(pk: int) -> Callable[[], Any]:
    return lambda: Handoff.objects.select_for_update().get(pk=pk)


def check_one_winner(h: Handoff, winner: str) -> None:
    """The handoff, its events and its lead all say the same single thing happened."""
    h.refresh_from_db()
    h.lead.refresh_from_db()
    transitions = list(HandoffEvent.objects.filter(handoff=h).exclude(kind="created"))
    assert len(transitions) == 1, transitions
    expected_status, expected_stage = {
        "accept": (Status.ACCEPTED, Stage.SAL),
        "return": (Status.RETURNED, Stage.RECYCLED),
        "reassign": (Status.REASSIGNED, Stage.MQL),
    }[winner]
    assert (h.status, transitions[0].to_status, h.lead.stage) == (
        expected_status,
        expected_status,
        expected_stage,
    )
    successors = Handoff.objects.filter(previous=h)
    assert successors.count() == (1 if winner == "reassign" else 0)
    assert Handoff.objects.filter(lead=h.lead, status__in=OPEN_STATUSES).count() == (
        0 if winner == "return" else 1
    )


def teammate(world: World, rep: Any) -> Any:
    return world.other_rep if rep == world.rep else world.rep


def test_accept_return_and_reassign_at_once_exactly_one_wins(world):
    wins: dict[str, int] = {"accept": 0, "return": 0, "reassign": 0}
    for _ in range(ROUNDS):
        h = world.promote(now=None)
        pk, rep = h.pk, h.assigned_to
        contenders = {
            "accept": lambda pk=pk, rep=rep: services.handoff_accept(handoff=fresh(pk), actor=rep),
            "return": lambda pk=pk, rep=rep: services.handoff_return(
                handoff=fresh(pk), actor=rep, reason_code="not-ready"
            ),
            # To a named teammate: after a few rounds the rotation may have nobody with
            # room, and "next in rotation" is then refused before it races (nobody_available).
            "reassign": lambda pk=pk, rep=rep: services.handoff_reassign(
                handoff=fresh(pk), actor=world.manager, to_rep=teammate(world, rep)
            ),
        }
        results = dict(
            zip(contenders, race(lock_handoff(pk), list(contenders.values())), strict=True)
        )
        winners = [name for name, (outcome, _) in results.items() if outcome == "won"]
        assert len(winners) == 1, results
        assert sorted(outcome for outcome, _ in results.values()) == ["conflict", "conflict", "won"]
        check_one_winner(h, winners[0])
        wins[winners[0]] += 1
    assert sum(wins.values()) == ROUNDS


def test_through_the_api_the_losers_get_a_409_conflict(world):
    from feedback.models import ReturnFeedback

    def post(user: Any, url: str, body: dict) -> Any:
        client = APIClient()
        client.force_authenticate(user)
        return client.post(url, body, format="json")

    for _ in range(ROUNDS):
        h = world.promote(now=None)
        base, rep = f"/api/handoffs/{h.pk}", h.assigned_to
        calls = {
            "accept": lambda base=base, rep=rep: post(rep, f"{base}/accept/", {}),
            "return": lambda base=base, rep=rep: post(
                rep, f"{base}/return/", {"reason": "not-ready"}
            ),
            "reassign": lambda base=base, rep=rep: post(
                world.manager, f"{base}/reassign/", {"to_rep": teammate(world, rep).pk}
            ),
        }
        responses = {
            name: value
            for name, (_, value) in zip(
                calls, race(lock_handoff(h.pk), list(calls.values())), strict=True
            )
        }
        codes = {name: r.status_code for name, r in responses.items()}
        winners = [name for name, code in codes.items() if code in (200, 201)]
        assert len(winners) == 1, {n: (r.status_code, r.content) for n, r in responses.items()}
        for name, response in responses.items():
            if name != winners[0]:
                assert response.status_code == 409, response.content
                assert response.json()["code"] == "conflict"
        check_one_winner(h, winners[0])
        assert ReturnFeedback.objects.filter(handoff=h).count() == (winners[0] == "return")


def test_two_promotions_at_once_never_exceed_a_reps_capacity(world):
    world.memberships["olga.rep"].is_away = True
    world.memberships["olga.rep"].save()
    world.memberships["rob.rep"].capacity = 1
    world.memberships["rob.rep"].save()
    team_pk = world.team.pk
    for _ in range(ROUNDS):
        leads = [world.lead(), world.lead()]
        results = race(
            lambda: Team.objects.select_for_update().get(pk=team_pk),
            [
                lambda lead=lead: services.handoff_promote(
                    lead=lead, actor=world.marketer, note=NOTE
                )
                for lead in leads
            ],
        )
        assert [outcome for outcome, _ in results] == ["won", "won"]
        handoffs = [value for _, value in results]
        assert sorted(h.assigned_to_id is None for h in handoffs) == [False, True]
        held = Handoff.objects.filter(assigned_to=world.rep, status=Status.PENDING).count()
        assert held == 1
        # Free the slot for the next round: the rep accepts, the manager takes the other.
        for h in handoffs:
            services.handoff_accept(handoff=fresh(h.pk), actor=world.manager)


def test_two_marketers_promoting_the_same_lead_at_once_make_one_handoff(world):
    for _ in range(ROUNDS):
        lead = world.lead()
        results = race(
            lambda: Team.objects.select_for_update().get(pk=world.team.pk),
            [
                lambda lead=lead: services.handoff_promote(
                    lead=lead, actor=world.marketer, note=NOTE
                ),
                lambda lead=lead: services.handoff_promote(
                    lead=lead, actor=world.manager, note=NOTE
                ),
            ],
        )
        assert sorted(outcome for outcome, _ in results) == ["conflict", "won"]
        assert Handoff.objects.filter(lead=lead).count() == 1
        assert HandoffEvent.objects.filter(handoff__lead=lead).count() == 1

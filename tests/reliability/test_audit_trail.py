"""Audit trail: every transition writes exactly one HandoffEvent, in sequence (its id), and the
database refuses to UPDATE or DELETE event rows; only the erasure service may scrub their free
text, inside its own transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from feedback import services as feedback_services
from handoff import services
from handoff.erasure import audit_unlocked
from handoff.models import Handoff, HandoffEvent
from handoff.states import ALLOWED_MOVES, Status
from handoff.sweep import sla_sweep
from tests.factories import UserFactory
from tests.reliability.security_world import SecurityWorld, make_security_world

REFUSED = "append-only"


@pytest.fixture
def world(db) -> SecurityWorld:
    return make_security_world(handoffs=False)


def _reach(world: SecurityWorld, status: str) -> Handoff:
    return {
        Status.PENDING: lambda: world.promote("rep"),
        Status.WAITING: lambda: world.waiting("rep"),
        Status.ACCEPTED: lambda: world.accepted("rep"),
    }[status]()


def _do(world: SecurityWorld, handoff: Handoff, to_status: str) -> None:
    rep, marketer, manager = (world.users[k] for k in ("rep", "marketer", "manager"))
    actions: dict[tuple[str, str], Callable[[], Any]] = {
        (Status.PENDING, Status.ACCEPTED): lambda: services.handoff_accept(
            handoff=handoff, actor=rep
        ),
        (Status.PENDING, Status.WAITING): lambda: services.handoff_request_info(
            handoff=handoff, actor=rep, question="Budget?"
        ),
        (Status.PENDING, Status.RETURNED): lambda: feedback_services.feedback_return_handoff(
            handoff=handoff, actor=rep, reason="not-ready"
        ),
        (Status.PENDING, Status.REASSIGNED): lambda: services.handoff_reassign(
            handoff=handoff, actor=manager, to_rep=world.users["rep_mate"], reason="Holiday"
        ),
        (Status.WAITING, Status.PENDING): lambda: services.handoff_provide_info(
            handoff=handoff, actor=marketer, answer="The enterprise plan."
        ),
        (Status.ACCEPTED, Status.QUALIFIED): lambda: services.handoff_qualify(
            handoff=handoff,
            actor=rep,
            bant={"budget": "Yes", "authority": "CFO", "need": "Clear", "timeline": "Q3"},
        ),
        (Status.ACCEPTED, Status.RETURNED): lambda: feedback_services.feedback_return_handoff(
            handoff=handoff, actor=rep, reason="not-ready"
        ),
    }
    actions[(handoff.status, to_status)]()


MOVES = sorted((a, b) for a, targets in ALLOWED_MOVES.items() for b in targets)


@pytest.mark.parametrize(("from_status", "to_status"), MOVES)
def test_every_transition_writes_exactly_one_event_in_sequence(world, from_status, to_status):
    handoff = _reach(world, from_status)
    before = list(HandoffEvent.objects.filter(handoff=handoff).order_by("id"))
    last_id = HandoffEvent.objects.order_by("-id").values_list("id", flat=True).first()
    _do(world, handoff, to_status)
    new = list(HandoffEvent.objects.filter(handoff=handoff, id__gt=before[-1].id))
    assert len(new) == 1
    event = new[0]
    assert (event.from_status, event.to_status) == (from_status, to_status)
    assert event.id > last_id  # the sequence: later than every event written before it
    assert event.at >= before[-1].at
    Handoff.objects.get(pk=handoff.pk, status=to_status)


def test_the_whole_story_of_a_handoff_reads_in_order_one_event_per_step(world):
    handoff = world.promote("rep")
    handoff = services.handoff_request_info(handoff=handoff, actor=world.users["rep"], question="?")
    handoff = services.handoff_provide_info(
        handoff=handoff, actor=world.users["marketer"], answer="!"
    )
    handoff = services.handoff_accept(handoff=handoff, actor=world.users["rep"])
    handoff = services.handoff_log_first_touch(
        handoff=handoff, actor=world.users["rep"], channel="call"
    )
    services.handoff_qualify(
        handoff=handoff,
        actor=world.users["rep"],
        bant={"budget": "a", "authority": "b", "need": "c", "timeline": "d"},
    )
    events = list(HandoffEvent.objects.filter(handoff=handoff).order_by("id"))
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("created", "", "pending"),
        ("transition", "pending", "waiting"),
        ("transition", "waiting", "pending"),
        ("transition", "pending", "accepted"),
        ("first_touch", "accepted", "accepted"),
        ("transition", "accepted", "qualified"),
    ]
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_a_breach_flagged_by_the_sweep_is_one_event(world):
    handoff = world.promote("rep")
    later = timezone.now() + dt.timedelta(hours=3)
    sla_sweep(now=later)
    sla_sweep(now=later + dt.timedelta(minutes=1))
    assert HandoffEvent.objects.filter(handoff=handoff, kind="breached").count() == 1


# --- the database refuses changes --------------------------------------------------------------


def _an_event(world: SecurityWorld) -> HandoffEvent:
    return HandoffEvent.objects.filter(handoff=world.promote("rep")).get()


def test_the_application_cannot_update_an_event(world):
    event = _an_event(world)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).update(note="rewritten history")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        event.to_status = "accepted"
        event.save()
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE handoff_handoffevent SET at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=1), event.pk],
        )
    event.refresh_from_db()
    assert (event.note, event.to_status) == ("Hot lead: asked for a demo this week.", "pending")


@pytest.mark.postgres
def test_the_application_cannot_delete_an_event(world):
    event = _an_event(world)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).delete()
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM handoff_handoffevent")
    # Nor by deleting the handoff (its events would cascade).
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        Handoff.objects.filter(pk=event.handoff_id).delete()
    assert HandoffEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="documents the SQLite side; PostgreSQL refuses"
)
def test_on_sqlite_delete_is_not_guarded_because_the_test_flush_uses_delete(world):
    """Django flushes SQLite databases with DELETE; a DELETE trigger would break every
    transactional test. PostgreSQL (production, CI) refuses DELETE: see the test above."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = {row[0] for row in cursor.fetchall()}
    assert "handoff_event_append_only" in triggers


def test_the_erasure_switch_lets_free_text_be_scrubbed_and_nothing_else(world):
    event = _an_event(world)
    with transaction.atomic(), audit_unlocked():
        HandoffEvent.objects.filter(pk=event.pk).update(
            note="[erased]", reason="", payload={"team": None}
        )
    event.refresh_from_db()
    assert event.note == "[erased]"
    for change in ({"kind": "breached"}, {"to_status": "returned"}, {"at": timezone.now()}):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), audit_unlocked():
            HandoffEvent.objects.filter(pk=event.pk).update(**change)


@pytest.mark.postgres
def test_the_erasure_switch_does_not_allow_delete(world):
    event = _an_event(world)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), audit_unlocked():
        HandoffEvent.objects.filter(pk=event.pk).delete()


def test_the_erasure_switch_ends_with_the_erasure(world):
    event = _an_event(world)
    with transaction.atomic(), audit_unlocked():
        pass
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).update(note="sneaky")


def test_the_erasure_switch_needs_a_transaction():
    # No database fixture: outside any transaction, the switch refuses before any query.
    assert not connection.in_atomic_block
    with pytest.raises(RuntimeError), audit_unlocked():
        pass


def test_deleting_an_account_keeps_its_events_without_an_actor(world):
    leaver = UserFactory(username="leaver")
    event = _an_event(world)
    # No switch needed: the trigger allows exactly the foreign key's SET NULL.
    HandoffEvent.objects.create(
        handoff=event.handoff, kind="escalated", actor=leaver, at=timezone.now()
    )
    leaver.delete()
    kept = HandoffEvent.objects.get(handoff=event.handoff, kind="escalated")
    assert kept.actor_id is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_flush_of_the_database_still_works():
    """Test databases are emptied with TRUNCATE, which fires no row trigger."""
    world = make_security_world(handoffs=False)
    world.promote("rep")
    assert HandoffEvent.objects.exists()
    call_command("flush", interactive=False, verbosity=0)
    assert not HandoffEvent.objects.exists()

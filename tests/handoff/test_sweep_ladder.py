"""The escalation ladder end to end: handoffs promoted and accepted through the services, then
swept at the moments a worker would sweep them."""

from __future__ import annotations

import datetime as dt

import pytest

from handoff import services
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.notifications import notifications_send
from handoff.selectors import manager_queue
from handoff.states import Status
from handoff.sweep import handoff_first_touch_late_by, handoff_late_by, sla_sweep
from tests.handoff.world import NY, TUESDAY_10, make_world

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def world(db, marketer, rep, other_rep, manager):
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def kinds(handoff: Handoff) -> list[str]:
    return list(HandoffEvent.objects.filter(handoff=handoff).values_list("kind", flat=True))


def told(handoff: Handoff) -> list[tuple[str, str]]:
    return [
        (n.kind, n.recipient.username)
        for n in Notification.objects.filter(handoff=handoff).select_related("recipient")
    ]


def test_a_promoted_handoff_is_reminded_at_risk_then_breached_at_its_deadline(world):
    handoff = world.promote()
    assert handoff.due_at == dt.datetime(2025, 3, 4, 14, 0, tzinfo=NY)  # 240 business minutes
    assert handoff.at_risk_at == dt.datetime(2025, 3, 4, 13, 0, tzinfo=NY)  # 75% of them

    assert sla_sweep(now=handoff.at_risk_at - MIN).flagged == 0
    assert sla_sweep(now=handoff.at_risk_at).at_risk == [handoff.pk]
    assert sla_sweep(now=handoff.due_at + 20 * MIN).breached == [handoff.pk]

    handoff.refresh_from_db()
    assert handoff.breached_at == handoff.due_at
    assert kinds(handoff) == ["created", "at_risk", "breached"]
    assert told(handoff) == [
        ("assigned", world.rep.username),
        ("at_risk", world.rep.username),
        ("breached", world.manager.username),
    ]
    late = handoff_late_by(handoff, now=handoff.due_at + 20 * MIN)
    assert late is not None and late.business_minutes == pytest.approx(20)


def test_a_breach_is_reassigned_up_to_the_limit_then_lands_in_the_manager_queue(world):
    world.policy.reassign_on_breach = True
    world.policy.max_reassignments = 2
    world.policy.save()
    first = world.promote()
    assert first.assigned_to == world.rep

    # Breach 1: reassigned to the next rep (attempt 2), with a fresh 240-minute deadline.
    one = sla_sweep(now=first.due_at + MIN)
    [(old, new_id)] = one.reassigned
    second = Handoff.objects.get(pk=new_id)
    first.refresh_from_db()
    assert (old, first.status, first.breached_at) == (first.pk, Status.REASSIGNED, first.due_at)
    assert (second.attempt, second.previous_id, second.assigned_to) == (
        2,
        first.pk,
        world.other_rep,
    )
    assert second.status == Status.PENDING and second.due_at > first.due_at
    assert ("assigned", world.other_rep.username) in told(second)
    [breach_note] = Notification.objects.filter(handoff=first, kind="breached")
    assert "Reassigned automatically to" in breach_note.body

    # Breach 2: attempt 3, back to the first rep.
    two = sla_sweep(now=second.due_at + MIN)
    third = Handoff.objects.get(pk=two.reassigned[0][1])
    assert (third.attempt, third.assigned_to) == (3, world.rep)

    # Breach 3: two reassignments already; the chain stops in the manager's queue.
    three = sla_sweep(now=third.due_at + MIN)
    third.refresh_from_db()
    assert three.reassigned == [] and three.escalated == [third.pk]
    assert third.status == Status.PENDING and third.assigned_to is None
    assert list(manager_queue()) == [third]
    assert kinds(third)[-2:] == ["breached", "escalated"]
    assert ("unassigned", world.manager.username) in told(third)
    # Every step of the chain is an event on its handoff, and a fourth sweep adds nothing.
    assert sla_sweep(now=third.due_at + 60 * MIN).flagged == 0
    # (No sweep ran at the at-risk moments here, and a breach is not also told as at risk.)
    assert [kinds(h) for h in (first, second)] == [
        ["created", "breached", "transition"],
        ["assigned", "breached", "transition"],
    ]


def test_an_accepted_handoff_follows_the_first_touch_ladder(world):
    handoff = world.promote()
    services.handoff_accept(handoff=handoff, actor=world.rep, now=TUESDAY_10 + 30 * MIN)
    handoff.refresh_from_db()
    # 480 business minutes from 10:30 Tuesday: 6.5 h on Tuesday, 1.5 h on Wednesday.
    assert handoff.first_touch_due_at == dt.datetime(2025, 3, 5, 10, 30, tzinfo=NY)

    at_risk = sla_sweep(now=handoff.first_touch_at_risk_at)
    breach = sla_sweep(now=handoff.first_touch_due_at + 15 * MIN)

    handoff.refresh_from_db()
    assert at_risk.first_touch_at_risk == [handoff.pk]
    assert breach.first_touch_breached == [handoff.pk]
    assert handoff.first_touch_breached_at == handoff.first_touch_due_at
    assert kinds(handoff)[-2:] == ["first_touch_at_risk", "first_touch_breached"]
    assert told(handoff)[-2:] == [
        ("first_touch_at_risk", world.rep.username),
        ("first_touch_breached", world.manager.username),
    ]

    services.handoff_log_first_touch(
        handoff=handoff, actor=world.rep, channel="call", now=handoff.first_touch_due_at + 45 * MIN
    )
    late = handoff_first_touch_late_by(handoff, now=handoff.first_touch_due_at + 600 * MIN)
    assert late is not None and late.business_minutes == pytest.approx(45)


def test_accepting_after_the_breach_shows_how_late_the_answer_was(world):
    handoff = world.promote()
    sla_sweep(now=handoff.due_at + MIN)
    # Accepted at 09:30 the next morning: 90 wall minutes... and 19.5 hours of night.
    answer = dt.datetime(2025, 3, 5, 9, 30, tzinfo=NY)
    services.handoff_accept(handoff=handoff, actor=world.rep, now=answer)
    handoff.refresh_from_db()

    late = handoff_late_by(handoff, now=answer + dt.timedelta(days=3))

    assert handoff.accepted_late is True
    assert late is not None
    assert late.wall == dt.timedelta(hours=19, minutes=30)
    assert late.business_minutes == pytest.approx(3 * 60 + 30)  # 14:00-17:00 and 09:00-09:30
    assert late.label == "late by 3h 30m (20 hours)"


def test_the_sweep_skips_a_handoff_answered_before_it_ran(world):
    handoff = world.promote()
    services.handoff_accept(handoff=handoff, actor=world.rep, now=handoff.due_at - MIN)

    result = sla_sweep(now=handoff.due_at + MIN)

    assert result.breached == [] and kinds(handoff) == ["created", "transition"]


def test_the_notifications_of_the_ladder_are_sent_and_each_once(world, mailoutbox):
    handoff = world.promote()
    sla_sweep(now=handoff.due_at + MIN)
    sla_sweep(now=handoff.due_at + 2 * MIN)

    notifications_send(now=handoff.due_at + 3 * MIN)
    notifications_send(now=handoff.due_at + 4 * MIN)

    assert sorted((m.to[0], m.subject.split(":")[0]) for m in mailoutbox) == [
        (world.manager.email, "SLA breached"),
        (world.rep.email, "New lead for you"),
    ]

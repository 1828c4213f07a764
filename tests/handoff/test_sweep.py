"""The SLA sweep's escalation ladder, without a worker: the sweep service called directly."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from core.roles import SALES_MANAGER
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.states import Status
from handoff.sweep import handoff_first_touch_late_by, handoff_late_by, late_by, sla_sweep
from tests.factories import BusinessCalendarFactory, UserFactory
from tests.handoff.conftest import NOW, policy_snapshot

MIN = dt.timedelta(minutes=1)


def events_of(handoff: Handoff, kind: str | None = None) -> list[HandoffEvent]:
    qs = HandoffEvent.objects.filter(handoff=handoff)
    return list(qs.filter(kind=kind) if kind else qs)


def notes_of(handoff: Handoff, kind: str | None = None) -> list[Notification]:
    qs = Notification.objects.filter(handoff=handoff)
    return list(qs.filter(kind=kind) if kind else qs)


# --- breach ------------------------------------------------------------------------------


def test_a_breach_is_dated_at_the_deadline_not_when_it_was_noticed(sweep_world):
    due = NOW - 7 * MIN
    handoff = sweep_world.make_handoff(due_at=due)

    result = sla_sweep(now=NOW)

    handoff.refresh_from_db()
    assert result.breached == [handoff.pk]
    assert handoff.breached_at == due
    assert handoff.status == Status.PENDING  # a breach is a timestamp, not a state
    [event] = events_of(handoff, HandoffEvent.Kind.BREACHED)
    assert event.at == due
    assert event.payload == {
        "flagged_at": NOW.isoformat(),
        "deadline": due.isoformat(),
        "late_by_seconds": 7 * 60,
        "rep_id": sweep_world.rep.pk,
        "attempt": 1,
    }


def test_a_breach_tells_the_team_manager_once(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW - MIN)

    sla_sweep(now=NOW)

    [note] = notes_of(handoff)
    assert note.kind == Notification.Kind.BREACHED
    assert note.recipient == sweep_world.manager
    assert note.to_email == sweep_world.manager.email
    assert note.event == HandoffEvent.objects.get(handoff=handoff, kind="breached")
    assert note.sent_at is None and note.next_attempt_at == NOW
    assert "SLA breached" in note.subject
    assert "Rita" in note.body  # who held it


def test_a_breach_without_manager_notice_in_the_policy_is_flagged_but_tells_nobody(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW - MIN, policy=policy_snapshot(notify_manager_on_breach=False)
    )

    sla_sweep(now=NOW)

    handoff.refresh_from_db()
    assert handoff.breached_at is not None
    assert len(events_of(handoff, "breached")) == 1
    assert notes_of(handoff) == []


def test_a_team_without_a_manager_tells_every_sales_manager(sweep_world):
    sweep_world.team.manager = None
    sweep_world.team.save()
    other = UserFactory(username="mona.manager", role=SALES_MANAGER)
    handoff = sweep_world.make_handoff(due_at=NOW - MIN)

    sla_sweep(now=NOW)

    assert {n.recipient for n in notes_of(handoff)} == {sweep_world.manager, other}


def test_handoffs_not_yet_due_or_no_longer_pending_are_left_alone(sweep_world):
    future = sweep_world.make_handoff(due_at=NOW + 2 * MIN, at_risk_at=NOW + MIN)
    accepted = sweep_world.make_handoff(due_at=NOW - MIN, status=Status.ACCEPTED)
    waiting = sweep_world.make_handoff(due_at=NOW - MIN, status=Status.WAITING)
    returned = sweep_world.make_handoff(due_at=NOW - MIN, status=Status.RETURNED)

    result = sla_sweep(now=NOW)

    assert result.flagged == 0
    for handoff in (future, accepted, waiting, returned):
        handoff.refresh_from_db()
        assert handoff.breached_at is None
        assert events_of(handoff) == []


def test_a_handoff_exactly_at_its_deadline_is_breached(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW)

    assert sla_sweep(now=NOW).breached == [handoff.pk]


def test_a_second_sweep_changes_nothing(sweep_world):
    breached = sweep_world.make_handoff(due_at=NOW - MIN)
    at_risk = sweep_world.make_handoff(due_at=NOW + 10 * MIN, at_risk_at=NOW - MIN)
    sla_sweep(now=NOW)
    before = (
        list(Handoff.objects.order_by("id").values()),
        HandoffEvent.objects.count(),
        Notification.objects.count(),
    )

    again = sla_sweep(now=NOW + 5 * MIN)

    assert again.flagged == 0 and again.notifications == 0
    after = (
        list(Handoff.objects.order_by("id").values()),
        HandoffEvent.objects.count(),
        Notification.objects.count(),
    )
    assert after == before
    assert len(events_of(breached)) == 1 and len(events_of(at_risk)) == 1


def test_the_sweep_goes_through_more_due_rows_than_one_batch(sweep_world):
    handoffs = [sweep_world.make_handoff(due_at=NOW - n * MIN) for n in range(1, 8)]

    result = sla_sweep(now=NOW, batch_size=3)

    assert sorted(result.breached) == sorted(h.pk for h in handoffs)
    assert HandoffEvent.objects.filter(kind="breached").count() == 7
    assert Notification.objects.filter(kind="breached").count() == 7
    # Three batches of at most three for the seven breaches; the other steps had nothing due.
    assert result.batches == 3


# --- at risk -----------------------------------------------------------------------------


def test_a_handoff_at_risk_reminds_its_rep(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW + 30 * MIN, at_risk_at=NOW - 2 * MIN)

    result = sla_sweep(now=NOW)

    handoff.refresh_from_db()
    assert result.at_risk == [handoff.pk] and result.breached == []
    assert handoff.at_risk_flagged_at == NOW
    assert handoff.breached_at is None
    [event] = events_of(handoff)
    assert (event.kind, event.at) == ("at_risk", NOW - 2 * MIN)
    assert event.payload == {
        "flagged_at": NOW.isoformat(),
        "deadline": (NOW - 2 * MIN).isoformat(),
        "due_at": (NOW + 30 * MIN).isoformat(),
        "rep_id": sweep_world.rep.pk,
        "attempt": 1,
    }
    [note] = notes_of(handoff)
    assert (note.kind, note.recipient) == ("at_risk", sweep_world.rep)
    assert "At risk" in note.subject


def test_an_unassigned_handoff_at_risk_reminds_the_manager(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW + 30 * MIN, at_risk_at=NOW - MIN, rep=None)

    sla_sweep(now=NOW)

    assert [n.recipient for n in notes_of(handoff)] == [sweep_world.manager]


def test_a_handoff_both_at_risk_and_overdue_is_told_once_as_a_breach(sweep_world):
    # The worker was down through both moments: the rep is not reminded of a deadline that
    # has already passed.
    handoff = sweep_world.make_handoff(due_at=NOW - MIN, at_risk_at=NOW - 60 * MIN)

    sla_sweep(now=NOW)

    assert [e.kind for e in events_of(handoff)] == ["breached"]
    assert [n.kind for n in notes_of(handoff)] == ["breached"]


def test_an_at_risk_handoff_later_breaches_once(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW + 10 * MIN, at_risk_at=NOW - MIN)

    sla_sweep(now=NOW)
    sla_sweep(now=NOW + 11 * MIN)
    sla_sweep(now=NOW + 12 * MIN)

    assert [e.kind for e in events_of(handoff)] == ["at_risk", "breached"]
    assert [(n.kind, n.recipient) for n in notes_of(handoff)] == [
        ("at_risk", sweep_world.rep),
        ("breached", sweep_world.manager),
    ]


# --- the on-breach ladder ----------------------------------------------------------------


def test_after_max_reassignments_a_breach_lands_in_the_manager_queue(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW - MIN,
        attempt=3,  # two reassignments already happened in this chain
        policy=policy_snapshot(reassign_on_breach=True, max_reassignments=2),
    )

    result = sla_sweep(now=NOW)

    handoff.refresh_from_db()
    assert result.escalated == [handoff.pk] and result.reassigned == []
    assert handoff.status == Status.PENDING
    assert handoff.assigned_to is None  # in the manager's queue
    assert [e.kind for e in events_of(handoff)] == ["breached", "escalated"]
    escalated = events_of(handoff, "escalated")[0]
    assert escalated.reason == "max_reassignments"
    assert escalated.payload["from_rep_id"] == sweep_world.rep.pk
    [note] = notes_of(handoff)
    assert (note.kind, note.recipient, note.event) == ("unassigned", sweep_world.manager, escalated)
    assert "waits in your queue" in note.body


def test_a_policy_without_reassignment_keeps_the_rep_on_a_breached_handoff(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW - MIN, attempt=5)

    sla_sweep(now=NOW)

    handoff.refresh_from_db()
    assert handoff.assigned_to == sweep_world.rep
    assert [e.kind for e in events_of(handoff)] == ["breached"]


# --- first touch -------------------------------------------------------------------------


def test_first_touch_at_risk_reminds_the_rep(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW - 120 * MIN,
        status=Status.ACCEPTED,
        first_touch_due_at=NOW + 60 * MIN,
        first_touch_at_risk_at=NOW - MIN,
    )

    result = sla_sweep(now=NOW)

    handoff.refresh_from_db()
    assert result.first_touch_at_risk == [handoff.pk]
    assert handoff.first_touch_at_risk_flagged_at == NOW
    assert [e.kind for e in events_of(handoff)] == ["first_touch_at_risk"]
    assert [(n.kind, n.recipient) for n in notes_of(handoff)] == [
        ("first_touch_at_risk", sweep_world.rep)
    ]


def test_a_first_touch_breach_is_dated_at_its_deadline_and_tells_the_manager(sweep_world):
    due = NOW - 3 * MIN
    handoff = sweep_world.make_handoff(
        due_at=NOW - 600 * MIN,
        status=Status.ACCEPTED,
        first_touch_due_at=due,
        first_touch_at_risk_at=due - 60 * MIN,
    )

    result = sla_sweep(now=NOW)
    sla_sweep(now=NOW + MIN)

    handoff.refresh_from_db()
    assert result.first_touch_breached == [handoff.pk]
    assert handoff.first_touch_breached_at == due
    assert [e.kind for e in events_of(handoff)] == ["first_touch_breached"]
    assert [(n.kind, n.recipient) for n in notes_of(handoff)] == [
        ("first_touch_breached", sweep_world.manager)
    ]


def test_a_logged_first_touch_stops_the_first_touch_ladder(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW - 600 * MIN,
        status=Status.ACCEPTED,
        first_touch_due_at=NOW - 3 * MIN,
        first_touch_at_risk_at=NOW - 60 * MIN,
        first_touch_at=NOW - 90 * MIN,
    )

    assert sla_sweep(now=NOW).flagged == 0
    assert events_of(handoff) == []


# --- late by -----------------------------------------------------------------------------


def test_a_breached_handoff_shows_how_late_in_business_and_wall_time(sweep_world):
    office = BusinessCalendarFactory(name="NY office")  # Mon-Fri 09:00-17:00, New York
    friday_due = dt.datetime(2025, 3, 7, 21, 30, tzinfo=dt.UTC)  # 16:30 in New York
    monday = dt.datetime(2025, 3, 10, 14, 0, tzinfo=dt.UTC)  # 10:00 EDT (after the DST change)
    handoff = sweep_world.make_handoff(due_at=friday_due, calendar=office)
    sla_sweep(now=friday_due + MIN)

    late = handoff_late_by(handoff, now=monday)

    assert late is not None
    assert late.wall == monday - friday_due  # 64.5 h of wall time
    assert late.business_minutes == pytest.approx(30 + 60)
    # Business time first (the SLA counts it), the wall time beside.
    assert late.label == "late by 1h 30m (65 hours)"


def test_an_answer_before_the_deadline_is_not_late(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW, status=Status.ACCEPTED, responded_at=NOW - MIN, accepted_at=NOW - MIN
    )

    assert handoff_late_by(handoff, now=NOW + 60 * MIN) is None


def test_a_late_answer_stays_late_by_the_time_it_took(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW, status=Status.ACCEPTED, responded_at=NOW + 25 * MIN
    )

    late = handoff_late_by(handoff, now=NOW + 600 * MIN)

    assert late is not None and late.wall == 25 * MIN and late.business_minutes == 25


def test_first_touch_late_by_counts_until_the_touch_is_logged(sweep_world):
    handoff = sweep_world.make_handoff(
        due_at=NOW - 600 * MIN, status=Status.ACCEPTED, first_touch_due_at=NOW - 10 * MIN
    )

    late = handoff_first_touch_late_by(handoff, now=NOW)

    assert late is not None and late.business_minutes == pytest.approx(10)
    assert late.as_dict()["wall_seconds"] == 600


def test_late_by_is_none_before_the_deadline(sweep_world):
    from handoff.selectors import calendar_for

    assert late_by(due_at=NOW, until=NOW, calendar=calendar_for(sweep_world.calendar)) is None


# --- cost --------------------------------------------------------------------------------


@pytest.mark.parametrize("due", [10, 40])
def test_the_sweep_costs_the_same_number_of_queries_for_10_or_40_breaches(
    sweep_world, django_assert_max_num_queries, due
):
    for n in range(due):
        sweep_world.make_handoff(due_at=NOW - (n + 1) * MIN)
    sweep_world.make_handoff(due_at=NOW + 60 * MIN, at_risk_at=NOW - MIN)

    # Per step and batch: claim+flag, details, events, outbox; plus savepoints, the manager
    # fallback and the empty tail of each step. Not one query per handoff.
    with django_assert_max_num_queries(24):
        result = sla_sweep(now=NOW)

    assert len(result.breached) == due and len(result.at_risk) == 1


def test_an_empty_sweep_makes_one_small_query_per_step(sweep_world, django_assert_max_num_queries):
    sweep_world.make_handoff(due_at=NOW + 60 * MIN, at_risk_at=NOW + 30 * MIN)

    # One probe per step (no transaction), and the advisory lock and unlock on PostgreSQL.
    with django_assert_max_num_queries(4 + 2):
        result = sla_sweep(now=NOW)

    assert result.ran and result.flagged == 0


# --- the operator's command --------------------------------------------------------------


def test_the_sla_sweep_command_prints_what_it_flagged(sweep_world, time_machine):
    time_machine.move_to(NOW, tick=False)
    handoff = sweep_world.make_handoff(due_at=NOW - MIN)
    out = StringIO()

    call_command("sla_sweep", stdout=out)

    text = out.getvalue()
    assert "breached 1, at risk 0" in text
    assert f"breached: #{handoff.pk}" in text
    assert "notifications 1" in text


def test_the_sla_sweep_command_can_send_the_notifications_too(
    sweep_world, time_machine, mailoutbox
):
    time_machine.move_to(NOW, tick=False)
    sweep_world.make_handoff(due_at=NOW - MIN)
    out = StringIO()

    call_command("sla_sweep", "--send", stdout=out)

    assert "notifications: 1 sent" in out.getvalue()
    assert [m.to for m in mailoutbox] == [[sweep_world.manager.email]]


def test_the_sweep_task_runs_the_same_sweep(sweep_world, time_machine):
    from handoff.tasks import sla_sweep as sweep_task

    time_machine.move_to(NOW, tick=False)
    sweep_world.make_handoff(due_at=NOW - MIN)

    summary = sweep_task.run()

    assert summary["breached"] == 1 and summary["ran"] is True


def test_a_breach_flagged_days_late_says_how_late_in_business_days(sweep_world):
    office = BusinessCalendarFactory(name="NY office")  # Mon-Fri 09:00-17:00, New York
    friday_due = dt.datetime(2025, 3, 7, 21, 30, tzinfo=dt.UTC)  # 16:30 in New York
    thursday = dt.datetime(2025, 3, 13, 16, 0, tzinfo=dt.UTC)  # 12:00 EDT, worker was down
    handoff = sweep_world.make_handoff(due_at=friday_due, calendar=office)

    sla_sweep(now=thursday)

    to_rep = next(n for n in notes_of(handoff) if n.kind == "breached")
    # 30 m on Friday, Monday to Wednesday, 3 h on Thursday: 3 business days 3.5 h.
    assert "It is late by 3 business days (6 days) now." in to_rep.body


def test_a_breach_flagged_on_time_says_nothing_more(sweep_world):
    handoff = sweep_world.make_handoff(due_at=NOW)

    sla_sweep(now=NOW + MIN)

    to_rep = next(n for n in notes_of(handoff) if n.kind == "breached")
    assert "late by" not in to_rep.body

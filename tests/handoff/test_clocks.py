"""handoff.clocks as a pure module: no database, no Django settings read, `now` always given.

A Monday-to-Friday 09:00-17:00 UTC calendar (business days of 8 hours) unless said otherwise;
the `Handoff` methods are checked on unsaved rows with the calendar passed in.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from handoff import clocks, sla
from handoff.models import Handoff
from handoff.states import Status

UTC = dt.UTC
OFFICE = sla.build_calendar(
    tz="UTC", windows=[(d, dt.time(9), dt.time(17)) for d in range(5)]
)  # Monday-Friday
MONDAY_10 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def no_calendar() -> sla.Calendar:
    raise AssertionError("the calendar is read only when the clock runs or is paused")


def test_the_module_imports_nothing_of_django():
    tree = ast.parse(Path(clocks.__file__).read_text())
    imported = [
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith(("django", "handoff.models"))]


def test_the_states_a_clock_reads_are_the_handoff_states():
    assert (clocks.PENDING, clocks.WAITING, clocks.ACCEPTED) == (
        Status.PENDING,
        Status.WAITING,
        Status.ACCEPTED,
    )


def test_a_business_day_is_the_calendars_working_day():
    assert clocks.working_day_minutes(OFFICE) == 480
    assert clocks.business_days(1200, 480) == 2.5
    assert clocks.business_days(60, 0) == 0.0


@pytest.mark.parametrize(
    ("minutes", "label"),
    [(240, "4h"), (90, "1h 30m"), (15, "15m"), (51 * 60, "51h"), (0, "0m"), (89.6, "1h 30m")],
)
def test_a_policy_window_reads_in_hours_never_in_days_of_24_hours(minutes, label):
    assert clocks.hours_label(minutes) == label


def test_late_is_strictly_after_the_deadline_and_a_breach_is_at_it():
    due = MONDAY_10
    assert not clocks.is_late(due, due)
    assert clocks.is_late(due, due + dt.timedelta(seconds=1))
    assert not clocks.is_late(None, due)
    assert clocks.is_breached(status="pending", due_at=due, breached_at=None, now=due)
    assert not clocks.is_breached(
        status="pending", due_at=due, breached_at=None, now=due - dt.timedelta(seconds=1)
    )
    # Answered late: flagged by the sweep or not, only a flagged one stays "breached".
    assert not clocks.is_breached(status="accepted", due_at=due, breached_at=None, now=due)
    assert clocks.is_breached(status="accepted", due_at=due, breached_at=due, now=due)


@pytest.mark.parametrize(
    ("status", "risk_minutes", "due_minutes", "breached", "at_risk"),
    [
        ("pending", -1, 10, False, True),
        ("pending", 0, 10, False, True),  # at the at-risk point itself
        ("pending", 1, 10, False, False),  # not yet
        ("pending", -10, 0, False, False),  # due: breached, no longer at risk
        ("pending", -10, 5, True, False),  # flagged breached
        ("waiting", -1, 10, False, False),
        ("accepted", -1, 10, False, False),
    ],
)
def test_at_risk_is_pending_past_the_warning_and_before_the_deadline(
    status, risk_minutes, due_minutes, breached, at_risk
):
    now = MONDAY_10
    assert (
        clocks.is_at_risk(
            status=status,
            due_at=now + dt.timedelta(minutes=due_minutes),
            at_risk_at=now + dt.timedelta(minutes=risk_minutes),
            breached_at=now if breached else None,
            now=now,
        )
        is at_risk
    )


def test_a_running_clock_counts_business_time_and_wall_time():
    due = MONDAY_10 + dt.timedelta(hours=3, minutes=20)
    clock = clocks.running_clock(due, MONDAY_10, OFFICE)
    assert clock.state == "running" and not clock.late
    assert clock.business_minutes_left == 200 and clock.wall_seconds_left == 200 * 60
    assert clock.label == "3h 20m left"
    assert clock.as_dict()["label"] == "3h 20m left"


def test_a_clock_late_over_a_weekend_says_both_business_and_wall_time():
    friday_16_30 = dt.datetime(2026, 3, 6, 16, 30, tzinfo=UTC)
    monday_9_30 = dt.datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    clock = clocks.running_clock(friday_16_30, monday_9_30, OFFICE)
    assert clock.late and clock.business_minutes_left == -60
    assert clock.label == "late by 1h 00m (65 hours)"
    assert clocks.tone(clock, at_risk_at=None, now=monday_9_30) == "late"


def test_the_accept_clock_from_a_handoffs_columns():
    due = MONDAY_10 + dt.timedelta(hours=1)
    running = clocks.accept_clock(
        status="pending",
        due_at=due,
        responded_at=None,
        remaining=None,
        calendar=lambda: OFFICE,
        now=MONDAY_10,
    )
    assert running.label == "1h 00m left"
    assert clocks.tone(running, at_risk_at=MONDAY_10, now=MONDAY_10) == "at-risk"
    assert clocks.tone(running, at_risk_at=due, now=MONDAY_10) == "ok"
    paused = clocks.accept_clock(
        status="waiting",
        due_at=None,
        responded_at=None,
        remaining=40,
        calendar=lambda: OFFICE,
        now=MONDAY_10,
    )
    assert (paused.state, paused.label) == ("paused", "paused, 40m left")
    assert clocks.tone(paused, at_risk_at=None, now=MONDAY_10) == "paused"
    for responded, words in ((due, "answered in time"), (due + dt.timedelta(1), "answered late")):
        ended = clocks.accept_clock(
            status="accepted",
            due_at=due,
            responded_at=responded,
            remaining=None,
            calendar=no_calendar,
            now=MONDAY_10,
        )
        assert ended.label == words
    none = clocks.accept_clock(
        status="returned",
        due_at=None,
        responded_at=None,
        remaining=None,
        calendar=no_calendar,
        now=MONDAY_10,
    )
    assert (none.state, none.label) == ("none", "")


def test_the_first_touch_clock_runs_from_the_accept_to_the_touch():
    due = MONDAY_10 + dt.timedelta(days=1)
    kwargs = {"due_at": due, "now": MONDAY_10}
    running = clocks.first_touch_clock(
        status="accepted", touched_at=None, calendar=lambda: OFFICE, **kwargs
    )
    assert running.label == "1 business day left (24 hours)"
    touched = clocks.first_touch_clock(
        status="qualified", touched_at=MONDAY_10, calendar=no_calendar, **kwargs
    )
    assert touched.state == "met"
    ended = clocks.first_touch_clock(
        status="returned", touched_at=None, calendar=no_calendar, **kwargs
    )
    assert ended.state == "none"


def test_late_by_is_none_on_time_and_in_the_pages_words_after():
    due = MONDAY_10
    assert clocks.late_by(due_at=due, until=due, calendar=OFFICE) is None
    late = clocks.late_by(due_at=due, until=due + dt.timedelta(days=7), calendar=OFFICE)
    assert late is not None
    assert late.business_minutes == 5 * 480
    assert late.label == "late by 5 business days (7 days)"
    assert late.as_dict() == {
        "wall_seconds": 7 * 86400.0,
        "business_minutes": 2400.0,
        "label": "late by 5 business days (7 days)",
    }


def test_lateness_runs_to_now_the_pause_or_the_answer():
    now, paused, answered = (
        MONDAY_10,
        MONDAY_10 - dt.timedelta(hours=2),
        MONDAY_10 - dt.timedelta(1),
    )
    until = clocks.accept_late_until
    assert until(status="pending", paused_at=None, answered_at=None, now=now) == now
    assert until(status="waiting", paused_at=paused, answered_at=None, now=now) == paused
    assert until(status="accepted", paused_at=None, answered_at=answered, now=now) == answered
    touch = clocks.first_touch_late_until
    assert touch(status="accepted", touched_at=None, now=now) == now
    assert touch(status="qualified", touched_at=answered, now=now) == answered
    assert touch(status="returned", touched_at=None, now=now) is None


def test_the_handoff_methods_delegate_to_the_clocks():
    due = MONDAY_10 - dt.timedelta(hours=2)
    handoff = Handoff(
        status=Status.PENDING,
        due_at=due,
        at_risk_at=due - dt.timedelta(hours=1),
        first_touch_due_at=None,
    )
    clock = handoff.accept_clock(MONDAY_10, OFFICE)
    assert clock.late and clock.label == "late by 1h 00m (2 hours)"
    assert handoff.is_breached(MONDAY_10) and not handoff.is_at_risk(MONDAY_10)
    assert handoff.is_late_at(MONDAY_10) and not handoff.is_late_at(due)
    late = handoff.late_by(MONDAY_10, OFFICE)
    assert late is not None and late.business_minutes == 60
    assert handoff.first_touch_late_by(MONDAY_10, OFFICE) is None
    assert handoff.first_touch_clock(MONDAY_10, OFFICE).state == "none"

    accepted = Handoff(
        status=Status.ACCEPTED,
        due_at=due,
        responded_at=due - dt.timedelta(minutes=5),
        first_touch_due_at=due,
    )
    assert accepted.accept_clock(MONDAY_10, OFFICE).label == "answered in time"
    assert accepted.late_by(MONDAY_10, OFFICE) is None
    assert accepted.first_touch_late_at(MONDAY_10)
    first_touch = accepted.first_touch_late_by(MONDAY_10, OFFICE)
    assert first_touch is not None and first_touch.label == "late by 1h 00m (2 hours)"

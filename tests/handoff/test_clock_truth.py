"""One set of words and definitions for a handoff's clocks: the `Handoff` methods (handoff.clocks)
agree with the lists' SQL (handoff.filters), the pages' and the API's clock (handoff.selectors)
and the sweep's lateness (handoff.sweep), row by row."""

from __future__ import annotations

import datetime as dt

import pytest

from handoff import selectors, sweep
from handoff.filters import at_risk_q, breached_q
from handoff.models import Handoff
from handoff.states import Status
from tests.handoff.conftest import NOW

H = dt.timedelta(hours=1)


@pytest.fixture
def rows(sweep_world):
    make = sweep_world.make_handoff
    waiting = make(
        due_at=NOW, status=Status.WAITING, paused_at=NOW - H, remaining_business_minutes=40
    )
    Handoff.objects.filter(pk=waiting.pk).update(due_at=None, at_risk_at=None)  # paused
    waiting.refresh_from_db()
    return [
        make(due_at=NOW + 2 * H, at_risk_at=NOW + H),  # running, ok
        make(due_at=NOW + H, at_risk_at=NOW - H),  # at risk
        make(due_at=NOW, at_risk_at=NOW - H),  # due this instant: breached, not late yet
        make(due_at=NOW - 3 * H),  # late, not flagged yet
        make(due_at=NOW - 3 * H, breached_at=NOW - 3 * H),  # flagged
        make(
            due_at=NOW - 5 * H,
            status=Status.ACCEPTED,
            responded_at=NOW - 4 * H,
            accepted_at=NOW - 4 * H,
            first_touch_due_at=NOW - 2 * H,
        ),  # accepted an hour late, first touch overdue
        waiting,
    ]


def test_breached_and_at_risk_read_the_same_in_python_and_in_sql(rows):
    breached = set(Handoff.objects.filter(breached_q(NOW)).values_list("pk", flat=True))
    at_risk = set(Handoff.objects.filter(at_risk_q(NOW)).values_list("pk", flat=True))
    for handoff in rows:
        assert handoff.is_breached(NOW) is (handoff.pk in breached), handoff.pk
        assert handoff.is_at_risk(NOW) is (handoff.pk in at_risk), handoff.pk
    assert [h.is_late_at(NOW) for h in rows] == [False, False, False, True, True, True, False]


def test_the_pages_clock_and_the_sweeps_lateness_are_the_models(rows):
    for handoff in rows:
        calendar = selectors.handoff_calendar(handoff)
        mine = handoff.accept_clock(NOW, calendar)
        theirs = selectors.accept_clock(handoff, now=NOW)
        assert (mine.state, mine.label, mine.late) == (
            theirs.state,
            selectors.clock_label(theirs),
            theirs.late,
        )
        touch = handoff.first_touch_clock(NOW, calendar)
        assert touch.label == selectors.clock_label(selectors.first_touch_clock(handoff, now=NOW))
        for ours, sweeps in (
            (handoff.late_by(NOW), sweep.handoff_late_by(handoff, now=NOW)),
            (handoff.first_touch_late_by(NOW), sweep.handoff_first_touch_late_by(handoff, now=NOW)),
        ):
            assert (ours and ours.as_dict()) == (sweeps and sweeps.as_dict())
    accepted = rows[5]
    assert accepted.late_by(NOW).label == "late by 1h 00m"
    assert accepted.first_touch_late_by(NOW).label == "late by 2h 00m"

"""The sweep's set-based outbox (PostgreSQL) says exactly what the Python ladder says.

On PostgreSQL the batch statement decides and renders the common messages itself
(handoff.sweep.render compiles the templates, the times in each recipient's zone and the late
words into SQL); the ladder in Python is the reference. These tests run both on the same rows
and compare every message, and hold each compiled expression equal to its Python source.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
from django.db import connection, transaction

from core.roles import SALES, SALES_MANAGER
from handoff import clocks, notifications
from handoff.models import HandoffEvent, Notification
from handoff.states import Status
from handoff.sweep import render
from handoff.sweep.runner import _Sweep
from leads.models import UserProfile
from tests.factories import BusinessCalendarFactory, LeadFactory, TeamFactory, UserFactory
from tests.handoff.conftest import NOW, policy_snapshot

pytestmark = pytest.mark.postgres

MIN = dt.timedelta(minutes=1)


class Rollback(Exception):
    pass


def sweep_messages(now: dt.datetime, *, in_sql: bool) -> dict[str, Any]:
    """Every message and event of one sweep at `now`, rolled back afterwards."""
    found: dict[str, Any] = {}
    try:
        with transaction.atomic():
            run = _Sweep(now=now, batch_size=4)
            run.outbox_in_sql = in_sql
            run.run()
            found["messages"] = {
                (n.handoff_id, n.recipient_id, n.kind, n.to_email, n.subject, n.body)
                for n in Notification.objects.all()
            }
            found["events"] = sorted(
                HandoffEvent.objects.values_list("handoff_id", "kind", "reason", "payload")
            )
            found["count"] = run.result.notifications
            found["flagged"] = run.result.summary()
            raise Rollback
    except Rollback:
        pass
    return found


def test_the_statement_writes_the_messages_the_ladder_writes(sweep_world):
    w = sweep_world
    office = BusinessCalendarFactory(name="NY office")  # Mon-Fri 09:00-17:00, New York
    london = BusinessCalendarFactory(
        name="London", timezone="Europe/London", windows=[(d, "08:00", "18:00") for d in range(6)]
    )
    UserProfile.objects.create(user=w.rep, time_zone="Asia/Kolkata")
    UserProfile.objects.create(user=w.manager, time_zone="America/Sao_Paulo")
    other_manager = UserFactory(username="olga.manager", first_name="", role=SALES_MANAGER)
    UserProfile.objects.create(user=other_manager, time_zone="Europe/London")
    nobody_team = TeamFactory(name="No manager", calendar=london, manager=None)
    idle = UserFactory(username="ida.idle", role=SALES, is_active=False)
    nameless = LeadFactory(first_name="", last_name=" ", company="", email="who@nowhere.test")
    thursday = dt.datetime(2025, 3, 13, 16, 0, tzinfo=dt.UTC)  # 12:00 EDT, after the DST change
    friday_due = dt.datetime(2025, 3, 7, 21, 30, tzinfo=dt.UTC)
    late_dues = [thursday - d for d in (MIN, 59 * MIN, 61 * MIN, 90 * MIN, 30.5 * MIN * 121)]
    for due in late_dues:
        w.make_handoff(due_at=due, context_note="Asked for a demo, call before noon")
    w.make_handoff(due_at=friday_due, calendar=office)
    w.make_handoff(due_at=friday_due - dt.timedelta(days=20), calendar=office)
    w.make_handoff(due_at=thursday - 3 * MIN, calendar=london, team=nobody_team)
    w.make_handoff(due_at=thursday - dt.timedelta(days=40), team=nobody_team, calendar=None)
    w.make_handoff(due_at=thursday - 5 * MIN, lead=nameless, rep=None)
    w.make_handoff(due_at=thursday - 7 * MIN, policy=policy_snapshot(notify_manager_on_breach=0))
    w.make_handoff(due_at=thursday - 8 * MIN, policy={"reassign_on_breach": True})
    w.make_handoff(due_at=thursday + 30 * MIN, at_risk_at=thursday - MIN)
    w.make_handoff(due_at=thursday + 20 * MIN, at_risk_at=thursday - 2 * MIN, rep=idle)
    w.make_handoff(due_at=thursday + 20 * MIN, at_risk_at=thursday - 3 * MIN, rep=None)
    for n, calendar in enumerate((office, london, None)):
        w.make_handoff(
            due_at=thursday - dt.timedelta(days=2),
            status=Status.ACCEPTED,
            calendar=calendar,
            first_touch_due_at=thursday - dt.timedelta(hours=3 + 20 * n),
            first_touch_at_risk_at=thursday - dt.timedelta(hours=5 + 20 * n),
        )
        w.make_handoff(
            due_at=thursday - dt.timedelta(days=2),
            status=Status.ACCEPTED,
            calendar=calendar,
            first_touch_due_at=thursday + dt.timedelta(hours=3 + n),
            first_touch_at_risk_at=thursday - dt.timedelta(minutes=10 + n),
        )

    in_sql = sweep_messages(thursday, in_sql=True)
    in_python = sweep_messages(thursday, in_sql=False)

    assert in_sql["flagged"]["breached"] == 12 and in_sql["flagged"]["at_risk"] == 3
    assert sorted(in_sql["messages"] - in_python["messages"]) == []
    assert sorted(in_python["messages"] - in_sql["messages"]) == []
    assert in_sql["events"] == in_python["events"]
    assert in_sql["count"] == in_python["count"] == len(in_sql["messages"]) > 15
    bodies = " ".join(body for *_, body in in_sql["messages"])
    assert "It is late by 3 business days (6 days) now." in bodies  # the NY Friday breach
    assert "IST" in bodies and "-03" in bodies  # the rep's and the manager's own zones


def test_the_statement_leaves_the_rows_it_cannot_render_to_the_ladder(sweep_world):
    # A deadline further than render.SPAN_REACH from now: no zone span holds it.
    far = NOW - render.SPAN_REACH - dt.timedelta(days=30)
    handoff = sweep_world.make_handoff(due_at=far)

    in_sql = sweep_messages(NOW, in_sql=True)
    in_python = sweep_messages(NOW, in_sql=False)

    assert in_sql["messages"] == in_python["messages"]
    [(handoff_id, *_)] = in_sql["messages"]
    assert handoff_id == handoff.pk


def _select(expression: str, params: dict[str, Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {expression}", params)
        return cursor.fetchone()[0]


def test_the_late_words_in_sql_are_the_clocks_words(db):
    minutes = [0, 0.4, 1, 29.5, 30.5, 59.99, 60, 61.5, 89.5, 479.5, 480, 540, 600, 1439.5]
    minutes += [1440, 1500, 2880, 2940, 4319.5, 4400, 9999.25, 47520.5, 200000]
    seconds = [0, 59, 3599, 3600, 5399, 5400, 86399, 259199, 259200, 1209599, 1209600, 4e6]
    days = [0, 480.0, 600.0, 1440.0]
    cases = list(itertools.product(minutes, seconds, days))
    expression = render.late_words_sql("c.m", "c.s", "c.d")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expression} FROM unnest(%s::float8[], %s::float8[], %s::float8[])"
            " WITH ORDINALITY AS c(m, s, d, i) ORDER BY c.i",
            [
                [float(m) for m, _, _ in cases],
                [float(s) for _, s, _ in cases],
                [float(d) for _, _, d in cases],
            ],
        )
        words = [row[0] for row in cursor.fetchall()]

    assert words == [clocks.late_words(m, s, d).text for m, s, d in cases]


@pytest.mark.parametrize(
    "name", ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"]
)
def test_times_in_sql_read_as_the_emails_read_them(db, name):
    spans = render.zone_spans(name, NOW.date())
    zone = notifications.zone_named(name)
    moments = [NOW + dt.timedelta(hours=7 * k, seconds=k) for k in range(-1300, 1300, 37)]
    for lo, *_ in spans[1:]:
        moments += [lo - dt.timedelta(seconds=1), lo, lo + dt.timedelta(seconds=1)]
    for moment in moments:
        [(_, _, offset, abbrev)] = [s for s in spans if s[0] <= moment < s[1]]
        text = _select(
            render.when_sql("%(t)s::timestamptz", "%(off)s", "%(abbrev)s::text"),
            {"t": moment, "off": offset, "abbrev": abbrev},
        )
        assert text == notifications.when_in(moment, zone), moment


def test_policy_flags_in_sql_are_python_truthiness(db):
    values = [True, False, None, 0, 1, 0.0, "", "no", [], [0], {}, {"a": 1}]
    for value, default in itertools.product(values, (True, False)):
        for policy in ({"flag": value}, {}, "not an object"):
            expected = bool(policy.get("flag", default)) if isinstance(policy, dict) else default
            got = _select(
                render.json_truthy("%(p)s::jsonb", "flag", default),
                {"p": json.dumps(policy)},
            )
            assert got is expected, (policy, default)

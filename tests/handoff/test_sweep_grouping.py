"""Breach alert grouping (storm suppression): a manager told of more than
`group_breaches_above()` (5) breaches by one sweep batch gets one grouped alert listing them
instead of one message each; below the threshold, one message each. Events stay one per
handoff, and the alert is written once.

The SQLite runs exercise the Python ladder; on PostgreSQL the batch statement writes the alerts
itself and must write exactly what the ladder writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection, transaction

from core.roles import SALES_MANAGER
from handoff.models import HandoffEvent, Notification
from handoff.notifications import (
    GROUP_LIST_CAP,
    About,
    Person,
    breached_list_link,
    handoff_link,
    render_breaches,
)
from handoff.sweep import sla_sweep
from handoff.sweep.ladder import GROUP_BREACHES_ABOVE
from handoff.sweep.runner import _Sweep
from tests.factories import LeadFactory, TeamFactory, UserFactory
from tests.handoff.conftest import NOW

Kind = Notification.Kind
MIN = dt.timedelta(minutes=1)


def breach(world: Any, n: int, **fields: Any) -> list[Any]:
    """n handoffs overdue at NOW, the first the most overdue."""
    return [world.make_handoff(due_at=NOW - (n - i) * MIN, **fields) for i in range(n)]


def test_the_threshold_is_five():
    assert GROUP_BREACHES_ABOVE == 5


def test_up_to_the_threshold_each_breach_is_its_own_message(sweep_world):
    breach(sweep_world, GROUP_BREACHES_ABOVE)
    result = sla_sweep(now=NOW)
    assert len(result.breached) == 5
    assert Notification.objects.filter(kind=Kind.BREACHED).count() == 5
    assert not Notification.objects.filter(kind=Kind.BREACHES).exists()
    assert result.notifications == 5


def test_above_the_threshold_the_manager_gets_one_alert_and_every_event(sweep_world):
    w = sweep_world
    handoffs = breach(w, GROUP_BREACHES_ABOVE + 1)
    result = sla_sweep(now=NOW)

    assert len(result.breached) == 6
    assert result.notifications == 1
    # Events stay one per handoff.
    assert HandoffEvent.objects.filter(kind=HandoffEvent.Kind.BREACHED).count() == 6
    assert not Notification.objects.filter(kind=Kind.BREACHED).exists()
    alert = Notification.objects.get()
    assert alert.kind == Kind.BREACHES
    assert alert.recipient_id == w.manager.pk and alert.to_email == w.manager.email
    assert alert.handoff_id is None and alert.event_id is None
    assert alert.subject == "6 handoffs breached their SLA"
    # Listed in deadline order, each with its page.
    positions = [alert.body.index(handoff_link(h.pk) + "\n") for h in handoffs]
    assert positions == sorted(positions)


def test_the_alert_is_written_exactly_once(sweep_world):
    breach(sweep_world, 8)
    sla_sweep(now=NOW)
    again = sla_sweep(now=NOW + MIN)
    assert again.flagged == 0 and again.notifications == 0
    assert Notification.objects.filter(kind=Kind.BREACHES).count() == 1
    assert not Notification.objects.filter(kind=Kind.BREACHED).exists()
    assert HandoffEvent.objects.filter(kind=HandoffEvent.Kind.BREACHED).count() == 8


def test_a_rolled_back_batch_writes_no_alert_and_the_next_sweep_writes_it_once(sweep_world):
    breach(sweep_world, 7)
    with pytest.raises(RuntimeError), transaction.atomic():
        sla_sweep(now=NOW)
        raise RuntimeError("the worker died")
    assert not Notification.objects.exists()
    sla_sweep(now=NOW)
    assert Notification.objects.filter(kind=Kind.BREACHES).count() == 1


def test_grouping_counts_per_batch(sweep_world):
    # Six breaches in batches of four: four, then two, neither above the threshold.
    breach(sweep_world, 6)
    result = sla_sweep(now=NOW, batch_size=4)
    assert result.batches >= 2
    assert Notification.objects.filter(kind=Kind.BREACHED).count() == 6
    assert not Notification.objects.filter(kind=Kind.BREACHES).exists()


def test_grouping_counts_per_manager(sweep_world):
    w = sweep_world
    breach(w, 6)
    other = UserFactory(username="olga.manager", first_name="Olga", role=SALES_MANAGER)
    small_team = TeamFactory(name="Small", calendar=w.calendar, manager=other)
    breach(w, 2, team=small_team)
    sla_sweep(now=NOW)
    assert list(
        Notification.objects.filter(kind=Kind.BREACHES).values_list("recipient_id", flat=True)
    ) == [w.manager.pk]
    assert sorted(
        Notification.objects.filter(kind=Kind.BREACHED).values_list("recipient_id", flat=True)
    ) == [other.pk, other.pk]


def test_the_threshold_is_a_setting(sweep_world, settings):
    settings.SLA_BREACH_GROUP_ABOVE = 1
    breach(sweep_world, 2)
    sla_sweep(now=NOW)
    assert Notification.objects.get().kind == Kind.BREACHES


def test_the_alert_lists_at_most_the_cap_then_links_the_breached_list(sweep_world):
    w = sweep_world
    n = GROUP_LIST_CAP + 3
    handoffs = breach(w, n)
    sla_sweep(now=NOW)
    alert = Notification.objects.get()
    assert alert.subject == f"{n} handoffs breached their SLA"
    body = alert.body
    assert body.startswith(f"Hello {w.manager.first_name or w.manager.username},\n\n")
    assert f"{n} handoffs were not answered by their deadlines:" in body
    for h in handoffs[:GROUP_LIST_CAP]:
        assert handoff_link(h.pk) + "\n" in body
    for h in handoffs[GROUP_LIST_CAP:]:
        assert handoff_link(h.pk) + "\n" not in body
    assert "... and 3 more.\n" in body
    assert breached_list_link().endswith("?breached=yes")
    assert body.endswith(f"All breached handoffs: {breached_list_link()}\n")


def test_render_breaches_words_each_item():
    zone = dt.UTC
    items = [
        About(
            handoff_id=41,
            lead="Ada Lovelace",
            company="",
            score=80,
            attempt=1,
            due_at=NOW,
            first_touch_due_at=None,
            rep="",
            context_note="",
            zone=zone,
        ),
        About(
            handoff_id=42,
            lead="Alan Turing",
            company="Bletchley",
            score=90,
            attempt=2,
            due_at=NOW + MIN,
            first_touch_due_at=None,
            rep="Rita Rep",
            context_note="",
            zone=zone,
        ),
    ]
    subject, body = render_breaches(
        recipient=Person(pk=1, email="m@example.com", username="max", first_name=""),
        items=items,
        zone=zone,
    )
    assert subject == "2 handoffs breached their SLA"
    assert body.startswith("Hello max,\n\n2 handoffs were not answered by their deadlines:\n\n")
    first = "- Ada Lovelace (company unknown), due Tue 04 Mar 15:00 UTC, assigned to nobody"
    second = "- Alan Turing (Bletchley), due Tue 04 Mar 15:01 UTC, assigned to Rita Rep"
    link = handoff_link(41)
    assert (first + (f": {link}" if link else "") + "\n") in body
    assert second in body and body.index(first) < body.index(second)
    assert "more." not in body


# --- PostgreSQL: the statement writes what the ladder writes ------------------------------


class Rollback(Exception):
    pass


def sweep_messages(now: dt.datetime, *, in_sql: bool, batch_size: int) -> set[tuple[Any, ...]]:
    found: set[tuple[Any, ...]] = set()
    try:
        with transaction.atomic():
            run = _Sweep(now=now, batch_size=batch_size)
            run.outbox_in_sql = in_sql
            run.run()
            found = {
                (n.handoff_id, n.event_id is None, n.recipient_id, n.kind, n.to_email, n.subject,
                 n.body)
                for n in Notification.objects.all()
            }  # fmt: skip
            raise Rollback
    except Rollback:
        pass
    return found


@pytest.mark.postgres
def test_the_statement_groups_as_the_ladder_does(sweep_world):
    assert connection.vendor == "postgresql"
    w = sweep_world
    nameless = LeadFactory(first_name="", last_name="", company="", email="who@nowhere.test")
    breach(w, GROUP_LIST_CAP + 2)
    w.make_handoff(due_at=NOW - 3 * dt.timedelta(hours=5), lead=nameless)  # a late note too
    w.make_handoff(due_at=NOW - 30 * MIN, rep=None, assigned_to=None)
    other = UserFactory(username="olga.manager", first_name="", role=SALES_MANAGER)
    small_team = TeamFactory(name="Small", calendar=w.calendar, manager=other)
    breach(w, 3, team=small_team)
    for batch_size in (4, 2000):
        in_sql = sweep_messages(NOW, in_sql=True, batch_size=batch_size)
        in_python = sweep_messages(NOW, in_sql=False, batch_size=batch_size)
        assert in_sql == in_python, batch_size
    kinds = sorted(m[3] for m in in_sql)
    assert kinds == [Kind.BREACHED] * 3 + [Kind.BREACHES]

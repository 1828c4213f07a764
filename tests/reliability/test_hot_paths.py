"""The shortcuts taken for the load test answer exactly what the long way answered.

- A list row built directly (handoff.serializers.list_row, and list_row_of_values from a row
  read as values, as the API list does) equals DRF's field-by-field walk of
  HandoffListSerializer, for handoffs in every state and with missing relations.
- An action's answer, built from the instance the service wrote plus its events, equals the
  detail read back from the database afterwards (accept, request-info, first touch, reassign,
  and a return through the feedback API).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework import serializers as drf

from feedback import services as feedback_services
from feedback.models import ReturnFeedback
from feedback.serializers import ReturnedHandoffSerializer
from handoff import selectors, services
from handoff.models import Handoff
from handoff.serializers import (
    HandoffDetailSerializer,
    HandoffListSerializer,
    list_row,
    list_row_of_values,
)
from handoff.states import Status
from tests.factories import HandoffFactory, LeadFactory
from tests.handoff.world import World, make_world

NOW = dt.datetime(2025, 3, 4, 15, 30, 12, 345678, tzinfo=dt.UTC)  # a Tuesday, 10:30 in New York


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def field_walk(handoff: Handoff, now: Any) -> dict[str, Any]:
    """What DRF's generic ModelSerializer.to_representation makes of the declared fields."""
    serializer = HandoffListSerializer(handoff, context={"now": now})
    return dict(drf.ModelSerializer.to_representation(serializer, handoff))


def test_a_list_row_built_directly_equals_the_serializers_field_walk(world, manager):
    with time_machine.travel(NOW - dt.timedelta(hours=1), tick=False):
        pending = world.promote()
        accepted = world.promote()
        services.handoff_accept(handoff=accepted, actor=accepted.assigned_to)
        waiting = world.promote()
        services.handoff_request_info(handoff=waiting, actor=waiting.assigned_to, question="Size?")
        returned = world.promote()
        services.handoff_return(handoff=returned, actor=returned.assigned_to, reason_code="x")
    late = world.promote(now=NOW - dt.timedelta(days=3))
    services.handoff_accept(handoff=late, actor=late.assigned_to, now=NOW - dt.timedelta(days=1))
    bare = HandoffFactory(lead=LeadFactory(first_name="", last_name=""), created_at=NOW)
    unassigned = HandoffFactory(team=world.team, promoted_by=world.marketer, due_at=NOW)

    rows = list(selectors.handoff_list_rows(user=manager).order_by("id"))

    assert len(rows) == 7
    as_values = {
        v["id"]: v
        for v in selectors.handoff_list_rows(user=manager).values(*selectors.LIST_ROW_VALUES)
    }
    for handoff in rows:
        assert list_row(handoff, now=NOW) == field_walk(handoff, NOW), handoff.status
        # The API list builds its rows from values, without model instances: the same rows.
        assert list_row_of_values(as_values[handoff.pk], now=NOW) == field_walk(handoff, NOW)
    assert {bare.pk, unassigned.pk, pending.pk} <= {h.pk for h in rows}


def test_the_api_list_answers_the_direct_rows(world, client_for):
    with time_machine.travel(NOW, tick=False):
        world.promote()
        world.promote()
        body = client_for(world.manager).get("/api/handoffs/").json()
        expected = [
            field_walk(h, timezone.now())
            for h in selectors.handoff_list(user=world.manager).order_by("-created_at", "-id")
        ]
    # Through the renderer: datetimes in the clock are written the same way as the fields.
    assert [row["id"] for row in body["results"]] == [row["id"] for row in expected]
    assert body["results"][0]["clock"]["due_at"] == expected[0]["clock"][
        "due_at"
    ].isoformat().replace("+00:00", "Z")


def test_a_detail_built_directly_equals_the_serializers_field_walk(world, manager):
    with time_machine.travel(NOW - dt.timedelta(hours=1), tick=False):
        waiting = world.promote()
        services.handoff_request_info(handoff=waiting, actor=waiting.assigned_to, question="Q?")
        touched = world.promote()
        services.handoff_accept(handoff=touched, actor=touched.assigned_to)
        services.handoff_log_first_touch(handoff=touched, actor=touched.assigned_to, channel="call")
        old = world.promote()
        new = services.handoff_reassign(handoff=old, actor=manager, reason="holiday")
        qualified = world.promote()
        services.handoff_accept(handoff=qualified, actor=qualified.assigned_to)
        services.handoff_qualify(
            handoff=qualified,
            actor=qualified.assigned_to,
            bant={"budget": "1", "authority": "2", "need": "3", "timeline": "4"},
        )
    HandoffFactory(lead=LeadFactory(first_name="", last_name=""), created_at=NOW)

    for handoff in selectors.handoff_detail_queryset(user=manager).order_by("id"):
        serializer = HandoffDetailSerializer(handoff, context={"now": NOW})
        walked = dict(drf.ModelSerializer.to_representation(serializer, handoff))
        assert serializer.data == walked, handoff.status
    assert new.previous_id == old.pk


def test_a_returned_handoff_built_directly_equals_the_field_walk(world):
    with time_machine.travel(NOW, tick=False):
        handoff = world.promote()
        feedback_services.feedback_return_handoff(
            handoff=handoff, actor=handoff.assigned_to, reason="not-ready", note="Later."
        )
    handoff = selectors.handoff_detail_queryset(user=world.manager).get(pk=handoff.pk)
    context = {"now": NOW, "feedback": ReturnFeedback.objects.get(handoff=handoff)}
    serializer = ReturnedHandoffSerializer(handoff, context=context)

    assert serializer.data == dict(drf.ModelSerializer.to_representation(serializer, handoff))


def detail_afterwards(client: Any, pk: int) -> dict[str, Any]:
    response = client.get(f"/api/handoffs/{pk}/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("action", ["accept", "request-info", "first-touch", "reassign"])
def test_an_actions_answer_equals_the_detail_read_back_afterwards(world, client_for, action):
    with time_machine.travel(NOW, tick=False):
        handoff = world.promote()
        rep, manager = client_for(handoff.assigned_to), client_for(world.manager)
        if action == "first-touch":
            assert rep.post(f"/api/handoffs/{handoff.pk}/accept/").status_code == 200
        actor, body = {
            "accept": (rep, {}),
            "request-info": (rep, {"question": "Which region?"}),
            "first-touch": (rep, {"channel": "call", "note": "Left a message."}),
            "reassign": (manager, {"reason": "holiday"}),
        }[action]
        response = actor.post(f"/api/handoffs/{handoff.pk}/{action}/", body, format="json")
        assert response.status_code in (200, 201), response.json()
        answer = response.json()

        assert answer == detail_afterwards(manager, answer["id"])


def test_a_returns_answer_equals_the_detail_read_back_plus_its_feedback(world, client_for):
    with time_machine.travel(NOW, tick=False):
        handoff = world.promote()
        rep = client_for(handoff.assigned_to)
        response = rep.post(
            f"/api/handoffs/{handoff.pk}/return/",
            {"reason": "not-ready", "note": "Next quarter."},
            format="json",
        )
        assert response.status_code == 200, response.json()
        answer = response.json()
        feedback = answer.pop("feedback")

        assert answer == detail_afterwards(client_for(world.manager), handoff.pk)
    assert feedback["reason"]["code"] == "not-ready"
    assert feedback["lead"]["stage"] == "recycled" and feedback["lead"]["return_count"] == 1
    assert feedback["handoff"]["status"] == Status.RETURNED


def columns(instance: Any) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.mark.parametrize("who", ["rep", "other_rep", "manager", "marketer"])
def test_the_handoff_read_for_an_action_equals_the_orms(world, who):
    """handoff_for_action runs SQL compiled once per process: the same instances as the ORM's."""
    handoff = world.promote()
    returned = world.promote()
    services.handoff_return(handoff=returned, actor=returned.assigned_to, reason_code="x")
    user = getattr(world, who)
    for pk in (handoff.pk, returned.pk, 0):
        for owner in (False, True):
            fast = selectors.handoff_for_action(user=user, pk=pk, with_lead_owner=owner)
            slow = next(iter(selectors._action_queryset(user, pk, owner)), None)
            assert columns(fast) == columns(slow), (who, pk)
            if fast is None:
                continue
            for name in ("lead", "assigned_to", "promoted_by", "team", "calendar"):
                assert name in fast._state.fields_cache
                assert columns(getattr(fast, name)) == columns(getattr(slow, name)), name
            if owner:
                assert "owner" in fast.lead._state.fields_cache
                assert columns(fast.lead.owner) == columns(slow.lead.owner)


def test_the_events_read_for_an_answer_equal_the_prefetched_ones(world):
    """handoff_with_fresh_events runs SQL compiled once per process: the same events, in the
    same order, with the same actors, as prefetching them through the ORM."""
    from django.db.models import prefetch_related_objects

    handoff = world.promote()
    services.handoff_request_info(handoff=handoff, actor=handoff.assigned_to, question="Budget?")
    handoff = Handoff.objects.get(pk=handoff.pk)
    services.handoff_provide_info(handoff=handoff, actor=world.marketer, answer="Yes.")
    fast = selectors.handoff_with_fresh_events(Handoff.objects.get(pk=handoff.pk))
    slow = Handoff.objects.get(pk=handoff.pk)
    prefetch_related_objects([slow], selectors.lists.EVENTS)
    got, expected = list(fast.events.all()), list(slow.events.all())
    assert len(got) == len(expected) >= 3
    for a, b in zip(got, expected, strict=True):
        assert columns(a) == columns(b)
        assert columns(a.actor) == columns(b.actor)
        assert a.handoff is fast
    assert fast.events.all().count() == len(expected)  # from the cache, as after a prefetch


def test_the_zone_read_of_a_messages_recipients_equals_the_orms(world):
    """A notification's recipients' zones are read with SQL compiled per number of people: the
    same rows, and so the same zones, as the ORM's query."""
    from handoff import timezones
    from leads.models import UserProfile

    UserProfile.objects.update_or_create(user=world.marketer, defaults={"time_zone": "Asia/Tokyo"})
    people = [world.rep.pk, world.manager.pk, world.marketer.pk, world.other_rep.pk]
    for n in range(1, len(people) + 1):
        ids = sorted(people[:n])
        assert list(timezones._zone_rows(ids)) == list(timezones._zone_rows_query(ids))
    names = timezones.zone_names_for(people)
    assert names[world.marketer.pk] == "Asia/Tokyo"
    assert set(names) == set(people)


def test_a_kept_page_read_answers_what_the_orm_way_answers(world, client_for):
    """The API list keeps each page's SQL per user and query string (handoff.selectors.
    list_pages): the kept read answers the same rows, the data as it is now, and a change of
    role or of query string is another key."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.roles import SALES_MANAGER
    from handoff.selectors import list_pages

    queue = "/api/handoffs/?status=pending&ordering=due_at"
    with time_machine.travel(NOW, tick=False):
        mine = [world.promote() for _ in range(4)]
        mine = [h for h in mine if h.assigned_to_id == world.rep.pk]
        others = Handoff.objects.exclude(assigned_to=world.rep).count()
        client = client_for(world.rep)
        list_pages._kept.clear()
        first = client.get(queue).json()
        assert len(list_pages._kept) == 1
        with CaptureQueriesContext(connection) as ctx:
            again = client.get(queue).json()
        assert again == first
        assert len([q for q in ctx.captured_queries if "handoff_handoff" in q["sql"]]) == 1
        assert [row["id"] for row in first["results"]] == sorted(
            (h.pk for h in mine), key=lambda pk: Handoff.objects.get(pk=pk).due_at
        )

        # The rows are read each time: an accepted handoff leaves the pending queue.
        client.post(f"/api/handoffs/{mine[0].pk}/accept/")
        after = client.get(queue).json()
        assert [row["id"] for row in after["results"]] == [
            row["id"] for row in first["results"] if row["id"] != mine[0].pk
        ]

        # A bad parameter is still a 400 the second time, and nothing is kept for it.
        assert client.get("/api/handoffs/?status=nope").status_code == 400
        assert client.get("/api/handoffs/?status=nope").status_code == 400

        # A rep made a manager sees every handoff at once (their visibility is in the key).
        world.rep.groups.add(Group.objects.get(name=SALES_MANAGER))
        rep_now = type(world.rep).objects.get(pk=world.rep.pk)  # roles are kept on the user
        body = client_for(rep_now).get(queue).json()
        assert {row["id"] for row in after["results"]} < {row["id"] for row in body["results"]}
        assert others

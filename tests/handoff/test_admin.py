"""The managers' admin: handoff changelist cost, the reassign action, calendars and policies."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from core.roles import SALES
from handoff.admin import HandoffAdmin
from handoff.models import BusinessCalendar, Handoff, SlaPolicy
from handoff.selectors import calendar_for
from handoff.states import Status
from leads.models import Lead
from tests.factories import HandoffFactory, LeadFactory, UserFactory
from tests.handoff.world import World, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


@pytest.fixture
def manager_client(world) -> Client:
    client = Client()
    client.force_login(world.manager)
    return client


def make_many(w: World, count: int) -> None:
    now = timezone.now()
    for n in range(count):
        HandoffFactory(
            team=w.team,
            calendar=w.calendar,
            policy=w.policy,
            policy_snapshot={"name": "Standard", "version": 1},
            assigned_to=[w.rep, w.other_rep][n % 2],
            created_at=now - dt.timedelta(minutes=n),
            due_at=now + dt.timedelta(minutes=30 - n),
        )


@pytest.mark.parametrize("per_page", [10, 100])
def test_the_handoff_changelist_costs_the_same_queries_at_any_page_size(
    world, manager_client, monkeypatch, django_assert_max_num_queries, per_page
):
    make_many(world, 100)
    monkeypatch.setattr(HandoffAdmin, "list_per_page", per_page)
    manager_client.get("/admin/handoff/handoff/")  # warms the calendar cache
    with django_assert_max_num_queries(16):
        response = manager_client.get("/admin/handoff/handoff/?status__exact=pending")
    assert response.status_code == 200
    assert response.content.count(b'class="action-checkbox"') == per_page
    assert b"late by" in response.content or b"left" in response.content


def _listed(response) -> set[int]:
    return {
        int(pk) for pk in re.findall(rb'name="_selected_action" value="(\d+)"', response.content)
    }


def test_the_changelist_search_matches_every_word_and_a_handoff_number(world, manager_client):
    ada = HandoffFactory(
        lead=LeadFactory(first_name="Ada", last_name="Lovelace", company="Analytical Engines",
                         email="ada@engines.example", stage="mql"),
        team=world.team, calendar=world.calendar, policy=world.policy,
    )  # fmt: skip
    grace = HandoffFactory(
        lead=LeadFactory(first_name="Grace", last_name="Hopper", company="Compilers Inc",
                         email="grace@navy.example", stage="mql"),
        team=world.team, calendar=world.calendar, policy=world.policy,
    )  # fmt: skip
    url = "/admin/handoff/handoff/?q="
    assert _listed(manager_client.get(url + "ada+engines")) == {ada.pk}
    assert _listed(manager_client.get(url + "ENGINES+hopper")) == set()
    assert _listed(manager_client.get(url + "navy.example")) == {grace.pk}
    assert _listed(manager_client.get(url + f"%23{grace.pk}")) == {grace.pk}
    assert _listed(manager_client.get(url + "%22Ada+Lovelace%22")) == {ada.pk}
    # A number finds the handoff with that number, and leads whose text holds it.
    numbered = LeadFactory(company=f"Company {ada.pk}", email="co@numbered.example", stage="mql")
    other = HandoffFactory(lead=numbered, team=world.team, calendar=world.calendar)
    assert _listed(manager_client.get(url + str(ada.pk))) == {ada.pk, other.pk}


@pytest.mark.postgres
def test_on_postgresql_a_search_reads_the_trigram_index_not_every_lead(world):
    from django.db import connection

    LeadFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the plan choose
        sql, params = Lead.objects.filter(search_text__icontains="lovelace").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lead_search_trgm" in plan, plan


def test_the_changelist_filters_breached_and_at_risk(world, manager_client):
    now = timezone.now()
    late = HandoffFactory(
        team=world.team, calendar=world.calendar, due_at=now - dt.timedelta(hours=1)
    )
    HandoffFactory(team=world.team, calendar=world.calendar, due_at=now + dt.timedelta(hours=1))
    response = manager_client.get("/admin/handoff/handoff/?breached=yes")
    assert list(response.context["cl"].result_list) == [late]
    response = manager_client.get("/admin/handoff/handoff/?at_risk=yes")
    assert response.status_code == 200


def test_the_reassign_action_calls_the_service_and_reports_refusals(world, manager_client):
    h = world.promote()
    accepted = world.promote()
    from handoff import services

    services.handoff_accept(handoff=accepted, actor=accepted.assigned_to)
    response = manager_client.post(
        "/admin/handoff/handoff/",
        {"action": "reassign_to_next_rep", "_selected_action": [h.pk, accepted.pk]},
        follow=True,
    )
    assert response.status_code == 200
    h.refresh_from_db()
    assert h.status == Status.REASSIGNED
    new = Handoff.objects.get(previous=h)
    assert new.events.get().actor == world.manager
    text = response.content.decode()
    assert "Reassigned 1 handoff(s)." in text
    assert f"#{accepted.pk}: This handoff is accepted now and cannot become reassigned." in text


def test_the_handoff_change_page_shows_events_and_is_read_only(world, manager_client):
    h = world.promote()
    response = manager_client.get(f"/admin/handoff/handoff/{h.pk}/change/")
    assert response.status_code == 200
    assert b"Promoted" in response.content  # the created event, inline
    manager_client.post(f"/admin/handoff/handoff/{h.pk}/change/", {"status": "qualified"})
    h.refresh_from_db()
    assert h.status == Status.PENDING


def test_reps_have_no_admin_even_with_the_staff_flag(world):
    rep = UserFactory(username="staff.rep", role=SALES, is_staff=True)
    client = Client()
    client.force_login(rep)
    assert client.get("/admin/handoff/handoff/").status_code == 403
    assert b"handoff" not in client.get("/admin/").content.lower()


def test_saving_a_policy_in_the_admin_bumps_its_version(world, manager_client):
    data = {
        "name": "Standard",
        "sources": "[]",
        "precedence": 100,
        "accept_within_minutes": 120,
        "first_touch_within_minutes": 480,
        "at_risk_ratio": 0.75,
        "notify_manager_on_breach": "on",
        "max_reassignments": 2,
        "active": "on",
    }
    response = manager_client.post(f"/admin/handoff/slapolicy/{world.policy.pk}/change/", data)
    assert response.status_code == 302, response.content
    world.policy.refresh_from_db()
    assert (world.policy.version, world.policy.accept_within_minutes) == (2, 120)
    bad = manager_client.post(
        f"/admin/handoff/slapolicy/{world.policy.pk}/change/", {**data, "at_risk_ratio": 3}
    )
    assert bad.status_code == 200
    assert "between 0 and 1" in bad.content.decode()
    assert SlaPolicy.objects.get(pk=world.policy.pk).version == 2


def test_editing_a_calendar_in_the_admin_retires_the_cached_copy(world, manager_client):
    cal = world.calendar
    before = calendar_for(cal)
    data = {
        "name": cal.name,
        "timezone": "America/New_York",
        "holiday_country": "us",
        "holiday_subdivision": "",
        "windows-TOTAL_FORMS": 1,
        "windows-INITIAL_FORMS": 0,
        "windows-0-weekday": 5,
        "windows-0-start": "10:00",
        "windows-0-end": "14:00",
        "special_dates-TOTAL_FORMS": 0,
        "special_dates-INITIAL_FORMS": 0,
    }
    response = manager_client.post(f"/admin/handoff/businesscalendar/{cal.pk}/change/", data)
    assert response.status_code == 302, response.content
    fresh = BusinessCalendar.objects.get(pk=cal.pk)
    assert fresh.holiday_country == "US"
    after = calendar_for(fresh)
    assert after is not before
    saturday_noon = dt.datetime(2025, 3, 8, 17, 0, tzinfo=dt.UTC)
    from handoff import sla

    assert sla.is_business_time(saturday_noon, after)
    bad = manager_client.post(
        f"/admin/handoff/businesscalendar/{cal.pk}/change/", {**data, "timezone": "Mars/Olympus"}
    )
    assert "not an IANA time zone" in bad.content.decode()


def test_the_team_page_lists_members_and_rules(world, manager_client):
    response = manager_client.get("/admin/handoff/team/")
    assert response.status_code == 200
    assert "regions AMER" in response.content.decode()
    assert manager_client.get(f"/admin/handoff/team/{world.team.pk}/change/").status_code == 200

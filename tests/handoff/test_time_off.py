"""Rep time off: who may set it, bad ranges, routing skipping a rep who is off, the pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from handoff import time_off, timezones
from handoff.assignment import pick_rep
from handoff.models import TimeOff
from tests.factories import UserFactory
from tests.handoff.world import TUESDAY_10, World, make_world

DAY = TUESDAY_10.date()


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def test_a_rep_on_time_off_is_skipped_and_the_handoff_says_so(world):
    time_off.time_off_create(
        actor=world.rep, rep=world.rep, starts_on=DAY, ends_on=DAY, note="Dentist"
    )
    handoff = world.promote()
    assert handoff.assigned_to == world.other_rep
    assert handoff.routing["skipped"] == [
        {
            "rep_id": world.rep.pk,
            "username": "rob.rep",
            "reason": "time_off",
            "detail": "on time off until Tue 04 Mar 2025 (Dentist)",
        }
    ]


def test_time_off_is_read_on_the_day_of_the_reps_own_zone(world):
    # 22:00 in New York on Monday is already Tuesday in UTC: a Tuesday off does not count yet.
    time_off.time_off_create(actor=world.rep, rep=world.rep, starts_on=DAY, ends_on=DAY)
    monday_night = TUESDAY_10.replace(day=3, hour=22)
    choice = pick_rep(team=world.team, now=monday_night, skip_off_hours=False, lock=False)
    assert choice.rep == world.rep


def test_a_rep_is_routed_again_the_day_after_their_time_off(world):
    time_off.time_off_create(actor=world.manager, rep=world.rep, starts_on=DAY, ends_on=DAY)
    assert world.promote(now=TUESDAY_10 + dt.timedelta(days=1)).assigned_to == world.rep


def test_everyone_off_leaves_the_handoff_to_the_manager_queue(world):
    for rep in (world.rep, world.other_rep):
        time_off.time_off_create(actor=world.manager, rep=rep, starts_on=DAY, ends_on=DAY)
    handoff = world.promote()
    assert handoff.assigned_to is None
    assert {s["reason"] for s in handoff.routing["skipped"]} == {"time_off"}


def test_a_rep_sets_their_own_time_off_in_the_api(world, client_for):
    response = client_for(world.rep).post(
        "/api/time-off/",
        {"starts_on": "2025-03-10", "ends_on": "2025-03-14", "note": "Skiing"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["rep"]["username"] == "rob.rep"
    listed = client_for(world.rep).get("/api/time-off/").json()
    assert [r["note"] for r in listed["results"]] == ["Skiing"]


def test_a_rep_cannot_set_anothers_time_off_but_a_manager_can(world, client_for):
    body = {"rep": world.other_rep.pk, "starts_on": "2025-03-10", "ends_on": "2025-03-11"}
    refused = client_for(world.rep).post("/api/time-off/", body, format="json")
    assert refused.status_code == 403
    assert not TimeOff.objects.exists()
    allowed = client_for(world.manager).post("/api/time-off/", body, format="json")
    assert allowed.status_code == 201
    assert TimeOff.objects.get().rep == world.other_rep


def test_a_marketer_has_no_time_off_api(world, client_for):
    assert client_for(world.marketer).get("/api/time-off/").status_code == 403


def test_a_reversed_range_is_a_400_naming_ends_on_and_writes_nothing(world, client_for):
    response = client_for(world.rep).post(
        "/api/time-off/", {"starts_on": "2025-03-14", "ends_on": "2025-03-10"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "ends_on"
    assert not TimeOff.objects.exists()


def test_an_overlapping_range_is_a_400_naming_starts_on_and_writes_nothing(world, client_for):
    client = client_for(world.rep)
    client.post(
        "/api/time-off/", {"starts_on": "2025-03-10", "ends_on": "2025-03-14"}, format="json"
    )
    response = client.post(
        "/api/time-off/", {"starts_on": "2025-03-14", "ends_on": "2025-03-20"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "starts_on"
    assert "2025-03-10" in response.json()["detail"]
    assert TimeOff.objects.count() == 1


def test_time_off_for_someone_not_in_sales_is_a_400_naming_rep(world, client_for):
    response = client_for(world.manager).post(
        "/api/time-off/",
        {"rep": world.marketer.pk, "starts_on": "2025-03-10", "ends_on": "2025-03-10"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "rep"


def test_another_reps_time_off_is_a_404_to_a_rep(world, client_for):
    row = time_off.time_off_create(
        actor=world.other_rep, rep=world.other_rep, starts_on=DAY, ends_on=DAY
    )
    assert client_for(world.rep).delete(f"/api/time-off/{row.pk}/").status_code == 404
    assert client_for(world.rep).get("/api/time-off/").json()["results"] == []
    assert client_for(world.manager).delete(f"/api/time-off/{row.pk}/").status_code == 204
    assert not TimeOff.objects.exists()


@pytest.mark.parametrize("page_size", [5, 40])
def test_the_time_off_list_takes_a_constant_number_of_queries(
    world, client_for, django_assert_max_num_queries, page_size
):
    for n in range(45):
        rep = UserFactory(username=f"off{n}", role="Sales")
        TimeOff.objects.create(rep=rep, starts_on=DAY, ends_on=DAY + dt.timedelta(days=n))
    client = client_for(world.manager)
    with django_assert_max_num_queries(4):
        response = client.get(f"/api/time-off/?page_size={page_size}")
    assert len(response.json()["results"]) == page_size
    page = Client()
    page.force_login(world.manager)
    with django_assert_max_num_queries(9):
        html = page.get(f"/time-off/?per={25 if page_size == 5 else 50}")
    assert html.status_code == 200


def test_the_time_off_page_saves_a_range_and_shows_errors_on_the_field(world):
    page = Client()
    page.force_login(world.rep)
    saved = page.post("/time-off/", {"starts_on": "2099-03-10", "ends_on": "2099-03-12"})
    assert saved.status_code == 302
    assert TimeOff.objects.filter(rep=world.rep).count() == 1
    bad = page.post("/time-off/", {"starts_on": "2099-03-12", "ends_on": "2099-03-11"})
    assert bad.status_code == 400
    assert 'id="error-ends_on"' in bad.content.decode()
    assert TimeOff.objects.count() == 1
    assert "2099" in page.get("/time-off/").content.decode()


def test_the_manager_queue_shows_who_is_off_today(world):
    # "Today" in the viewer's zone, as the page reads it (the site's date differs for hours).
    today = timezone.localdate(timezone=timezones.zone(timezones.zone_name_for(world.manager)))
    time_off.time_off_create(
        actor=world.manager, rep=world.rep, starts_on=today, ends_on=today, note="Conference"
    )
    page = Client()
    page.force_login(world.manager)
    html = page.get("/manager/queue/").content.decode()
    off = html[html.index('id="off-today"') :]
    assert "Conference" in off[: off.index("</section>")]

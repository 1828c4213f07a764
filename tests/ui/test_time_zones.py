"""Every time is shown in the viewer's zone, with its abbreviation: a person's own zone, else
their team calendar's, else TIME_ZONE; set on the settings page or by a manager in the admin.
Emails are written in the recipient's zone; the API answers in UTC, ISO 8601 with offsets."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from rest_framework.test import APIClient

from handoff.models import Notification, TeamMembership
from handoff.timezones import zone_name_for
from leads.models import UserProfile
from leads.services import user_time_zone_set
from tests.factories import BusinessCalendarFactory
from tests.ui.world import World, logged_in, make_world, text

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture
def world(db) -> World:
    world = make_world()
    # The team works New York hours, round the clock (so clocks run whenever the test runs).
    world.team.calendar = BusinessCalendarFactory(
        name="New York", windows=[(d, "00:00", "00:00") for d in range(7)]
    )
    world.team.save()
    return world


def shown(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b, %H:%M %Z}"


def test_a_person_without_a_zone_gets_their_team_calendars_zone(world):
    assert zone_name_for(world.rep) == "America/New_York"
    assert zone_name_for(world.manager) == "America/New_York"  # the team's manager
    assert zone_name_for(world.marketer) == "UTC"  # no team: the site's TIME_ZONE
    user_time_zone_set(user=world.marketer, time_zone="Europe/Paris")
    assert zone_name_for(world.marketer) == "Europe/Paris"


def test_the_same_deadline_reads_the_same_on_every_page_in_the_viewers_zone(world):
    handoff = world.promote()
    TeamMembership.objects.filter(team=world.team).update(is_away=True)
    unassigned = world.promote()
    user_time_zone_set(user=world.manager, time_zone="Europe/Paris")
    manager = logged_in(world.manager)

    detail = text(manager.get(f"/handoffs/{unassigned.pk}/"))
    queue = text(manager.get("/manager/queue/"))
    lead = text(manager.get(f"/leads/{handoff.lead_id}/"))

    due = shown(unassigned.due_at, PARIS)
    assert f"due {due}" in detail and f"due {due}" in queue
    promoted = handoff.created_at.astimezone(PARIS)
    assert f"{promoted.day} {promoted:%b %Y, %H:%M %Z}" in lead
    # The rep, without a zone of their own, reads it in the team calendar's zone.
    rep_page = text(logged_in(world.rep).get(f"/handoffs/{handoff.pk}/"))
    assert f"due {shown(handoff.due_at, NEW_YORK)}" in rep_page


def test_recent_activity_on_a_handoff_names_its_zone(world):
    lead = world.lead()
    event = world.event(lead)
    handoff = world.promote(lead)

    page = text(logged_in(world.rep).get(f"/handoffs/{handoff.pk}/"))

    local = event.occurred_at.astimezone(NEW_YORK)
    assert f"{local.day} {local:%b, %H:%M %Z} Webinar attended" in page


def test_a_person_sets_their_zone_on_the_settings_page(world):
    client = logged_in(world.rep)
    page = client.get("/settings/")
    assert "Automatic: America/New_York" in text(page)

    response = client.post("/settings/", {"time_zone": "Europe/Paris"}, follow=True)

    assert UserProfile.objects.get(user=world.rep).time_zone == "Europe/Paris"
    assert "Times are now shown in Europe/Paris" in text(response)
    handoff = world.promote()
    assert f"due {shown(handoff.due_at, PARIS)}" in text(client.get(f"/handoffs/{handoff.pk}/"))


def test_an_unknown_zone_is_refused_naming_the_field_and_nothing_is_written(world):
    response = logged_in(world.rep).post("/settings/", {"time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 400
    assert response.context["form"].errors["time_zone"]
    assert not UserProfile.objects.filter(user=world.rep).exists()


def test_a_manager_sets_a_reps_zone_in_the_admin_and_admin_times_name_their_zone(world):
    handoff = world.promote()
    admin = logged_in(world.manager)

    response = admin.post(
        "/admin/leads/userprofile/add/", {"user": world.rep.pk, "time_zone": "Asia/Tokyo"}
    )

    assert response.status_code == 302
    assert zone_name_for(world.rep) == "Asia/Tokyo"
    page = text(admin.get(f"/admin/handoff/handoff/{handoff.pk}/change/"))
    created = handoff.created_at.astimezone(NEW_YORK)
    assert f"{created:%a} {created.day} {created:%b %Y, %H:%M %Z}" in page


def test_a_rep_cannot_set_someone_elses_zone(world):
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        user_time_zone_set(user=world.other_rep, time_zone="Asia/Tokyo", actor=world.rep)


def test_the_email_to_a_rep_gives_the_deadline_in_the_reps_zone(world):
    user_time_zone_set(user=world.rep, time_zone="Europe/Paris")

    handoff = world.promote()

    mail = Notification.objects.get(handoff=handoff, recipient=world.rep)
    due = handoff.due_at.astimezone(PARIS)
    assert f"{due:%a %d %b %H:%M %Z}" in mail.subject


def test_the_api_keeps_utc_iso_8601_whatever_the_persons_zone(world):
    user_time_zone_set(user=world.rep, time_zone="Asia/Tokyo")
    handoff = world.promote()
    client = APIClient()
    client.force_authenticate(world.rep)

    body = client.get(f"/api/handoffs/{handoff.pk}/").json()

    assert body["due_at"].endswith("Z")
    assert dt.datetime.fromisoformat(body["due_at"]) == handoff.due_at


def test_a_visitor_who_is_not_logged_in_sees_the_login_page_in_the_sites_zone(db):
    assert Client().get("/login/").status_code == 200


def test_the_csv_export_names_the_zone_of_its_times_and_imports_back(world, tmp_path):
    from django.core.management import call_command

    from tests.factories import LeadFactory

    lead = LeadFactory(email="zoned@corp.example")
    user_time_zone_set(user=world.manager, time_zone="Asia/Tokyo")
    response = logged_in(world.manager).post(
        "/admin/leads/lead/export/",
        {
            "format": "0",
            "resource": "0",
            **{f"leadresource_{f}": "on" for f in ["email", "first_name", "created_at"]},
        },
    )

    body = response.content.decode()
    header, *rows = body.splitlines()
    assert header.split(",") == ["email", "first_name", "created_at (Asia/Tokyo)"]
    created = lead.created_at.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert any(f"{created:%Y-%m-%d %H:%M:%S}" in row for row in rows), rows
    # Our own export reads back: the zoned column is the system's, read past.
    path = tmp_path / "export.csv"
    path.write_text(body.replace("zoned@", "again@"))
    call_command("import_leads", str(path), "--no-progress")
    assert lead.__class__.objects.filter(email="again@corp.example").exists()

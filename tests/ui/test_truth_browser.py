"""Truthful pages in a real browser (Playwright and Debian's Chromium against the live server):
a reassigned attempt tells its whole history, the manager's queue says why a handoff has
nobody, lateness reads in business days (and the ticking script leaves those words alone), and
times follow the viewer's zone, which they change on the settings page. Photographs go to
var/screenshots/ like the main browser walk."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django.utils import timezone

from handoff import services, sla
from handoff.models import Handoff, TeamMembership
from handoff.selectors import calendar_for
from handoff.sweep import sla_sweep
from leads.services import user_time_zone_set
from tests.factories import BusinessCalendarFactory, TeamFactory, TeamMembershipFactory

# The browser walk's fixtures and marks (Chromium, the live-server world), shared.
from tests.ui.test_browser import Person, chromium, pytestmark, world  # noqa: F401

MIN = dt.timedelta(minutes=1)


def _local(moment: dt.datetime, zone: str) -> str:
    value = moment.astimezone(zoneinfo.ZoneInfo(zone))
    return f"{value:%a} {value.day} {value:%b, %H:%M %Z}"


def test_history_reasons_lateness_and_time_zones_tell_the_truth_in_a_browser(
    chromium,  # noqa: F811
    live_server,
    world,  # noqa: F811
):
    from playwright.sync_api import expect

    # --- a handoff escalated once its reassignments ran out -----------------------------------
    world.policy.reassign_on_breach = True
    world.policy.max_reassignments = 0
    world.policy.save()
    escalated = world.promote(
        world.lead(first_name="Esme", last_name="Escalated"), ago=dt.timedelta(hours=2)
    )
    assert escalated.assigned_to == world.rep
    sla_sweep()  # an hour past its deadline: breached, no reassignment left, escalated
    world.policy.reassign_on_breach = False
    world.policy.save()

    # --- a handoff reassigned by the manager with a reason, then automatically on breach -------
    first = world.promote(
        world.lead(first_name="Rea", last_name="Signed"), ago=dt.timedelta(days=3)
    )
    second = services.handoff_reassign(
        handoff=first,
        actor=world.manager,
        to_rep=world.other_rep,
        reason="Rob is on leave until Monday",
        now=first.created_at + dt.timedelta(days=1),
    )
    Handoff.objects.filter(pk=second.pk).update(breached_at=second.due_at)
    second.refresh_from_db()
    third = services.handoff_reassign(
        handoff=second, automatic=True, reason="sla_breach", now=second.due_at + MIN
    )
    assert third.assigned_to == world.rep

    # --- a handoff of a New York office team, seven weeks late ---------------------------------
    office = BusinessCalendarFactory(name="New York office")  # Mon-Fri 09:00-17:00
    east = TeamFactory(name="East", calendar=office, manager=world.manager)
    TeamMembershipFactory(team=east, rep=world.rep, capacity=500)
    late = world.promote(
        world.lead(first_name="Lou", last_name="Late"), team=east, ago=dt.timedelta(weeks=7)
    )
    assert late.assigned_to == world.rep
    business = sla.business_minutes_between(late.due_at, timezone.now(), calendar_for(office))
    days = int(business // 480)

    # --- 1. the rep reads the whole chain on the third attempt ---------------------------------
    rob = Person(chromium, live_server.url, world.rep)
    page = rob.go(f"/handoffs/{third.pk}/")
    rep_zone = "UTC"  # Rob's teams: Inside Sales (UTC) first
    expect(page.locator(".packet")).to_contain_text(
        f"Promoted {_local(first.created_at, rep_zone)} by Mia Marketer"
    )
    chain = page.locator("#chain")
    expect(chain).to_contain_text("Reassigned by Max Manager")
    expect(chain).to_contain_text("“Rob is on leave until Monday”")
    expect(chain).to_contain_text("Attempt 2 began")
    expect(chain).to_contain_text("with Olga Rep")
    expect(chain).to_contain_text("Reassigned automatically on breach")
    expect(chain).to_contain_text("This attempt (3) began")
    rob.shoot("t1-rep-attempt-chain")

    # --- 3. lateness in business days, left alone by the ticking script ------------------------
    page = rob.go("/queue/")
    row = page.locator(f"#h-{late.pk}")
    label = row.locator(".clock-label")
    expect(label).to_have_text(f"late by {days} business days")
    expect(row.locator(".clock-wall")).to_have_text("(7 weeks)")
    page.wait_for_timeout(2100)
    expect(label).to_have_text(f"late by {days} business days")
    rob.shoot("t3-rep-queue-business-days")

    # --- 2. the manager's queue says why, from the record ---------------------------------------
    user_time_zone_set(user=world.manager, time_zone="Europe/Paris")
    max_ = Person(chromium, live_server.url, world.manager)
    page = max_.go("/manager/queue/")
    why = page.locator(f"#h-{escalated.pk} .why")
    expect(why).to_contain_text("SLA breached after 0 reassignments (the policy allows 0)")
    expect(page.locator("main")).not_to_contain_text("the team has no reps")
    # --- 4. ... in the manager's zone, which they change on the settings page ------------------
    due = page.locator(f"#h-{escalated.pk} .due")
    expect(due).to_have_text(f"due {_local(escalated.due_at, 'Europe/Paris')}")
    expect(page.locator(f"#h-{escalated.pk} .clock-label")).to_have_text(
        re.compile(r"^late by 1h 0\dm$|^late by 59m$")
    )
    expect(page.locator("header .zone")).to_have_text(re.compile(r"^CES?T$"))
    max_.shoot("t2-manager-queue-why-and-zone")
    page.click("header .zone")
    page.select_option("#id_time_zone", "America/Los_Angeles")
    page.click("button:has-text('Save')")
    expect(page.locator(".messages")).to_contain_text("Times are now shown in America/Los_Angeles")
    max_.shoot("t4-settings-time-zone")
    page = max_.go("/manager/queue/")
    expect(page.locator(f"#h-{escalated.pk} .due")).to_have_text(
        f"due {_local(escalated.due_at, 'America/Los_Angeles')}"
    )
    expect(page.locator("header .zone")).to_have_text(re.compile(r"^P[SD]T$"))
    assert TeamMembership.objects.filter(team=east).count() == 1

"""Pages and answers that tell the truth: a reassigned attempt keeps its history, the manager's
queue says the recorded reason a handoff has nobody, lateness reads in business days of the
handoff's calendar, "next in rotation" with nobody at work creates nothing, and the smaller
ones (questions by urgency, a repeated action as information, the intent events beside the
score)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from handoff import clocks, services, sla
from handoff.models import Handoff, TeamMembership
from handoff.selectors import calendar_for
from handoff.states import Status
from handoff.sweep import sla_sweep
from leads.models import EventKind
from tests.factories import BusinessCalendarFactory
from tests.ui.world import World, logged_in, make_world, messages_of, text

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def world(db) -> World:
    return make_world()


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def local(moment: dt.datetime) -> str:
    """A moment as the pages write it (the viewer's zone, here the default one)."""
    value = timezone.localtime(moment)
    return f"{value:%a} {value.day} {value:%b, %H:%M}"


# --- a reassigned attempt keeps the whole chain ------------------------------------------------


def reassigned_twice(world: World) -> tuple[Handoff, Handoff, Handoff]:
    """Promoted three days ago to Rob; a day later the manager gives it to Olga with a reason;
    Olga breaches and the sweep's automatic reassignment gives it back to Rob."""
    now = timezone.now()
    promoted_at = now - dt.timedelta(days=3)
    first = world.promote(ago=dt.timedelta(days=3))
    assert first.assigned_to == world.rep
    second = services.handoff_reassign(
        handoff=first,
        actor=world.manager,
        to_rep=world.other_rep,
        reason="Rob is on leave until Monday",
        now=promoted_at + dt.timedelta(days=1),
    )
    Handoff.objects.filter(pk=second.pk).update(breached_at=second.due_at)
    second.refresh_from_db()
    third = services.handoff_reassign(
        handoff=second, automatic=True, reason="sla_breach", now=second.due_at + MIN
    )
    assert third.assigned_to == world.rep and third.attempt == 3
    return first, second, third


def test_every_attempt_in_the_api_tells_the_whole_chain_from_the_original_promotion(world):
    first, _, third = reassigned_twice(world)

    chain = api(world.manager).get(f"/api/handoffs/{third.pk}/").json()["chain"]

    assert dt.datetime.fromisoformat(chain["promoted_at"]) == first.created_at
    assert chain["promoted_by"]["username"] == world.marketer.username
    assert dt.datetime.fromisoformat(chain["this_attempt_began_at"]) == third.created_at
    attempts = chain["attempts"]
    assert [(a["attempt"], a["rep"]["username"]) for a in attempts] == [
        (1, world.rep.username),
        (2, world.other_rep.username),
        (3, world.rep.username),
    ]
    assert attempts[0]["ended"]["how"] == "manager_reassign"
    assert attempts[0]["ended"]["reason"] == "Rob is on leave until Monday"
    assert attempts[0]["ended"]["by"]["username"] == world.manager.username
    assert attempts[1]["breached_at"] is not None
    assert attempts[1]["ended"]["how"] == "automatic_reassign"
    assert attempts[2]["current"] and attempts[2]["ended"] is None
    # The first attempt tells the same story, its own ending included.
    earlier = api(world.manager).get(f"/api/handoffs/{first.pk}/").json()["chain"]
    assert earlier["promoted_at"] == chain["promoted_at"]
    assert earlier["attempts"][0]["ended"]["reason"] == "Rob is on leave until Monday"


def test_the_page_of_a_later_attempt_says_when_it_was_promoted_not_when_it_was_reassigned(world):
    first, second, third = reassigned_twice(world)

    page = text(logged_in(world.rep).get(f"/handoffs/{third.pk}/"))

    assert f"Promoted {local(first.created_at)}" in page
    assert "by Mia Marketer" in page
    assert f"Promoted {local(third.created_at)}" not in page
    assert f"this attempt (3) began {local(third.created_at)}" in page
    assert "Reassigned by Max Manager" in page and "Rob is on leave until Monday" in page
    assert "Attempt 2 began" in page and "with Olga Rep" in page
    assert "Reassigned automatically on breach" in page
    assert f"SLA breached {local(second.breached_at)}" in page


def test_the_lead_page_says_how_each_attempt_was_reassigned_and_when_it_began(world):
    first, _, _ = reassigned_twice(world)

    page = text(logged_in(world.marketer).get(f"/leads/{first.lead_id}/"))

    assert "reassigned by Max Manager: “Rob is on leave until Monday”" in page
    assert "reassigned automatically on breach" in page
    assert "attempt 3 began (reassigned)" in page
    assert "handed to the next rep" not in page


def test_an_attempt_escalated_to_the_manager_still_says_which_rep_it_began_with(world):
    TeamMembership.objects.filter(team=world.team).update(is_away=False)
    world.policy.reassign_on_breach = True
    world.policy.max_reassignments = 1
    world.policy.save()
    first = world.promote()
    sla_sweep(now=first.due_at + MIN)  # breached: reassigned automatically to Olga
    second = Handoff.objects.get(previous=first)
    assert second.assigned_to == world.other_rep
    sla_sweep(now=second.due_at + MIN)  # breached again, no reassignment left: escalated
    second.refresh_from_db()
    assert second.assigned_to is None

    chain = api(world.manager).get(f"/api/handoffs/{second.pk}/").json()["chain"]
    page = text(logged_in(world.manager).get(f"/handoffs/{second.pk}/"))

    assert [a["rep"]["username"] for a in chain["attempts"]] == ["rob.rep", "olga.rep"]
    assert chain["attempts"][0]["ended"]["how"] == "automatic_reassign"
    assert chain["attempts"][1]["escalated"].startswith("SLA breached after 1 reassignment")
    assert "This attempt (2) began with Olga Rep" in page
    assert "SLA breached after 1 reassignment (the policy allows 1)" in page


# --- why unassigned ----------------------------------------------------------------------------


def test_the_manager_queue_says_a_handoff_was_escalated_after_the_reassignment_limit(world):
    world.policy.reassign_on_breach = True
    world.policy.max_reassignments = 0
    world.policy.save()
    handoff = world.promote()
    assert handoff.assigned_to == world.rep  # the team has reps: Rob took it
    sla_sweep(now=handoff.due_at + MIN)
    handoff.refresh_from_db()
    assert handoff.assigned_to is None and handoff.status == Status.PENDING

    page = text(logged_in(world.manager).get("/manager/queue/"))

    assert "the team has no reps" not in page
    assert "SLA breached after 0 reassignments (the policy allows 0)" in page


def test_the_manager_queue_lists_each_rep_skipped_at_promotion_with_the_reason(world):
    TeamMembership.objects.filter(team=world.team, rep=world.rep).update(capacity=0)
    handoff = world.promote()
    assert handoff.assigned_to is None

    page = text(logged_in(world.manager).get("/manager/queue/"))

    assert "rob.rep: 0 open of capacity 0" in page and "olga.rep: marked away" in page
    assert "the team has no reps" not in page


# --- lateness in business days ------------------------------------------------------------------


def office_hours(world: World) -> None:
    """The team works Monday to Friday, 09:00-17:00 in New York."""
    world.team.calendar = BusinessCalendarFactory(name="New York office")
    world.team.save()


def test_seven_weeks_late_reads_in_business_days_with_the_wall_time_beside(world):
    office_hours(world)
    handoff = world.promote(ago=dt.timedelta(weeks=7))
    now = timezone.now()
    business = sla.business_minutes_between(handoff.due_at, now, calendar_for(world.team.calendar))
    days = int(business // 480)
    assert 30 <= days <= 35
    expected = f"late by {days} business days (7 weeks)"

    clock = api(world.rep).get(f"/api/handoffs/{handoff.pk}/").json()["clock"]
    page = text(logged_in(world.rep).get(f"/handoffs/{handoff.pk}/"))
    queue = text(logged_in(world.rep).get("/queue/"))
    admin = text(logged_in(world.manager).get("/admin/handoff/handoff/"))

    assert clock["label"] == expected
    assert "late by 33 business days (7 weeks)".replace("33", str(days)) in page
    assert f"late by {days} business days" in queue and "(7 weeks)" in queue
    assert f"late by {days} business days (7 weeks)" in admin


@pytest.mark.parametrize(
    ("business_minutes", "wall_seconds", "words"),
    [
        (30 * 60, 6 * 86400, "late by 4 business days (6 days)"),  # 7.5-hour days
        (12, 12 * 60, "late by 12m"),
        (90, 64.5 * 3600, "late by 1h 30m (65 hours)"),  # Friday evening to Monday morning
        (0.4, 16 * 3600, "overdue (16 hours)"),
        (33 * 450 + 20, 49 * 86400, "late by 33 business days (7 weeks)"),
    ],
)
def test_lateness_words_count_business_days_of_the_calendar(business_minutes, wall_seconds, words):
    assert clocks.late_words(business_minutes, wall_seconds, 450).text == words


def test_time_left_reads_in_business_days_once_a_day_or_more_is_left(db):
    assert clocks.left_words(65, 65 * 60, 480).text == "1h 05m left"
    assert clocks.left_words(480 + 120, 86400, 480).text == "1 business day 2h left (24 hours)"
    assert clocks.left_words(5 * 480, 7 * 86400, 480).text == "5 business days left (7 days)"
    assert clocks.working_day_minutes(calendar_for(BusinessCalendarFactory())) == 480


# --- next in rotation when nobody is at work ---------------------------------------------------


def everyone_off_hours(world: World) -> Handoff:
    """The team's only working window is two days from now: every rep is off hours."""
    today = timezone.now().astimezone(dt.UTC).weekday()
    world.team.calendar = BusinessCalendarFactory(
        name="Later this week", timezone="UTC", windows=[((today + 2) % 7, "09:00", "17:00")]
    )
    world.team.save()
    TeamMembership.objects.filter(team=world.team).update(is_away=False)
    world.policy.skip_reps_off_hours = True
    world.policy.save()
    handoff = world.promote()
    assert handoff.assigned_to is None
    return handoff


def test_next_in_rotation_with_everyone_off_hours_creates_no_attempt_and_says_who_and_when(world):
    handoff = everyone_off_hours(world)
    client = logged_in(world.manager)
    queue = client.get("/manager/queue/")
    row = queue.context["rows"][0]
    back = sla.next_business_moment(timezone.now(), calendar_for(world.team.calendar))

    page = text(queue)
    assert "Next in rotation: nobody now" in page
    assert f"rob.rep from {local(back)}" in page

    response = client.post(
        f"/handoffs/{handoff.pk}/reassign/",
        {"to_rep": "", "seen": row.seen, "next": "/manager/queue/"},
        follow=True,
    )

    assert not Handoff.objects.filter(previous=handoff).exists()
    handoff.refresh_from_db()
    assert handoff.status == Status.PENDING and handoff.attempt == 1
    [message] = messages_of(response)
    assert message.startswith("Nobody in Inside Sales can take it now")
    assert "rob.rep: outside working hours (Later this week), back" in message


def test_next_in_rotation_with_nobody_at_work_is_a_conflict_in_the_api(world):
    handoff = everyone_off_hours(world)

    response = api(world.manager).post(f"/api/handoffs/{handoff.pk}/reassign/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "nobody_available"
    assert Handoff.objects.filter(lead=handoff.lead).count() == 1


# --- the smaller ones ----------------------------------------------------------------------------


def test_questions_from_sales_list_the_most_urgent_first(world):
    relaxed = world.promote(ago=2 * MIN)
    world.ask(relaxed, question="Which plan?", now=relaxed.created_at + MIN)  # 59 m left
    urgent = world.promote(ago=dt.timedelta(minutes=57))
    world.ask(urgent, question="Budget?")  # about 3 m left, asked a minute later

    rows = logged_in(world.marketer).get("/questions/").context["rows"]

    assert [row.handoff.pk for row in rows] == [urgent.pk, relaxed.pk]


def test_accepting_a_handoff_one_already_accepted_is_information_not_an_error(world):
    handoff = world.promote()
    client = logged_in(world.rep)
    seen = client.get(f"/handoffs/{handoff.pk}/").context["seen"]
    client.post(f"/handoffs/{handoff.pk}/accept/", {"seen": seen}, follow=True)

    response = client.post(f"/handoffs/{handoff.pk}/accept/", {"seen": seen}, follow=True)

    [message] = list(response.context["messages"])
    assert str(message).startswith("You already accepted this handoff")
    assert message.level_tag == "info"
    assert 'class="msg info"' in response.content.decode()


def test_recent_activity_keeps_the_contact_form_and_trial_that_drive_the_intent_score(world):
    lead = world.lead()
    now = timezone.now()
    world.event(lead, EventKind.CONTACT_FORM, is_high_intent=True, occurred_at=now - 9 * MIN * 60)
    world.event(lead, EventKind.TRIAL_SIGNUP, is_high_intent=True, occurred_at=now - 8 * MIN * 60)
    for i in range(12):
        world.event(lead, EventKind.PAGE_VIEW, occurred_at=now - (60 - i) * MIN)
    handoff = world.promote(lead)

    page = text(logged_in(world.rep).get(f"/handoffs/{handoff.pk}/"))

    assert "Contact form sent" in page and "Trial started" in page
    kinds = [e["kind"] for e in handoff.engagement_snapshot]
    assert kinds.count("page_view") == 10
    assert kinds[-2:] == ["trial_signup", "contact_form"]  # newest first, as the page lists them

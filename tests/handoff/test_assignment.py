"""Assignment: which team, which policy, which rep, and the reasons recorded in `routing`."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import RuleViolation
from core.roles import SALES_MANAGER
from handoff import services
from handoff.assignment import region_for_country
from handoff.models import Notification, Team
from handoff.states import Status
from tests.factories import (
    BusinessCalendarFactory,
    SlaPolicyFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)
from tests.handoff.world import NY, TUESDAY_10, World, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def assignees(w: World, count: int) -> list[str]:
    return [
        w.promote(now=TUESDAY_10 + dt.timedelta(minutes=n)).assigned_to.username
        for n in range(count)
    ]


def test_reps_take_turns_in_order(world):
    assert assignees(world, 4) == ["rob.rep", "olga.rep", "rob.rep", "olga.rep"]


def test_a_heavier_rep_gets_more_turns_interleaved(world):
    world.memberships["rob.rep"].weight = 2
    world.memberships["rob.rep"].save()
    world.rep_user("tina.rep")
    # Rob 2, Olga 1, Tina 1: one cycle is rob, olga, tina, rob.
    assert assignees(world, 8) == ["rob.rep", "olga.rep", "tina.rep", "rob.rep"] * 2


def test_a_rep_at_capacity_is_skipped_with_the_reason(world):
    world.memberships["rob.rep"].capacity = 1
    world.memberships["rob.rep"].save()
    assert assignees(world, 3) == ["rob.rep", "olga.rep", "olga.rep"]
    third = world.team.handoffs.order_by("-id").first()
    assert third.routing["skipped"] == [
        {
            "rep_id": world.rep.pk,
            "username": "rob.rep",
            "reason": "at_capacity",
            "detail": "1 open of capacity 1",
        }
    ]


def test_capacity_frees_up_when_the_rep_answers(world):
    world.memberships["rob.rep"].capacity = 1
    world.memberships["rob.rep"].save()
    first = world.promote()
    services.handoff_accept(handoff=first, actor=world.rep, now=TUESDAY_10)
    world.memberships["olga.rep"].is_away = True
    world.memberships["olga.rep"].save()
    assert world.promote().assigned_to == world.rep


def test_capacity_counts_open_handoffs_from_every_team(world):
    other_team = TeamFactory(name="Overflow", calendar=world.calendar, priority=500)
    TeamMembershipFactory(team=other_team, rep=world.rep, capacity=1)
    world.promote()  # AMER gives it to rob
    h = world.promote(team=other_team)
    assert h.assigned_to is None
    assert h.routing["skipped"][0]["reason"] == "at_capacity"


def test_an_away_rep_is_skipped_with_the_reason(world):
    world.memberships["rob.rep"].is_away = True
    world.memberships["rob.rep"].save()
    h = world.promote()
    assert h.assigned_to == world.other_rep
    assert [(s["username"], s["reason"]) for s in h.routing["skipped"]] == [("rob.rep", "away")]


def test_an_inactive_rep_is_skipped(world):
    world.rep.is_active = False
    world.rep.save()
    h = world.promote()
    assert h.assigned_to == world.other_rep
    assert h.routing["skipped"][0]["reason"] == "inactive"


def test_a_tight_policy_skips_reps_outside_their_working_hours(world):
    world.policy.skip_reps_off_hours = True
    world.policy.save()
    # Olga works from London: 16:00 in New York is 21:00 there.
    london = BusinessCalendarFactory(name="London", timezone="Europe/London")
    world.memberships["olga.rep"].calendar = london
    world.memberships["olga.rep"].save()
    late_afternoon = dt.datetime(2025, 3, 4, 16, 0, tzinfo=NY)
    first = world.promote(now=late_afternoon)
    second = world.promote(now=late_afternoon + dt.timedelta(minutes=1))
    assert (first.assigned_to, second.assigned_to) == (world.rep, world.rep)
    assert second.routing["skipped"] == [
        {
            "rep_id": world.other_rep.pk,
            "username": "olga.rep",
            "reason": "off_hours",
            "detail": "outside working hours (London)",
        }
    ]


def test_a_relaxed_policy_assigns_reps_off_hours(world):
    saturday = dt.datetime(2025, 3, 8, 11, 0, tzinfo=NY)
    assert world.promote(now=saturday).assigned_to == world.rep


def test_when_nobody_can_take_it_the_manager_is_told_and_it_waits_in_their_queue(world):
    for m in world.memberships.values():
        m.is_away = True
        m.save()
    h = world.promote()
    assert h.assigned_to is None
    assert h.status == Status.PENDING
    assert h.routing["queue"] == "manager"
    assert {s["reason"] for s in h.routing["skipped"]} == {"away"}
    notice = Notification.objects.get(handoff=h)
    assert (notice.kind, notice.recipient) == (Notification.Kind.UNASSIGNED, world.manager)
    assert "rob.rep: marked away" in notice.body
    # The rotation did not move: the next promotion starts from the same rep.
    world.team.refresh_from_db()
    assert world.team.rotation_position == 0


def test_a_team_without_a_manager_tells_every_sales_manager(world):
    world.team.manager = None
    world.team.save()
    second_manager = UserFactory(username="mo.manager", role=SALES_MANAGER)
    for m in world.memberships.values():
        m.active = False
        m.save()
    h = world.promote()
    recipients = set(
        Notification.objects.filter(handoff=h).values_list("recipient__username", flat=True)
    )
    assert recipients == {world.manager.username, second_manager.username}


def test_the_excluded_rep_is_recorded_when_the_rotation_lands_on_them(world):
    h = world.promote()  # rob; rotation now points at olga
    world.promote()  # olga; rotation points at rob again
    new = services.handoff_reassign(handoff=h, actor=world.manager, now=TUESDAY_10)
    assert new.assigned_to == world.other_rep
    assert [(s["username"], s["reason"]) for s in new.routing["skipped"]] == [
        ("rob.rep", "excluded")
    ]


# --- teams and policies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region"),
    [("US", "AMER"), ("br", "AMER"), ("FR", "EMEA"), ("ZA", "EMEA"), ("JP", "APAC"), ("", "")],
)
def test_countries_map_to_sales_regions(country, region):
    assert region_for_country(country) == region


def test_teams_are_tried_by_priority_and_match_on_their_rules(world):
    cal = world.calendar
    big = TeamFactory(name="Enterprise", calendar=cal, priority=10, match_employee_bands=["5001+"])
    fin = TeamFactory(name="Fintech", calendar=cal, priority=20, match_industries=["Finance"])
    hot = TeamFactory(name="Hot", calendar=cal, priority=30, match_min_score=90)
    catch_all = TeamFactory(name="Everyone", calendar=cal, priority=1000)
    for team in (big, fin, hot, catch_all):
        TeamMembershipFactory(team=team, rep=world.rep)

    def team_for(**lead_fields) -> Team:
        return world.promote(world.lead(**lead_fields)).team

    assert team_for(employee_band="5001+", industry="finance").name == "Enterprise"
    assert team_for(industry="finance").name == "Fintech"
    assert team_for(score=95, country="JP").name == "Hot"
    assert team_for(country="US").name == "AMER"
    assert team_for(country="JP").name == "Everyone"
    h = world.promote(world.lead(industry="Finance"))
    assert h.routing["rule"] == "matched on industry Finance"


def test_a_lead_no_team_takes_is_refused_with_a_clear_error(world):
    with pytest.raises(RuleViolation) as refused:
        world.promote(world.lead(country="JP"))
    assert refused.value.code == "no_matching_team"


def test_the_matching_policy_with_the_lowest_precedence_wins(world):
    SlaPolicyFactory(name="Hot", min_score=80, precedence=20, accept_within_minutes=60)
    SlaPolicyFactory(name="Paid", sources=["paid_search"], precedence=50, accept_within_minutes=120)
    SlaPolicyFactory(name="Other team", team=TeamFactory(), precedence=1, accept_within_minutes=1)
    assert world.promote(world.lead(score=85)).policy.name == "Hot"
    assert world.promote(world.lead(score=50, source="paid_search")).policy.name == "Paid"
    assert world.promote(world.lead(score=50, source="webinar")).policy.name == "Standard"


def test_a_high_intent_policy_covers_leads_with_a_high_intent_event_in_the_last_7_days(world):
    SlaPolicyFactory(
        name="Demo request", requires_high_intent=True, precedence=10, accept_within_minutes=15
    )
    recent = world.lead(last_high_intent_at=TUESDAY_10 - dt.timedelta(days=6, hours=23))
    stale = world.lead(last_high_intent_at=TUESDAY_10 - dt.timedelta(days=8))
    h = world.promote(recent)
    assert h.policy.name == "Demo request"
    assert h.due_at == TUESDAY_10 + dt.timedelta(minutes=15)
    assert h.routing["lead"]["high_intent"] is True
    assert world.promote(stale).policy.name == "Standard"


def test_an_inactive_team_cannot_be_chosen(world):
    closed = TeamFactory(name="Closed", active=False)
    with pytest.raises(RuleViolation) as refused:
        world.promote(team=closed)
    assert refused.value.field == "team"


def test_the_preview_says_what_a_promotion_would_do_and_writes_nothing(world):
    lead = world.lead()
    preview = services.promotion_preview(lead=lead, now=TUESDAY_10)
    assert preview["eligible"] is True
    assert preview["team"]["name"] == "AMER"
    assert preview["rep"]["username"] == "rob.rep"
    assert preview["policy"]["name"] == "Standard"
    assert preview["due_at"] == dt.datetime(2025, 3, 4, 14, 0, tzinfo=NY)
    world.team.refresh_from_db()
    assert world.team.rotation_position == 0
    assert not lead.handoffs.exists()
    world.promote(lead)
    again = services.promotion_preview(lead=lead, now=TUESDAY_10)
    assert again["eligible"] is False
    assert again["block"]["code"] == "open_handoff_exists"

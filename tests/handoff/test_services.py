"""Handoff services: the moves allowed and refused, promotion rules, deadlines, the pause."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from handoff import services
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.states import ALLOWED_MOVES, HandoffConflict, InvalidTransition, Status
from leads.models import LeadStageChange, Stage
from tests.factories import BusinessCalendarFactory, TeamFactory, TeamMembershipFactory
from tests.handoff.world import NOTE, NY, TUESDAY_10, World, make_world

UTC = dt.UTC


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


BANT = {"budget": "50k", "authority": "VP Sales", "need": "routing", "timeline": "Q3"}


def in_status(w: World, status: str, now: dt.datetime = TUESDAY_10) -> Handoff:
    """A handoff brought to `status` through the services."""
    h = w.promote(now=now)
    rep = h.assigned_to
    later = now + dt.timedelta(minutes=5)
    if status == Status.WAITING:
        services.handoff_request_info(handoff=h, actor=rep, question="Budget?", now=later)
    elif status == Status.ACCEPTED:
        services.handoff_accept(handoff=h, actor=rep, now=later)
    elif status == Status.QUALIFIED:
        services.handoff_accept(handoff=h, actor=rep, now=later)
        services.handoff_qualify(handoff=h, actor=rep, bant=BANT, now=later)
    elif status == Status.RETURNED:
        services.handoff_return(handoff=h, actor=rep, reason_code="no-budget", now=later)
    elif status == Status.REASSIGNED:
        services.handoff_reassign(handoff=h, actor=w.manager, now=later)
    h.refresh_from_db()
    assert h.status == status
    return h


ACTIONS: dict[str, tuple[str, Any]] = {
    # action: (the status it moves to, how a manager or the marketer performs it)
    "accept": (
        Status.ACCEPTED,
        lambda w, h, now: services.handoff_accept(handoff=h, actor=w.manager, now=now),
    ),
    "request_info": (
        Status.WAITING,
        lambda w, h, now: services.handoff_request_info(
            handoff=h, actor=w.manager, question="Which product?", now=now
        ),
    ),
    "provide_info": (
        Status.PENDING,
        lambda w, h, now: services.handoff_provide_info(
            handoff=h, actor=w.marketer, answer="The routing one.", now=now
        ),
    ),
    "qualify": (
        Status.QUALIFIED,
        lambda w, h, now: services.handoff_qualify(handoff=h, actor=w.manager, bant=BANT, now=now),
    ),
    "return": (
        Status.RETURNED,
        lambda w, h, now: services.handoff_return(
            handoff=h, actor=w.manager, reason_code="not-ready", now=now
        ),
    ),
    "reassign": (
        Status.REASSIGNED,
        lambda w, h, now: services.handoff_reassign(handoff=h, actor=w.manager, now=now),
    ),
}


@pytest.mark.parametrize("start", [s.value for s in Status])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_move_is_allowed_exactly_when_the_states_table_says_so(world, start, action):
    h = in_status(world, start)
    to_status, perform = ACTIONS[action]
    events_before = HandoffEvent.objects.filter(handoff=h).count()
    now = TUESDAY_10 + dt.timedelta(minutes=30)
    if to_status in ALLOWED_MOVES[start]:
        perform(world, h, now)
        h.refresh_from_db()
        assert h.status == to_status
        assert HandoffEvent.objects.filter(handoff=h).count() == events_before + 1
        event = HandoffEvent.objects.filter(handoff=h).last()
        assert (event.from_status, event.to_status) == (start, to_status)
    else:
        with pytest.raises(InvalidTransition):
            perform(world, h, now)
        h.refresh_from_db()
        assert h.status == start
        assert HandoffEvent.objects.filter(handoff=h).count() == events_before


# --- promotion --------------------------------------------------------------------------------


def test_a_promotion_makes_the_lead_an_mql_and_snapshots_the_warm_handoff_packet(world):
    lead = world.lead(score=72, score_breakdown={"total": 72, "items": [{"rule": "VP"}]})
    from tests.factories import EngagementEventFactory

    EngagementEventFactory(
        lead=lead, kind="demo_request", occurred_at=TUESDAY_10 - dt.timedelta(hours=1)
    )
    h = world.promote(lead, note="Asked for a demo on the pricing page")
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert lead.mql_at == TUESDAY_10
    assert h.status == Status.PENDING
    assert h.promoted_by == world.marketer
    assert h.context_note == "Asked for a demo on the pricing page"
    assert h.score_snapshot == 72
    assert h.score_breakdown["items"] == [{"rule": "VP"}]
    assert h.engagement_snapshot[0]["kind"] == "demo_request"
    assert h.policy_snapshot["name"] == "Standard"
    assert h.policy_snapshot["version"] == 1
    assert h.policy_snapshot["accept_within_minutes"] == 240
    assert h.policy_snapshot["calendar_id"] == world.calendar.pk
    assert h.policy_snapshot["timezone"] == "America/New_York"
    assert h.history_snapshot == []
    created = h.events.get()
    assert created.kind == HandoffEvent.Kind.CREATED
    assert LeadStageChange.objects.filter(lead=lead, to_stage=Stage.MQL).count() == 1


def test_a_rep_is_notified_at_once_when_a_handoff_lands_with_them(world):
    h = world.promote()
    note = Notification.objects.get(handoff=h)
    assert note.kind == Notification.Kind.ASSIGNED
    assert note.recipient == world.rep
    assert note.event == h.events.get()


def test_editing_a_policy_later_does_not_rewrite_the_handoffs_snapshot(world):
    h = world.promote()
    world.policy.accept_within_minutes = 5
    services.sla_policy_save(policy=world.policy)
    h.refresh_from_db()
    assert h.policy_snapshot["accept_within_minutes"] == 240
    assert h.policy_snapshot["version"] == 1
    world.policy.refresh_from_db()
    assert world.policy.version == 2


def test_only_marketing_or_a_manager_promotes(world):
    with pytest.raises(Forbidden):
        services.handoff_promote(lead=world.lead(), actor=world.rep, now=TUESDAY_10, note=NOTE)
    assert Handoff.objects.count() == 0
    assert services.handoff_promote(
        lead=world.lead(), actor=world.manager, now=TUESDAY_10, note=NOTE
    )


def test_a_lead_with_an_open_handoff_cannot_be_promoted_again(world):
    h = world.promote()
    with pytest.raises(HandoffConflict) as refused:
        world.promote(h.lead)
    assert refused.value.code == "open_handoff_exists"
    assert Handoff.objects.filter(lead=h.lead).count() == 1


def test_the_database_refuses_a_second_open_handoff_for_a_lead(world):
    from django.db import IntegrityError, transaction

    h = world.promote()
    with pytest.raises(IntegrityError), transaction.atomic():
        Handoff.objects.create(lead=h.lead, status=Status.ACCEPTED, created_at=TUESDAY_10)
    # A closed one is fine: history is not limited.
    Handoff.objects.create(lead=h.lead, status=Status.RETURNED, created_at=TUESDAY_10)


def test_a_disqualified_lead_cannot_be_promoted_until_a_manager_reopens_it(world):
    lead = world.lead(stage=Stage.DISQUALIFIED)
    with pytest.raises(RuleViolation) as refused:
        world.promote(lead)
    assert refused.value.code == "lead_disqualified"
    assert services.lead_promotion_block(lead=lead, now=TUESDAY_10)
    with pytest.raises(Forbidden):
        services.lead_reopen(lead=lead, actor=world.marketer)
    services.lead_reopen(lead=lead, actor=world.manager, now=TUESDAY_10)
    assert lead.stage == Stage.LEAD
    assert world.promote(lead).status == Status.PENDING


def test_a_returned_lead_cools_down_before_it_can_be_promoted_again(world):
    h = world.promote()
    until = TUESDAY_10 + dt.timedelta(days=30)
    services.handoff_return(
        handoff=h, actor=world.rep, reason_code="not-ready", recycle_until=until,
        now=TUESDAY_10 + dt.timedelta(hours=1),
    )  # fmt: skip
    lead = h.lead
    lead.refresh_from_db()
    assert (lead.stage, lead.recycle_until, lead.return_count) == (Stage.RECYCLED, until, 1)
    with pytest.raises(RuleViolation) as refused:
        world.promote(lead, now=TUESDAY_10 + dt.timedelta(days=10))
    assert refused.value.code == "lead_in_cooldown"
    second = world.promote(lead, now=until)
    assert second.status == Status.PENDING
    assert second.history_snapshot[0]["status"] == Status.RETURNED
    assert second.history_snapshot[0]["return_reason_code"] == "not-ready"
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_a_new_high_intent_event_lifts_the_cooldown(world):
    h = world.promote()
    returned_at = TUESDAY_10 + dt.timedelta(hours=1)
    services.handoff_return(
        handoff=h, actor=world.rep, reason_code="not-ready",
        recycle_until=TUESDAY_10 + dt.timedelta(days=60), now=returned_at,
    )  # fmt: skip
    lead = h.lead
    lead.refresh_from_db()
    # High intent before the return does not count; after it, it does.
    lead.last_high_intent_at = returned_at - dt.timedelta(minutes=1)
    lead.save()
    assert services.lead_promotion_block(lead=lead, now=TUESDAY_10 + dt.timedelta(days=2))
    lead.last_high_intent_at = TUESDAY_10 + dt.timedelta(days=1)
    lead.save()
    assert services.lead_promotion_block(lead=lead, now=TUESDAY_10 + dt.timedelta(days=2)) is None
    assert world.promote(lead, now=TUESDAY_10 + dt.timedelta(days=2)).attempt == 1


def test_a_lead_already_with_sales_cannot_be_promoted(world):
    lead = world.lead(stage=Stage.SQL)
    with pytest.raises(Conflict) as refused:
        world.promote(lead)
    assert refused.value.code == "lead_with_sales"


def test_a_promotion_with_no_matching_policy_is_refused_with_a_clear_error(world):
    world.policy.active = False
    world.policy.save()
    with pytest.raises(RuleViolation) as refused:
        world.promote()
    assert refused.value.code == "no_sla_policy"
    assert Handoff.objects.count() == 0


# --- deadlines --------------------------------------------------------------------------------


def test_a_promotion_on_friday_at_16_50_with_15_minutes_is_due_monday_at_09_05(world):
    world.policy.accept_within_minutes = 15
    world.policy.save()
    friday = dt.datetime(2025, 3, 7, 16, 50, tzinfo=NY)  # DST starts on the Sunday between
    h = world.promote(now=friday)
    assert h.due_at == dt.datetime(2025, 3, 10, 9, 5, tzinfo=NY)
    assert h.due_at == dt.datetime(2025, 3, 10, 13, 5, tzinfo=UTC)
    # At risk at 75% of the window: 11.25 minutes in, i.e. 10 on Friday and 1.25 on Monday.
    assert h.at_risk_at == dt.datetime(2025, 3, 10, 9, 1, 15, tzinfo=NY)
    h.refresh_from_db()
    assert h.due_at == dt.datetime(2025, 3, 10, 13, 5, tzinfo=UTC)


def test_the_policy_calendar_wins_over_the_team_calendar(world):
    london = BusinessCalendarFactory(name="London", timezone="Europe/London")
    world.policy.calendar = london
    world.policy.accept_within_minutes = 60
    world.policy.save()
    # 16:30 in London on a Tuesday: 30 minutes today, 30 tomorrow from 09:00.
    h = world.promote(now=dt.datetime(2025, 3, 4, 16, 30, tzinfo=dt.UTC))
    assert h.calendar == london
    assert h.due_at == dt.datetime(2025, 3, 5, 9, 30, tzinfo=dt.UTC)


def test_an_accept_after_the_deadline_is_recorded_as_late(world):
    h = world.promote()
    services.handoff_accept(handoff=h, actor=world.rep, now=h.due_at + dt.timedelta(minutes=20))
    h.refresh_from_db()
    assert h.accepted_late is True
    event = h.events.last()
    assert event.payload["late"] is True
    assert event.payload["late_by_business_minutes"] == 20


def test_an_accept_in_time_starts_the_first_touch_clock(world):
    h = world.promote()
    accepted = TUESDAY_10 + dt.timedelta(minutes=30)
    services.handoff_accept(handoff=h, actor=world.rep, now=accepted)
    h.refresh_from_db()
    h.lead.refresh_from_db()
    assert (h.accepted_late, h.accepted_at, h.responded_at) == (False, accepted, accepted)
    assert h.lead.stage == Stage.SAL
    # 480 business minutes from Tuesday 10:30: 6.5 hours on Tuesday, 1.5 on Wednesday.
    assert h.first_touch_due_at == dt.datetime(2025, 3, 5, 10, 30, tzinfo=NY)
    # At risk at 75%: 360 minutes in, still on Tuesday.
    assert h.first_touch_at_risk_at == dt.datetime(2025, 3, 4, 16, 30, tzinfo=NY)


def test_pausing_for_information_keeps_the_business_time_that_was_left(world):
    h = world.promote()  # due Tuesday 14:00 (240 minutes from 10:00)
    assert h.due_at == dt.datetime(2025, 3, 4, 14, 0, tzinfo=NY)
    asked = dt.datetime(2025, 3, 4, 11, 0, tzinfo=NY)  # 180 business minutes left
    services.handoff_request_info(handoff=h, actor=world.rep, question="Which region?", now=asked)
    h.refresh_from_db()
    assert h.status == Status.WAITING
    assert h.due_at is None and h.at_risk_at is None
    assert h.remaining_business_minutes == pytest.approx(180)
    assert h.info_question == "Which region?"
    notice = Notification.objects.get(handoff=h, kind=Notification.Kind.INFO_REQUESTED)
    assert notice.recipient == world.marketer

    answered = dt.datetime(2025, 3, 5, 16, 0, tzinfo=NY)  # Wednesday 16:00, a day later
    services.handoff_provide_info(handoff=h, actor=world.marketer, answer="EMEA", now=answered)
    h.refresh_from_db()
    assert h.status == Status.PENDING
    # 180 minutes from Wednesday 16:00: 60 on Wednesday, 120 on Thursday from 09:00.
    assert h.due_at == dt.datetime(2025, 3, 6, 11, 0, tzinfo=NY)
    # At risk once 75% of 240 = 180 minutes have elapsed overall: 60 used, 120 more.
    assert h.at_risk_at == dt.datetime(2025, 3, 6, 10, 0, tzinfo=NY)
    assert h.paused_seconds_total == int((answered - asked).total_seconds())
    assert h.pause_count == 1
    resumed = h.events.last()
    assert resumed.payload["paused_seconds"] == h.paused_seconds_total
    assert resumed.payload["remaining_business_minutes"] == pytest.approx(180)
    assert Notification.objects.filter(handoff=h, kind=Notification.Kind.INFO_PROVIDED).count() == 1


def test_only_the_promoting_marketer_the_owner_or_a_manager_answer_a_question(world):
    from core.roles import MARKETING
    from tests.factories import UserFactory

    h = in_status(world, Status.WAITING)
    stranger = UserFactory(username="other.marketer", role=MARKETING)
    with pytest.raises(Forbidden):
        services.handoff_provide_info(handoff=h, actor=stranger, answer="x", now=TUESDAY_10)
    with pytest.raises(Forbidden):
        services.handoff_provide_info(handoff=h, actor=world.rep, answer="x", now=TUESDAY_10)
    services.handoff_provide_info(handoff=h, actor=world.manager, answer="x", now=TUESDAY_10)


# --- qualify, return, first touch -------------------------------------------------------------


def test_qualifying_records_the_bant_answers_and_makes_the_lead_an_sql(world):
    h = in_status(world, Status.ACCEPTED)
    services.handoff_qualify(handoff=h, actor=world.rep, bant=BANT, note="Good call")
    h.refresh_from_db()
    h.lead.refresh_from_db()
    assert h.status == Status.QUALIFIED
    assert h.bant == BANT
    assert h.lead.stage == Stage.SQL


@pytest.mark.parametrize(
    ("bant", "field"),
    [
        ({**BANT, "budget": " "}, "bant.budget"),
        ({k: v for k, v in BANT.items() if k != "timeline"}, "bant.timeline"),
        ({**BANT, "mood": "happy"}, "bant.mood"),
        ("yes", "bant"),
    ],
)
def test_bad_bant_answers_are_refused_naming_the_field_and_write_nothing(world, bant, field):
    h = in_status(world, Status.ACCEPTED)
    with pytest.raises(ValidationFailed) as refused:
        services.handoff_qualify(handoff=h, actor=world.rep, bant=bant)
    assert refused.value.field == field
    h.refresh_from_db()
    assert h.status == Status.ACCEPTED


def test_a_return_with_disqualify_disqualifies_the_lead_in_the_same_transaction(world):
    h = in_status(world, Status.ACCEPTED)
    services.handoff_return(
        handoff=h, actor=world.rep, reason_code="not-icp", note="Agency", lead_effect="disqualify"
    )
    h.refresh_from_db()
    h.lead.refresh_from_db()
    assert (h.status, h.return_reason_code, h.return_note) == (Status.RETURNED, "not-icp", "Agency")
    assert h.lead.stage == Stage.DISQUALIFIED
    assert h.lead.return_count == 1
    assert Notification.objects.filter(handoff=h, kind=Notification.Kind.RETURNED).exists()


def test_a_return_needs_a_reason(world):
    h = world.promote()
    with pytest.raises(ValidationFailed) as refused:
        services.handoff_return(handoff=h, actor=world.rep, reason_code=" ")
    assert refused.value.code == "reason_required"
    h.refresh_from_db()
    assert h.status == Status.PENDING


def test_the_first_touch_is_logged_once_on_an_accepted_handoff(world):
    h = in_status(world, Status.ACCEPTED)
    touched = TUESDAY_10 + dt.timedelta(hours=1)
    services.handoff_log_first_touch(
        handoff=h, actor=world.rep, channel="call", note="Left a voicemail", now=touched
    )
    h.refresh_from_db()
    assert (h.first_touch_at, h.first_touch_channel, h.status) == (touched, "call", Status.ACCEPTED)
    event = h.events.last()
    assert (event.kind, event.from_status, event.to_status) == (
        "first_touch",
        "accepted",
        "accepted",
    )
    with pytest.raises(Conflict):
        services.handoff_log_first_touch(handoff=h, actor=world.rep, channel="email")
    with pytest.raises(ValidationFailed) as refused:
        services.handoff_log_first_touch(
            handoff=in_status(world, Status.ACCEPTED), actor=world.rep, channel="fax"
        )
    assert refused.value.field == "channel"


def test_a_first_touch_on_a_pending_handoff_is_refused(world):
    with pytest.raises(InvalidTransition):
        services.handoff_log_first_touch(handoff=world.promote(), actor=world.rep, channel="call")


# --- who may act ------------------------------------------------------------------------------


def test_a_rep_cannot_act_on_a_handoff_assigned_to_someone_else(world):
    h = world.promote()
    assert h.assigned_to == world.rep
    for act in (
        lambda: services.handoff_accept(handoff=h, actor=world.other_rep),
        lambda: services.handoff_request_info(handoff=h, actor=world.other_rep, question="?"),
        lambda: services.handoff_return(handoff=h, actor=world.other_rep, reason_code="x"),
    ):
        with pytest.raises(Forbidden):
            act()
    h.refresh_from_db()
    assert h.status == Status.PENDING


def test_a_marketer_cannot_accept_return_or_reassign(world):
    h = world.promote()
    with pytest.raises(Forbidden):
        services.handoff_accept(handoff=h, actor=world.marketer)
    with pytest.raises(Forbidden):
        services.handoff_return(handoff=h, actor=world.marketer, reason_code="no-budget")
    with pytest.raises(Forbidden):
        services.handoff_reassign(handoff=h, actor=world.marketer)
    with pytest.raises(Forbidden):
        services.handoff_reassign(handoff=h, actor=world.rep)


# --- reassignment -----------------------------------------------------------------------------


def test_a_reassignment_starts_a_new_attempt_with_a_fresh_deadline_and_the_same_packet(world):
    h = world.promote(note="Wants pricing for 50 seats")
    later = TUESDAY_10 + dt.timedelta(hours=3)
    new = services.handoff_reassign(handoff=h, actor=world.manager, reason="Rob is sick", now=later)
    h.refresh_from_db()
    assert h.status == Status.REASSIGNED
    assert h.closed_at == later
    assert (new.attempt, new.previous, new.status) == (2, h, Status.PENDING)
    assert new.assigned_to == world.other_rep
    assert new.context_note == "Wants pricing for 50 seats"
    assert new.score_breakdown == h.score_breakdown
    assert new.policy_snapshot == h.policy_snapshot
    assert new.created_at == later
    # 240 business minutes from Tuesday 13:00: 4 hours, due 17:00.
    assert new.due_at == dt.datetime(2025, 3, 4, 17, 0, tzinfo=NY)
    assert new.routing["previous"]["id"] == h.pk
    assert new.routing["rule"] == (
        "reassigned by max.manager to the next rep in the rotation (attempt 2)"
    )
    assert Notification.objects.filter(handoff=new, recipient=world.other_rep).count() == 1
    h.lead.refresh_from_db()
    assert h.lead.stage == Stage.MQL


def test_a_manager_can_reassign_to_a_chosen_rep(world):
    h = world.promote()
    third = world.rep_user("tina.rep")
    new = services.handoff_reassign(handoff=h, actor=world.manager, to_rep=third)
    assert new.assigned_to == third
    assert "reassigned by max.manager to tina.rep" in new.routing["rule"]
    with pytest.raises(ValidationFailed) as refused:
        services.handoff_reassign(handoff=new, actor=world.manager, to_rep=world.marketer)
    assert refused.value.field == "to_rep"


def test_an_automatic_reassignment_needs_no_actor(world):
    h = world.promote()
    new = services.handoff_reassign(handoff=h, automatic=True, reason="sla_breach")
    assert new.assigned_to == world.other_rep
    assert new.events.get().payload["automatic"] is True


def test_a_stale_copy_loses_with_a_conflict_and_writes_nothing(world):
    h = world.promote()
    stale = Handoff.objects.get(pk=h.pk)
    services.handoff_accept(handoff=h, actor=world.rep)
    with pytest.raises(HandoffConflict) as lost:
        services.handoff_reassign(handoff=stale, actor=world.manager)
    assert "accepted" in lost.value.message
    assert Handoff.objects.filter(lead=h.lead).count() == 1
    assert HandoffEvent.objects.filter(handoff=h).count() == 2


def test_a_stale_copy_from_before_a_pause_loses_even_though_the_status_matches_again(world):
    h = world.promote()
    stale = Handoff.objects.get(pk=h.pk)
    services.handoff_request_info(handoff=h, actor=world.rep, question="?", now=TUESDAY_10)
    services.handoff_provide_info(
        handoff=h, actor=world.marketer, answer="!", now=TUESDAY_10 + dt.timedelta(hours=2)
    )
    with pytest.raises(HandoffConflict):
        services.handoff_accept(handoff=stale, actor=world.rep)


# --- cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize("team_size", [2, 20])
def test_a_promotion_runs_a_bounded_number_of_queries(
    world, team_size, django_assert_max_num_queries
):
    for n in range(team_size - 2):
        world.rep_user(f"extra{n}")
    lead = world.lead()
    world.promote(world.lead())  # warms the calendar cache, like a running server
    # The same at 2 or 20 reps: routing (with the account owner and time off), the policy, the
    # handoff and its event, the lead's stage, the notification and the webhook event rows
    # (27), and one more: the mark that the promotion day's revenue rollup is stale (the
    # recount itself runs off the request path, in the beat refresh).
    with django_assert_max_num_queries(28):
        world.promote(lead)


def test_routing_is_reproducible_from_what_the_handoff_stores(world):
    h = world.promote()
    assert h.routing["team"] == {"id": world.team.pk, "name": "AMER"}
    assert h.routing["rule"] == "matched on region AMER"
    assert h.routing["rep"] == {"id": world.rep.pk, "username": world.rep.username}
    assert h.routing["rotation"]["position_chosen"] == 0
    assert h.routing["policy"]["name"] == "Standard"


def test_a_second_team_is_used_when_the_first_does_not_match(world):
    emea_cal = BusinessCalendarFactory(name="London", timezone="Europe/London")
    emea = TeamFactory(name="EMEA", calendar=emea_cal, match_regions=["EMEA"], priority=50)
    TeamMembershipFactory(team=emea, rep=world.other_rep)
    h = world.promote(world.lead(country="FR"))
    assert h.team == emea
    assert h.calendar == emea_cal
    assert h.assigned_to == world.other_rep

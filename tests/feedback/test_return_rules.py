"""Returning a handoff, recycling, the recycle cap and re-promotion: the rules as tables of cases,
run through the real services (handoff_promote, feedback_return_handoff, event_record,
lead_reopen) on the real database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from core.errors import DomainError, Forbidden, ValidationFailed
from feedback import services
from feedback.models import RejectionReason, ReturnFeedback
from feedback.selectors import previous_returns
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.services import handoff_accept, handoff_promote, lead_reopen
from handoff.states import HandoffConflict, Status
from leads.models import LeadStageChange, Stage
from leads.services import event_record
from tests.factories import LeadFactory, SlaPolicyFactory, TeamFactory, TeamMembershipFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 10, 14, 0, tzinfo=dt.UTC)  # a Wednesday, 10:00 in New York
DAY = dt.timedelta(days=1)


@pytest.fixture
def desk(rep, marketer):
    team = TeamFactory(name="Everyone")
    TeamMembershipFactory(team=team, rep=rep)
    SlaPolicyFactory(name="Default", precedence=1000)
    return team


def promote(lead, marketer, at):
    return handoff_promote(
        lead=lead, actor=marketer, note="Hot one: asked for a demo today.", now=at
    )


def counts(lead):
    return (
        HandoffEvent.objects.filter(handoff__lead=lead).count(),
        LeadStageChange.objects.filter(lead=lead).count(),
        ReturnFeedback.objects.filter(lead=lead).count(),
    )


# --- what a return does to the lead ---------------------------------------------------------

RETURN_CASES = [
    # (case, reason, note, returns before, cap, stage after, cooldown days, effect note has)
    ("timing reason recycles for its cooldown", "not-ready", "", 0, 3, "recycled", 60, "until"),
    ("a note-required reason with its note", "bad-data", "Bounced", 0, 3, "recycled", 14, "until"),
    ("a disqualifying reason", "not-icp", "2 people", 0, 3, "disqualified", None, "Not our ICP"),
    ("second return still recycles", "not-ready", "", 1, 3, "recycled", 60, "return 2"),
    ("the cap-th return disqualifies", "not-ready", "", 2, 3, "disqualified", None, "cap is 3"),
    ("a higher cap lets it recycle", "not-ready", "", 2, 5, "recycled", 60, "return 3"),
    ("a cap of 1 disqualifies at once", "no-budget", "", 0, 1, "disqualified", None, "cap is 1"),
]


@pytest.mark.parametrize(
    "reason,note,before,cap,stage,cooldown,says",
    [case[1:] for case in RETURN_CASES],
    ids=[case[0] for case in RETURN_CASES],
)
def test_a_return_moves_the_lead_as_the_reason_and_the_cap_say(
    desk, rep, marketer, reason, note, before, cap, stage, cooldown, says
):
    lead = LeadFactory(stage=Stage.LEAD, return_count=before, score=70)
    handoff = promote(lead, marketer, T0)
    at = T0 + dt.timedelta(minutes=30)
    with override_settings(RECYCLE_CAP=cap):
        feedback = services.feedback_return_handoff(
            handoff=handoff, actor=rep, reason=reason, note=note, now=at
        )
    lead.refresh_from_db()
    handoff.refresh_from_db()
    assert handoff.status == Status.RETURNED
    assert handoff.return_reason_code == reason
    assert lead.stage == stage
    assert lead.return_count == before + 1
    expected_until = at + dt.timedelta(days=cooldown) if cooldown is not None else None
    assert lead.recycle_until == expected_until
    assert feedback.recycle_until == expected_until
    assert feedback.lead_effect == ("recycle" if stage == "recycled" else "disqualify")
    assert says in feedback.effect_note
    assert (feedback.reason.code, feedback.note, feedback.returned_by) == (reason, note, rep)
    event = HandoffEvent.objects.filter(handoff=handoff).last()
    assert (event.from_status, event.to_status, event.actor) == ("pending", "returned", rep)
    change = LeadStageChange.objects.filter(lead=lead).last()
    assert (change.from_stage, change.to_stage, change.actor) == ("mql", stage, rep)


def test_the_cap_tells_marketing_why_the_lead_left_nurture(desk, rep, marketer):
    lead = LeadFactory(stage=Stage.LEAD, return_count=2, score=70)
    handoff = promote(lead, marketer, T0)
    feedback = services.feedback_return_handoff(
        handoff=handoff, actor=rep, reason="not-ready", now=T0 + DAY
    )
    # What marketing reads in its queue, and the lead's stage history.
    assert feedback.effect_note.startswith("Disqualified instead of recycled: this is return 3")
    change = LeadStageChange.objects.filter(lead=lead).last()
    assert "recycle cap is 3" in change.reason
    # And the email the promoting marketer gets says it too.
    email = Notification.objects.get(kind="returned", recipient=marketer)
    assert "recycle cap is 3" in email.body


def test_an_accepted_handoff_can_still_be_returned(desk, rep, marketer):
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    handoff = promote(lead, marketer, T0)
    handoff_accept(handoff=handoff, actor=rep, now=T0 + dt.timedelta(minutes=5))
    services.feedback_return_handoff(handoff=handoff, actor=rep, reason="no-budget", now=T0 + DAY)
    lead.refresh_from_db()
    assert (lead.stage, lead.return_count) == (Stage.RECYCLED, 1)


# --- re-promotion ---------------------------------------------------------------------------

REPROMOTION_CASES = [
    # (case, reason, high-intent event at (from the return), promote at, allowed, error code)
    ("during the cooldown", "not-ready", None, DAY, False, "lead_in_cooldown"),
    ("intent from before the return", "not-ready", -dt.timedelta(hours=1), DAY, False,
     "lead_in_cooldown"),
    ("a low-intent event does not lift it", "not-ready", "page_view", DAY, False,
     "lead_in_cooldown"),
    ("a demo request after the return", "not-ready", 2 * DAY, 2 * DAY + dt.timedelta(minutes=1),
     True, None),
    ("the cooldown is over", "not-ready", None, 61 * DAY, True, None),
    ("disqualified, even with new intent", "not-icp", 2 * DAY, 3 * DAY, False,
     "lead_disqualified"),
    ("disqualified, long after", "not-icp", None, 400 * DAY, False, "lead_disqualified"),
]  # fmt: skip


@pytest.mark.parametrize(
    "reason,intent_at,promote_at,allowed,code",
    [case[1:] for case in REPROMOTION_CASES],
    ids=[case[0] for case in REPROMOTION_CASES],
)
def test_re_promotion_after_a_return(
    desk, rep, marketer, reason, intent_at, promote_at, allowed, code
):
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    first = promote(lead, marketer, T0)
    returned_at = T0 + dt.timedelta(hours=1)
    services.feedback_return_handoff(
        handoff=first, actor=rep, reason=reason, note="Only 3 people", now=returned_at
    )
    if intent_at == "page_view":
        event_record(
            lead=lead, kind="page_view", occurred_at=returned_at + DAY, now=returned_at + DAY
        )
    elif intent_at is not None:
        moment = returned_at + intent_at
        event_record(
            lead=lead, kind="demo_request", occurred_at=moment, now=max(moment, returned_at)
        )
    lead.refresh_from_db()
    before = Handoff.objects.filter(lead=lead).count()
    if allowed:
        second = promote(lead, marketer, returned_at + promote_at)
        assert second.attempt == 1 and second.status == Status.PENDING
        lead.refresh_from_db()
        assert lead.stage == Stage.MQL
    else:
        with pytest.raises(DomainError) as exc:
            promote(lead, marketer, returned_at + promote_at)
        assert exc.value.code == code
        assert Handoff.objects.filter(lead=lead).count() == before


def test_the_next_rep_sees_the_previous_return_and_its_reason(desk, rep, marketer):
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    first = promote(lead, marketer, T0)
    services.feedback_return_handoff(
        handoff=first, actor=rep, reason="not-ready", note="Budget cycle starts in Q3", now=T0 + DAY
    )
    event_record(lead=lead, kind="demo_request", occurred_at=T0 + 3 * DAY, now=T0 + 3 * DAY)
    lead.refresh_from_db()
    second = promote(lead, marketer, T0 + 3 * DAY + dt.timedelta(minutes=5))
    # The packet keeps the earlier handoff...
    assert [(h["id"], h["return_reason_code"]) for h in second.history_snapshot] == [
        (first.pk, "not-ready")
    ]
    # ...and the feedback app adds the reason's label, the note and what marketing replied.
    [previous] = previous_returns(handoff=second)
    assert previous["handoff_id"] == first.pk
    assert previous["reason"] == {
        "code": "not-ready",
        "label": "Not ready yet",
        "category": "timing",
    }
    assert previous["note"] == "Budget cycle starts in Q3"
    assert previous["lead_effect"] == "recycle"


def test_a_disqualified_lead_needs_a_manager_to_reopen_it(desk, rep, marketer, manager):
    lead = LeadFactory(stage=Stage.LEAD, return_count=2, score=70)
    services.feedback_return_handoff(
        handoff=promote(lead, marketer, T0), actor=rep, reason="not-ready", now=T0 + DAY
    )
    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED
    with pytest.raises(Forbidden):
        lead_reopen(lead=lead, actor=marketer, reason="please", now=T0 + 2 * DAY)
    with pytest.raises(DomainError) as exc:
        promote(lead, marketer, T0 + 2 * DAY)
    assert exc.value.code == "lead_disqualified"
    lead_reopen(lead=lead, actor=manager, reason="New budget", now=T0 + 3 * DAY)
    lead.refresh_from_db()
    again = promote(lead, marketer, T0 + 3 * DAY + dt.timedelta(minutes=1))
    assert again.status == Status.PENDING
    # The count is kept: the next return after a reopen past the cap disqualifies again.
    services.feedback_return_handoff(handoff=again, actor=rep, reason="not-ready", now=T0 + 4 * DAY)
    lead.refresh_from_db()
    assert (lead.stage, lead.return_count) == (Stage.DISQUALIFIED, 4)


# --- bad input and permissions: nothing written ---------------------------------------------

BAD_INPUT = [
    # (case, reason, note, code, field)
    ("no reason", "", "", "reason_required", "reason"),
    ("blank reason", "   ", "", "reason_required", "reason"),
    ("unknown reason", "vibes", "", "invalid_reason", "reason"),
    ("inactive reason", "spam", "", "invalid_reason", "reason"),
    ("required note missing", "bad-data", "", "note_required", "note"),
    ("required note blank", "bad-data", "  \n ", "note_required", "note"),
]


@pytest.mark.parametrize(
    "reason,note,code,field", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    desk, rep, marketer, reason, note, code, field
):
    RejectionReason.objects.filter(code="spam").update(active=False)
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    handoff = promote(lead, marketer, T0)
    before = counts(lead)
    with pytest.raises(ValidationFailed) as exc:
        services.feedback_return_handoff(
            handoff=handoff, actor=rep, reason=reason, note=note, now=T0 + DAY
        )
    assert (exc.value.code, exc.value.field) == (code, field)
    assert counts(lead) == before
    handoff.refresh_from_db()
    lead.refresh_from_db()
    assert (handoff.status, lead.stage, lead.return_count) == ("pending", "mql", 0)


def test_a_reason_deactivated_after_the_picker_loaded_is_refused(desk, rep, marketer):
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    handoff = promote(lead, marketer, T0)
    reason = RejectionReason.objects.get(code="not-ready")
    RejectionReason.objects.filter(pk=reason.pk).update(active=False)
    with pytest.raises(ValidationFailed) as exc:
        services.feedback_return_handoff(handoff=handoff, actor=rep, reason=reason, now=T0 + DAY)
    assert exc.value.code == "invalid_reason"


@pytest.mark.parametrize("who", ["marketer", "other_rep"])
def test_only_the_assigned_rep_or_a_manager_returns(desk, rep, marketer, who, request):
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    handoff = promote(lead, marketer, T0)
    before = counts(lead)
    with pytest.raises(Forbidden):
        services.feedback_return_handoff(
            handoff=handoff, actor=request.getfixturevalue(who), reason="not-ready", now=T0 + DAY
        )
    assert counts(lead) == before


def test_a_manager_may_return_any_handoff(desk, rep, marketer, manager):
    handoff = promote(LeadFactory(stage=Stage.LEAD, score=70), marketer, T0)
    feedback = services.feedback_return_handoff(
        handoff=handoff, actor=manager, reason="duplicate", note="Same as #12", now=T0 + DAY
    )
    assert feedback.returned_by == manager


def test_a_second_return_of_the_same_handoff_loses_and_writes_nothing(desk, rep, marketer):
    lead = LeadFactory(stage=Stage.LEAD, score=70)
    handoff = promote(lead, marketer, T0)
    stale = Handoff.objects.get(pk=handoff.pk)
    services.feedback_return_handoff(handoff=handoff, actor=rep, reason="not-ready", now=T0 + DAY)
    before = counts(lead)
    with pytest.raises(HandoffConflict):
        services.feedback_return_handoff(handoff=stale, actor=rep, reason="no-budget", now=T0 + DAY)
    assert counts(lead) == before
    assert ReturnFeedback.objects.get(handoff=handoff).reason.code == "not-ready"

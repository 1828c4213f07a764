"""Marketing's side of the loop: the review queue, acknowledging with a reply and a follow-up,
disputes settled by a sales manager, and a manager reopening a lead."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from core.errors import Conflict, Forbidden, ValidationFailed
from feedback import services
from feedback.models import ReturnFeedback
from feedback.selectors import feedback_disputes, feedback_queue
from leads.models import LeadStageChange, Stage
from tests.factories import LeadFactory, ReturnFeedbackFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 10, 15, tzinfo=dt.UTC)


def returned(minutes_ago: int = 60, **kwargs) -> ReturnFeedback:
    return ReturnFeedbackFactory(returned_at=NOW - dt.timedelta(minutes=minutes_ago), **kwargs)


# --- the queue -----------------------------------------------------------------------------


def test_the_queue_lists_unacknowledged_returns_first_newest_first(marketer):
    old_open = returned(300)
    new_done = returned(10, acknowledged_at=NOW, acknowledged_by=marketer)
    new_open = returned(30)
    assert list(feedback_queue()) == [new_open, old_open, new_done]


def test_a_rep_sees_only_the_returns_they_made(rep, other_rep, marketer):
    mine = returned(returned_by=rep)
    returned(returned_by=other_rep)
    assert list(feedback_queue(user=rep)) == [mine]
    assert feedback_queue(user=marketer).count() == 2


# --- acknowledge ---------------------------------------------------------------------------


def test_a_marketer_acknowledges_a_return_with_a_reply_and_a_follow_up(marketer):
    feedback = returned()
    services.feedback_acknowledge(
        feedback=feedback,
        actor=marketer,
        reply="Moved to the Q3 nurture.",
        follow_up="nurture",
        now=NOW,
    )
    feedback.refresh_from_db()
    assert feedback.acknowledged_at == NOW
    assert feedback.acknowledged_by == marketer
    assert (feedback.reply, feedback.follow_up, feedback.dispute_status) == (
        "Moved to the Q3 nurture.",
        "nurture",
        "",
    )


def test_acknowledging_twice_is_a_conflict_and_keeps_the_first_reply(marketer):
    feedback = returned()
    services.feedback_acknowledge(feedback=feedback, actor=marketer, reply="first", now=NOW)
    with pytest.raises(Conflict) as exc:
        services.feedback_acknowledge(feedback=feedback, actor=marketer, reply="second", now=NOW)
    assert exc.value.code == "already_acknowledged"
    feedback.refresh_from_db()
    assert feedback.reply == "first"


def test_a_dispute_needs_a_reply_and_writes_nothing_without_one(marketer):
    feedback = returned()
    with pytest.raises(ValidationFailed) as exc:
        services.feedback_acknowledge(feedback=feedback, actor=marketer, follow_up="dispute")
    assert (exc.value.code, exc.value.field) == ("reply_required", "reply")
    feedback.refresh_from_db()
    assert feedback.acknowledged_at is None and feedback.dispute_status == ""


def test_an_unknown_follow_up_is_refused_naming_the_field(marketer):
    with pytest.raises(ValidationFailed) as exc:
        services.feedback_acknowledge(feedback=returned(), actor=marketer, follow_up="shrug")
    assert exc.value.field == "follow_up"


def test_a_disputed_return_shows_up_for_the_managers(marketer):
    feedback = returned()
    quiet = returned()
    services.feedback_acknowledge(
        feedback=feedback,
        actor=marketer,
        reply="They booked a demo yesterday.",
        follow_up="dispute",
    )
    services.feedback_acknowledge(feedback=quiet, actor=marketer)
    assert list(feedback_disputes()) == [feedback]
    assert ReturnFeedback.objects.get(pk=feedback.pk).dispute_status == "open"


def test_the_sales_managers_are_told_of_a_dispute(marketer, manager):
    from handoff.models import Notification

    feedback = returned()
    services.feedback_acknowledge(
        feedback=feedback, actor=marketer, reply="They asked for pricing.", follow_up="dispute"
    )
    email = Notification.objects.get(kind="disputed")
    assert email.recipient == manager
    assert "They asked for pricing." in email.body


def test_a_plain_acknowledgement_notifies_nobody(marketer, manager):
    from handoff.models import Notification

    services.feedback_acknowledge(feedback=returned(), actor=marketer, follow_up="nurture")
    assert not Notification.objects.exists()


# --- resolve -------------------------------------------------------------------------------


def disputed(marketer, **kwargs) -> ReturnFeedback:
    feedback = returned(**kwargs)
    services.feedback_acknowledge(
        feedback=feedback, actor=marketer, reply="Wrong call.", follow_up="dispute", now=NOW
    )
    return feedback


def test_an_upheld_dispute_leaves_the_lead_where_the_return_put_it(marketer, manager):
    feedback = disputed(marketer)
    services.feedback_resolve_dispute(
        feedback=feedback, actor=manager, upheld=True, resolution="The return stands.", now=NOW
    )
    feedback.refresh_from_db()
    assert feedback.dispute_status == "upheld"
    assert feedback.dispute_resolved_by == manager
    assert feedback.lead.stage == Stage.RECYCLED


def test_an_overturned_return_reopens_the_lead_and_stops_counting_towards_the_cap(
    marketer, manager
):
    feedback = disputed(marketer, handoff__lead__return_count=2)
    lead = feedback.lead
    lead.recycle_until = NOW + dt.timedelta(days=60)
    lead.save()
    services.feedback_resolve_dispute(
        feedback=feedback, actor=manager, upheld=False, resolution="Clearly in ICP.", now=NOW
    )
    lead.refresh_from_db()
    assert (lead.stage, lead.recycle_until, lead.return_count) == (Stage.LEAD, None, 1)
    change = LeadStageChange.objects.get(lead=lead)
    assert (change.from_stage, change.to_stage, change.actor) == ("recycled", "lead", manager)
    assert "Clearly in ICP." in change.reason
    assert ReturnFeedback.objects.get(pk=feedback.pk).dispute_status == "overturned"


def test_overturning_an_older_return_does_not_undo_a_later_one(marketer, manager):
    older = disputed(marketer, handoff__lead__return_count=2)
    returned(5, handoff__lead=older.lead, lead=older.lead)
    services.feedback_resolve_dispute(
        feedback=older, actor=manager, upheld=False, resolution="Fine then.", now=NOW
    )
    older.lead.refresh_from_db()
    assert older.lead.stage == Stage.RECYCLED
    assert older.lead.return_count == 1


def test_the_marketer_and_the_rep_hear_how_a_dispute_ended(marketer, manager, rep):
    from handoff.models import Notification

    feedback = disputed(marketer, returned_by=rep)
    services.feedback_resolve_dispute(
        feedback=feedback, actor=manager, upheld=False, resolution="Good catch.", now=NOW
    )
    emails = Notification.objects.filter(kind="dispute_resolved")
    assert {e.recipient for e in emails} == {marketer, rep}
    assert all("open again" in e.body and "Good catch." in e.body for e in emails)


def test_a_second_resolution_of_the_same_dispute_is_a_conflict(marketer, manager):
    feedback = disputed(marketer)
    services.feedback_resolve_dispute(
        feedback=feedback, actor=manager, upheld=True, resolution="ok"
    )
    with pytest.raises(Conflict) as exc:
        services.feedback_resolve_dispute(
            feedback=feedback, actor=manager, upheld=False, resolution="changed my mind"
        )
    assert exc.value.code == "already_resolved"


def test_resolving_needs_a_resolution_text(marketer, manager):
    feedback = disputed(marketer)
    with pytest.raises(ValidationFailed) as exc:
        services.feedback_resolve_dispute(
            feedback=feedback, actor=manager, upheld=True, resolution=" "
        )
    assert exc.value.field == "resolution"
    assert ReturnFeedback.objects.get(pk=feedback.pk).dispute_status == "open"


# --- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_only_marketing_acknowledges(who, request):
    user = request.getfixturevalue(who)
    with pytest.raises(Forbidden):
        services.feedback_acknowledge(feedback=returned(), actor=user)


@pytest.mark.parametrize("who", ["rep", "marketer"])
def test_only_managers_resolve_disputes(who, request, marketer):
    user = request.getfixturevalue(who)
    feedback = disputed(marketer)
    with pytest.raises(Forbidden):
        services.feedback_resolve_dispute(
            feedback=feedback, actor=user, upheld=False, resolution="x"
        )
    assert ReturnFeedback.objects.get(pk=feedback.pk).dispute_status == "open"


# --- the API -------------------------------------------------------------------------------


def test_the_acknowledge_endpoint_answers_with_the_updated_return(client_for, marketer):
    feedback = returned()
    response = client_for(marketer).post(
        reverse("feedback-api:feedback-acknowledge", args=[feedback.pk]),
        {"reply": "Fixed the phone number.", "follow_up": "fix_data"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["acknowledged"] is True
    assert body["acknowledged_by"]["username"] == marketer.username
    assert body["follow_up"] == "fix_data"


def test_the_acknowledge_endpoint_refuses_a_rep_and_a_second_acknowledgement(
    client_for, rep, marketer
):
    feedback = returned()
    url = reverse("feedback-api:feedback-acknowledge", args=[feedback.pk])
    assert client_for(rep).post(url, {}, format="json").status_code == 403
    assert client_for(marketer).post(url, {}, format="json").status_code == 200
    response = client_for(marketer).post(url, {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "already_acknowledged"


def test_the_dispute_endpoints_are_for_managers(client_for, marketer, manager, rep):
    feedback = disputed(marketer)
    url = reverse("feedback-api:feedback-resolve-dispute", args=[feedback.pk])
    assert client_for(marketer).post(url, {"upheld": False}, format="json").status_code == 403
    assert client_for(rep).get(reverse("feedback-api:dispute-list")).status_code == 403
    listed = client_for(manager).get(reverse("feedback-api:dispute-list")).json()
    assert [row["id"] for row in listed["results"]] == [feedback.pk]
    missing = client_for(manager).post(url, {"upheld": False}, format="json")
    assert (missing.status_code, missing.json()["field"]) == (400, "resolution")
    response = client_for(manager).post(
        url, {"upheld": False, "resolution": "Marketing is right."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["dispute_status"] == "overturned"
    assert response.json()["lead"]["stage"] == "lead"


def test_the_reopen_endpoint_is_for_managers_and_disqualified_leads(client_for, manager, marketer):
    lead = LeadFactory(stage=Stage.DISQUALIFIED, return_count=3)
    url = reverse("feedback-api:lead-reopen", args=[lead.pk])
    assert client_for(marketer).post(url, {"reason": "x"}, format="json").status_code == 403
    ok = client_for(manager).post(url, {"reason": "Budget freed up."}, format="json")
    assert ok.status_code == 200, ok.content
    assert ok.json() == {"id": lead.pk, "stage": "lead", "return_count": 3}
    assert LeadStageChange.objects.filter(lead=lead, to_stage="lead", actor=manager).exists()
    again = client_for(manager).post(url, {"reason": "Budget freed up."}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "lead_not_disqualified")


def test_the_reasons_endpoint_lists_active_reasons_in_display_order(client_for, rep):
    from feedback.models import RejectionReason

    RejectionReason.objects.filter(code="spam").update(active=False)
    body = client_for(rep).get(reverse("feedback-api:reason-list")).json()
    codes = [r["code"] for r in body]
    assert "spam" not in codes
    assert codes[:3] == ["not-icp", "no-budget", "no-authority"]
    bad_data = next(r for r in body if r["code"] == "bad-data")
    assert bad_data["note_required"] is True and bad_data["category"] == "data_quality"


def test_the_feedback_list_filters(client_for, marketer, rep, other_rep):
    a = returned(returned_by=rep, reason__code="not-ready", handoff__lead__source="webinar")
    b = returned(returned_by=other_rep, reason__code="bad-data")
    services.feedback_acknowledge(feedback=b, actor=marketer)
    url = reverse("feedback-api:feedback-list")
    client = client_for(marketer)

    def ids(**params):
        response = client.get(url, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [a.pk, b.pk]
    assert ids(acknowledged="false") == [a.pk]
    assert ids(acknowledged="true") == [b.pk]
    assert ids(reason="bad-data") == [b.pk]
    assert ids(category="timing") == [a.pk]
    assert ids(source="webinar") == [a.pk]
    assert ids(rep=other_rep.pk) == [b.pk]
    assert ids(q=a.lead.email) == [a.pk]
    day = a.returned_at.date()
    assert ids(returned_after=day.isoformat(), returned_before=day.isoformat()) == [a.pk, b.pk]
    assert ids(returned_after=(day + dt.timedelta(days=1)).isoformat()) == []
    bad = client.get(url, {"returned_after": "yesterday-ish"})
    assert bad.status_code == 400


def test_a_user_without_a_role_cannot_list_feedback(client_for):
    from tests.factories import UserFactory

    response = client_for(UserFactory()).get(reverse("feedback-api:feedback-list"))
    assert response.status_code == 403


@pytest.mark.parametrize("page_size", [5, 40])
def test_the_feedback_list_is_a_constant_number_of_queries(
    page_size, client_for, marketer, django_assert_max_num_queries
):
    for _ in range(45):
        returned()
    client = client_for(marketer)
    client.get(reverse("feedback-api:feedback-list"))  # warm the role cache
    with django_assert_max_num_queries(3):
        response = client.get(reverse("feedback-api:feedback-list"), {"page_size": page_size})
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [5, 40])
def test_the_dispute_list_is_a_constant_number_of_queries(
    page_size, client_for, marketer, manager, django_assert_max_num_queries
):
    for _ in range(45):
        disputed(marketer)
    client = client_for(manager)
    client.get(reverse("feedback-api:dispute-list"))
    with django_assert_max_num_queries(3):
        response = client.get(reverse("feedback-api:dispute-list"), {"page_size": page_size})
    assert len(response.json()["results"]) == page_size

"""POST /api/handoffs/{id}/return/ (served by feedback) and the previous returns a rep reads."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse

from feedback.models import ReturnFeedback
from handoff.models import Handoff, HandoffEvent
from handoff.services import handoff_promote
from leads.models import LeadStageChange, Stage
from leads.services import event_record
from tests.factories import (
    LeadFactory,
    SlaPolicyFactory,
    TeamFactory,
    TeamMembershipFactory,
    UserFactory,
)

NOTE = "Asked for a demo after the pricing webinar."


@pytest.fixture
def handoff(db, rep, marketer):
    team = TeamFactory(name="Everyone")
    TeamMembershipFactory(team=team, rep=rep)
    SlaPolicyFactory(name="Default", precedence=1000)
    return handoff_promote(lead=LeadFactory(stage=Stage.LEAD, score=72), actor=marketer, note=NOTE)


def url(handoff):
    return reverse("feedback-api:handoff-return", args=[handoff.pk])


def written(handoff):
    return (
        HandoffEvent.objects.filter(handoff=handoff).count(),
        LeadStageChange.objects.filter(lead_id=handoff.lead_id).count(),
        ReturnFeedback.objects.count(),
    )


@pytest.mark.django_db
def test_the_assigned_rep_returns_a_handoff_and_gets_it_back_updated(client_for, rep, handoff):
    response = client_for(rep).post(
        url(handoff), {"reason": "not-ready", "note": "Call in Q3"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (handoff.pk, "returned")
    assert body["feedback"]["reason"]["code"] == "not-ready"
    assert body["feedback"]["note"] == "Call in Q3"
    assert body["feedback"]["lead_effect"] == "recycle"
    assert body["feedback"]["lead"]["stage"] == "recycled"


BAD = [
    ({}, "reason_required", "reason"),
    ({"reason": "", "note": "x"}, "reason_required", "reason"),
    ({"reason": "because"}, "invalid_reason", "reason"),
    ({"reason": "bad-data"}, "note_required", "note"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,code,field", BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)]
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    client_for, rep, handoff, body, code, field
):
    before = written(handoff)
    response = client_for(rep).post(url(handoff), body, format="json")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert written(handoff) == before


@pytest.mark.django_db
def test_an_inactive_reason_is_a_400(client_for, rep, handoff):
    from feedback.models import RejectionReason

    RejectionReason.objects.filter(code="not-ready").update(active=False)
    response = client_for(rep).post(url(handoff), {"reason": "not-ready"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_reason")


@pytest.mark.django_db
def test_a_marketer_cannot_return_even_a_handoff_they_can_see(client_for, marketer, handoff):
    before = written(handoff)
    response = client_for(marketer).post(url(handoff), {"reason": "not-ready"}, format="json")
    assert response.status_code == 403
    assert written(handoff) == before


@pytest.mark.django_db
def test_another_rep_gets_a_404_for_a_handoff_not_theirs(client_for, other_rep, handoff):
    response = client_for(other_rep).post(url(handoff), {"reason": "not-ready"}, format="json")
    assert response.status_code == 404


@pytest.mark.django_db
def test_anonymous_and_roleless_users_are_refused(client_for, handoff):
    assert client_for(None).post(url(handoff), {"reason": "x"}, format="json").status_code in (
        401,
        403,
    )
    assert client_for(UserFactory()).post(url(handoff), {}, format="json").status_code == 403


@pytest.mark.django_db
def test_a_manager_returns_any_handoff(client_for, manager, handoff):
    response = client_for(manager).post(url(handoff), {"reason": "competitor"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["feedback"]["lead_effect"] == "disqualify"


@pytest.mark.django_db
def test_returning_an_already_returned_handoff_is_refused_and_writes_nothing(
    client_for, rep, handoff
):
    client_for(rep).post(url(handoff), {"reason": "not-ready"}, format="json")
    before = written(handoff)
    response = client_for(rep).post(url(handoff), {"reason": "no-budget"}, format="json")
    assert response.status_code in (400, 409)
    assert written(handoff) == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_return_that_loses_the_race_to_an_accept_is_a_409(client_for, rep, handoff):
    """The other writer holds the row while our request reads it as pending; when it commits
    its accept, our claim (UPDATE ... WHERE status='pending') matches nothing."""
    locked, done = threading.Event(), threading.Event()

    def accept_elsewhere():
        try:
            with transaction.atomic():
                Handoff.objects.filter(pk=handoff.pk).update(status="accepted")
                locked.set()
                done.wait(timeout=0.7)  # our request blocks on the row meanwhile
        finally:
            connection.close()

    other = threading.Thread(target=accept_elsewhere)
    other.start()
    assert locked.wait(timeout=5)
    response = client_for(rep).post(url(handoff), {"reason": "not-ready"}, format="json")
    done.set()
    other.join()
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "conflict"
    assert ReturnFeedback.objects.count() == 0
    assert Handoff.objects.get(pk=handoff.pk).status == "accepted"


@pytest.mark.django_db
def test_the_rep_of_a_re_promoted_lead_reads_the_previous_return(
    client_for, rep, other_rep, marketer, manager, handoff
):
    client_for(rep).post(
        url(handoff), {"reason": "bad-data", "note": "Phone bounces"}, format="json"
    )
    lead = handoff.lead
    moment = handoff.created_at + dt.timedelta(days=1)
    event_record(lead=lead, kind="demo_request", occurred_at=moment, now=moment)
    lead.refresh_from_db()
    second = handoff_promote(
        lead=lead, actor=marketer, note=NOTE, now=moment + dt.timedelta(minutes=1)
    )
    history = reverse("feedback-api:handoff-previous-returns", args=[second.pk])
    response = client_for(rep).get(history)
    assert response.status_code == 200, response.content
    [previous] = response.json()
    assert previous["handoff_id"] == handoff.pk
    assert previous["reason"]["label"] == "Bad contact data"
    assert previous["note"] == "Phone bounces"
    assert client_for(other_rep).get(history).status_code == 404
    assert client_for(marketer).get(history).status_code == 200

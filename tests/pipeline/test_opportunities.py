"""Opening, editing, winning and losing opportunities through the API, and the lead following."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handoff.models import Handoff
from leads.models import Lead, LeadStageChange
from pipeline import services
from pipeline.models import Opportunity, OpportunityEvent

CLOSE = (dt.date.today() + dt.timedelta(days=30)).isoformat()


def _open(client, handoff, **body):
    payload = {"amount": "12000.50", "expected_close_date": CLOSE, **body}
    return client.post(f"/api/handoffs/{handoff.pk}/open-opportunity/", payload, format="json")


def test_a_rep_opens_an_opportunity_from_a_qualified_handoff_and_the_lead_follows(pw, client_for):
    handoff = pw.qualified("rep")
    response = _open(client_for(pw.users["rep"]), handoff)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["amount"] == "12000.50"
    assert body["currency"] == "USD"
    assert body["stage"] == "open"
    assert body["source"] == handoff.lead_source
    assert body["score"] == handoff.score_snapshot
    assert body["events"][0]["kind"] == "opened"
    lead = Lead.objects.get(pk=handoff.lead_id)
    assert lead.stage == "opportunity"
    assert LeadStageChange.objects.filter(lead=lead, to_stage="opportunity").count() == 1


def test_the_attribution_stays_frozen_when_the_lead_changes_later(pw, client_for):
    handoff = pw.qualified("rep")
    _open(client_for(pw.users["rep"]), handoff)
    Lead.objects.filter(pk=handoff.lead_id).update(source="partner", score=5)
    opportunity = Opportunity.objects.get(handoff=handoff)
    assert opportunity.source == handoff.lead_source
    assert opportunity.score == handoff.score_snapshot


def test_an_amount_change_keeps_its_history_and_a_win_makes_a_customer(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["rep"])
    pk = _open(client, handoff).json()["id"]
    response = client.patch(f"/api/opportunities/{pk}/", {"amount": "15000"}, format="json")
    assert response.status_code == 200, response.json()
    response = client.post(f"/api/opportunities/{pk}/win/", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "won"
    assert response.json()["amount"] == "15000.00"
    history = list(
        OpportunityEvent.objects.filter(opportunity_id=pk).values_list(
            "kind", "amount_before", "amount_after"
        )
    )
    assert history[1] == ("updated", Decimal("12000.50"), Decimal("15000.00"))
    assert history[2][0] == "won"
    assert Lead.objects.get(pk=handoff.lead_id).stage == "customer"


@pytest.mark.parametrize(("effect", "stage"), [("recycle", "recycled"), ("disqualify", "disqualified")])  # fmt: skip
def test_a_lost_opportunity_recycles_or_disqualifies_the_lead_as_the_rep_chooses(
    pw, client_for, effect, stage
):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["rep"])
    pk = _open(client, handoff).json()["id"]
    response = client.post(
        f"/api/opportunities/{pk}/lose/",
        {"reason": "competitor", "note": "Went with X", "lead_effect": effect},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["lost_reason"]["code"] == "competitor"
    lead = Lead.objects.get(pk=handoff.lead_id)
    assert lead.stage == stage
    assert (lead.recycle_until is not None) == (effect == "recycle")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": "10.123"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "dollars"}, "currency"),
        ({"expected_close_date": "soon"}, "expected_close_date"),
    ],
)
def test_bad_input_on_open_is_a_400_naming_the_field_and_writes_nothing(
    pw, client_for, body, field
):
    handoff = pw.qualified("rep")
    response = _open(client_for(pw.users["rep"]), handoff, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Opportunity.objects.exists()
    assert Lead.objects.get(pk=handoff.lead_id).stage == "sql"


def test_opening_on_a_handoff_that_is_not_qualified_is_a_409_naming_the_state(pw, client_for):
    handoff = pw.world.accepted("rep")
    response = _open(client_for(pw.users["rep"]), handoff)
    assert response.status_code == 409
    assert response.json()["code"] == "handoff_not_qualified"
    assert "accepted" in response.json()["detail"]
    assert not Opportunity.objects.exists()


def test_a_second_open_opportunity_for_the_lead_is_a_409(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["rep"])
    assert _open(client, handoff).status_code == 201
    response = _open(client, handoff)
    assert response.status_code == 409
    assert response.json()["code"] == "open_opportunity_exists"
    assert Opportunity.objects.count() == 1


def test_the_database_holds_one_open_opportunity_per_lead_even_past_the_python_check(pw):
    handoff = pw.qualified("rep")
    opportunity = services.opportunity_open(
        handoff=handoff, actor=pw.users["rep"], amount="1", expected_close_date=dt.date.today()
    )
    # The loser of a race passed the check before the winner committed: only the constraint
    # stands between it and a second open row.
    Lead.objects.filter(pk=handoff.lead_id).update(stage="sql")
    Opportunity.objects.filter(pk=opportunity.pk).update(stage="open")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Opportunity.objects.create(
            lead_id=handoff.lead_id,
            handoff=handoff,
            currency="USD",
            promoted_at=handoff.created_at,
            opened_at=handoff.created_at,
            updated_at=handoff.created_at,
        )


def test_a_win_without_any_amount_is_a_400_and_writes_nothing(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["rep"])
    pk = _open(client, handoff).json()["id"]
    Opportunity.objects.filter(pk=pk).update(amount=None)
    response = client.post(f"/api/opportunities/{pk}/win/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "amount"
    assert Opportunity.objects.get(pk=pk).stage == "open"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "no-such-reason"}])
def test_a_lose_without_a_known_reason_is_a_400_naming_the_reason(pw, client_for, body):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["rep"])
    pk = _open(client, handoff).json()["id"]
    response = client.post(f"/api/opportunities/{pk}/lose/", body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload.get("field") == "reason" or "reason" in payload.get("errors", {})
    assert Opportunity.objects.get(pk=pk).stage == "open"
    assert Lead.objects.get(pk=handoff.lead_id).stage == "opportunity"


def test_closing_a_closed_opportunity_is_a_409_naming_its_stage(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["rep"])
    pk = _open(client, handoff).json()["id"]
    assert client.post(f"/api/opportunities/{pk}/win/", {}, format="json").status_code == 200
    events = OpportunityEvent.objects.count()
    for path, body in (
        ("win/", {}),
        ("lose/", {"reason": "price", "lead_effect": "recycle"}),
    ):
        response = client.post(f"/api/opportunities/{pk}/{path}", body, format="json")
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_transition"
        assert "won" in response.json()["detail"]
    response = client.patch(f"/api/opportunities/{pk}/", {"amount": "1"}, format="json")
    assert response.status_code == 409
    assert OpportunityEvent.objects.count() == events
    assert Lead.objects.get(pk=handoff.lead_id).stage == "customer"


def test_a_rep_cannot_see_or_act_on_another_reps_opportunity(pw, client_for):
    handoff = pw.qualified("rep_other")
    pk = _open(client_for(pw.users["rep_other"]), handoff).json()["id"]
    rep = client_for(pw.users["rep"])
    assert rep.get(f"/api/opportunities/{pk}/").status_code == 404
    assert rep.post(f"/api/opportunities/{pk}/win/", {}, format="json").status_code == 404
    assert rep.get("/api/opportunities/").json()["count"] == 0
    marketer = client_for(pw.users["marketer"])
    assert marketer.get("/api/opportunities/").json()["count"] == 1
    assert marketer.post(f"/api/opportunities/{pk}/win/", {}, format="json").status_code == 403


def test_the_list_filters_by_stage_source_rep_and_closed_dates(pw, client_for):
    client = client_for(pw.users["manager"])
    won = _open(client, pw.qualified("rep")).json()["id"]
    _open(client, pw.qualified("rep_other"))
    client.post(f"/api/opportunities/{won}/win/", {}, format="json")
    today = dt.date.today().isoformat()

    def ids(query):
        response = client.get(f"/api/opportunities/?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("stage=won") == [won]
    assert ids(f"rep={pw.users['rep'].pk}") == [won]
    assert ids(f"closed_from={today}&closed_to={today}") == [won]
    assert len(ids("stage=open")) == 1
    assert client.get("/api/opportunities/?closed_from=never").status_code == 400


def test_the_list_keeps_a_constant_query_count_at_two_page_sizes(pw, client_for):
    client = client_for(pw.users["manager"])
    for to in ("rep", "rep_mate", "rep_other", "rep", "rep_mate", "rep_other"):
        _open(client, pw.qualified(to))
    counts = []
    for size in (2, 6):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/opportunities/?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        counts.append(len(captured))
    assert counts[0] == counts[1]
    assert counts[1] <= 4


def test_two_opens_of_the_same_lead_leave_one_opportunity_and_a_409(pw, client_for):
    handoff = pw.qualified("rep")
    other = Handoff.objects.get(pk=handoff.pk)
    rep, manager = client_for(pw.users["rep"]), client_for(pw.users["manager"])
    codes = sorted([_open(rep, handoff).status_code, _open(manager, other).status_code])
    assert codes == [201, 409]
    assert Opportunity.objects.filter(lead_id=handoff.lead_id).count() == 1

"""The CRM sync: upserts by external_id or lead email, answered row by row, idempotent."""

from __future__ import annotations

import json

from leads.models import Lead
from pipeline.models import Opportunity, OpportunityEvent


def _sync(client, rows, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/api/opportunities/sync/",
        json.dumps({"opportunities": rows}),
        content_type="application/json",
        **headers,
    )


def test_a_first_sync_by_email_opens_one_and_a_later_sync_by_external_id_updates_it(pw, client_for):
    handoff = pw.qualified("rep")
    email = handoff.lead.email
    client = client_for(pw.users["manager"])
    response = _sync(
        client,
        [{"external_id": "CRM-1", "email": email, "amount": "5000", "currency": "EUR",
          "expected_close_date": "2027-01-15"}],
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    row = response.json()["results"][0]
    assert row["status"] == "created"
    opportunity = Opportunity.objects.get(pk=row["id"])
    assert (opportunity.external_id, opportunity.currency, str(opportunity.amount)) == (
        "CRM-1", "EUR", "5000.00",
    )  # fmt: skip
    assert Lead.objects.get(pk=handoff.lead_id).stage == "opportunity"

    response = _sync(client, [{"external_id": "CRM-1", "amount": "6000", "stage": "won"}])
    assert response.json()["results"][0]["status"] == "updated"
    opportunity.refresh_from_db()
    assert opportunity.stage == "won"
    assert str(opportunity.amount) == "6000.00"
    kinds = list(
        OpportunityEvent.objects.filter(opportunity=opportunity).values_list("kind", flat=True)
    )
    assert kinds == ["opened", "synced", "won"]


def test_a_sync_links_an_open_opportunity_the_rep_opened_by_the_leads_email(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["manager"])
    opened = client.post(
        f"/api/handoffs/{handoff.pk}/open-opportunity/",
        {"amount": "100", "expected_close_date": "2027-01-01"},
        format="json",
    ).json()["id"]
    response = _sync(client, [{"external_id": "CRM-9", "email": handoff.lead.email.upper()}])
    row = response.json()["results"][0]
    assert (row["status"], row["id"]) == ("unchanged", opened)
    assert Opportunity.objects.get(pk=opened).external_id == "CRM-9"


def test_a_closed_opportunity_is_never_rewritten_and_the_row_says_409(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["manager"])
    _sync(client, [{"external_id": "C-1", "email": handoff.lead.email, "amount": "10"}])
    _sync(client, [{"external_id": "C-1", "stage": "lost", "lost_reason": "price"}])
    response = _sync(
        client,
        [
            {"external_id": "C-1", "stage": "won", "amount": "10"},
            {"external_id": "C-2", "email": "nobody@nowhere.example"},
        ],
    )
    body = response.json()
    assert response.status_code == 200
    assert body["errors"] == 2
    first, second = body["results"]
    assert (first["status"], first["code"], first["http_status"]) == (
        "error", "opportunity_closed", 409,
    )  # fmt: skip
    assert "stage" in first["errors"]
    assert second["http_status"] == 400 and "email" in second["errors"]
    assert Opportunity.objects.get(external_id="C-1").stage == "lost"
    # The same closed values again are not a change, and not an error either.
    again = _sync(client, [{"external_id": "C-1", "stage": "lost", "lost_reason": "price"}])
    assert again.json()["results"][0]["status"] == "unchanged"


def test_bad_rows_are_answered_by_field_and_the_good_ones_are_written(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["manager"])
    response = _sync(
        client,
        [
            {"external_id": "B-1", "email": handoff.lead.email, "amount": "-5"},
            {"external_id": "B-2", "email": handoff.lead.email, "amount": "1.999"},
            {"external_id": "B-3", "email": handoff.lead.email, "currency": "ZZZ"},
            {"email": handoff.lead.email},
            {"external_id": "B-4", "email": handoff.lead.email, "amount": "99"},
        ],
    )
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["error"] * 4 + ["created"]
    assert [next(iter(r["errors"])) for r in results[:4]] == [
        "amount", "amount", "currency", "external_id",
    ]  # fmt: skip
    assert list(Opportunity.objects.values_list("external_id", flat=True)) == ["B-4"]


def test_a_repeated_sync_with_the_same_idempotency_key_replays_the_first_answer(pw, client_for):
    handoff = pw.qualified("rep")
    client = client_for(pw.users["manager"])
    rows = [{"external_id": "I-1", "email": handoff.lead.email, "amount": "10"}]
    first = _sync(client, rows, key="k-1")
    second = _sync(client, rows, key="k-1")
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert Opportunity.objects.count() == 1
    assert _sync(client, [{**rows[0], "amount": "11"}], key="k-1").status_code == 422


def test_only_managers_sync_and_more_than_1000_rows_write_nothing(pw, client_for):
    handoff = pw.qualified("rep")
    row = {"external_id": "M-1", "email": handoff.lead.email}
    assert _sync(client_for(pw.users["rep"]), [row]).status_code == 403
    assert _sync(client_for(pw.users["marketer"]), [row]).status_code == 403
    response = _sync(client_for(pw.users["manager"]), [row] * 1001)
    assert response.status_code == 400
    assert response.json()["field"] == "opportunities"
    assert not Opportunity.objects.exists()

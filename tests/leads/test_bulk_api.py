"""POST /api/leads/bulk/: upsert by normalised email, scored on the way in, per-row answers,
whole-request errors that write nothing, and a query count independent of the batch size."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from leads.models import EngagementEvent, Lead
from tests.factories import CampaignFactory, UserFactory
from tests.leads.builders import lead_row

URL = "/api/leads/bulk/"
pytestmark = pytest.mark.usefixtures("default_rules")


def post(client, payload, **headers):
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def counts():
    return Lead.objects.count(), EngagementEvent.objects.count()


@pytest.fixture
def api(client_for, marketer):
    return client_for(marketer)


def test_a_batch_creates_leads_with_normalised_emails_and_derived_domains(api):
    response = post(api, {"leads": [lead_row(1), lead_row(2, domain="Corp-HQ.example")]})

    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["created"], answer["updated"], answer["errors"]) == (2, 0, 0)
    first, second = (Lead.objects.get(pk=r["id"]) for r in answer["results"])
    assert first.email == "buyer1@corp1.example"
    assert first.domain == "corp1.example"
    assert second.domain == "corp-hq.example"
    assert [r["status"] for r in answer["results"]] == ["created", "created"]
    assert first.stage == "lead"


def test_a_second_batch_updates_by_normalised_email_and_keeps_fields_it_did_not_send(api):
    post(api, {"leads": [lead_row(1, phone="+1 555 0100")]})

    response = post(api, {"leads": [{"email": "BUYER1@corp1.example", "title": "CFO"}]})

    result = response.json()["results"][0]
    assert result["status"] == "updated"
    lead = Lead.objects.get()
    assert lead.title == "CFO"
    assert lead.seniority == "c_level"  # read from the title when not sent
    assert lead.phone == "+1 555 0100"
    assert lead.company == "Corp 1"


def test_leads_are_scored_on_the_way_in_and_flagged_ready_for_sales(api):
    now = timezone.now()
    demo = {"kind": "demo_request", "occurred_at": now.isoformat(), "external_id": "d-1"}

    response = post(api, {"leads": [lead_row(1, events=[demo]), lead_row(2)]})

    hot, cold = response.json()["results"]
    assert (hot["score"], hot["ready_for_sales"], hot["events"]) == (95, True, 1)
    assert (cold["score"], cold["ready_for_sales"]) == (50, False)
    lead = Lead.objects.get(pk=hot["id"])
    assert lead.ready_since is not None
    assert lead.last_high_intent_at == dt.datetime.fromisoformat(demo["occurred_at"])
    assert lead.score_breakdown["total"] == 95
    assert {i["rule"] for i in lead.score_breakdown["items"]} >= {
        "Target industry",
        "intent:demo_request",
    }


def test_an_event_sent_again_with_its_external_id_is_not_counted_twice(api):
    event = {"kind": "webinar_attended", "occurred_at": "2026-01-05T10:00:00Z", "external_id": "w1"}
    post(api, {"leads": [lead_row(1, events=[event, event])]})
    response = post(api, {"leads": [lead_row(1, events=[event])]})

    assert response.json()["results"][0]["events"] == 0
    assert EngagementEvent.objects.count() == 1


def test_a_bad_row_is_answered_with_field_messages_and_the_others_are_written(api):
    rows = [lead_row(1), lead_row(2, employee_band="huge", email="not-an-email"), lead_row(3)]

    answer = post(api, {"leads": rows}).json()

    assert (answer["created"], answer["errors"]) == (2, 1)
    bad = answer["results"][1]
    assert bad["status"] == "error"
    assert set(bad["errors"]) == {"employee_band", "email"}
    assert "not a valid email" in bad["errors"]["email"][0]
    assert Lead.objects.count() == 2


def test_duplicate_emails_inside_one_batch_are_an_error_on_each_row_and_write_nothing(api):
    rows = [lead_row(1), lead_row(1, email="BUYER1@corp1.example")]

    answer = post(api, {"leads": rows}).json()

    assert answer["errors"] == 2
    for result in answer["results"]:
        assert "appears more than once in this batch (rows 0, 1)" in result["errors"]["email"][0]
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"email": 42}, "email"),
        ({"email": "a@b.example", "first_name": 7}, "first_name"),
        ({"email": "a@b.example", "employee_band": 500}, "employee_band"),
        ({"email": "a@b.example", "country": "USA"}, "country"),
        ({"email": "a@b.example", "events": {"kind": "page_view"}}, "events"),
        (
            {"email": "a@b.example", "events": [{"kind": "nap", "occurred_at": "x"}]},
            "events[0].kind",
        ),
        ({"email": "a@b.example", "stage": "sql"}, "stage"),
        ({"email": "a@b.example", "score": 100}, "score"),
        ({"email": "a@b.example", "favourite_colour": "red"}, "favourite_colour"),
    ],
)
def test_a_row_with_wrong_types_or_protected_fields_is_refused_naming_the_field(api, row, field):
    answer = post(api, {"leads": [row]}).json()

    assert answer["results"][0]["status"] == "error"
    assert field in answer["results"][0]["errors"]
    assert counts() == (0, 0)


def test_a_row_that_is_not_an_object_is_a_row_error(api):
    answer = post(api, {"leads": ["someone@example.com"]}).json()
    assert answer["results"][0]["errors"] == {
        "non_field_errors": ["Each lead must be a JSON object."]
    }


def test_campaign_and_owner_are_found_by_name_or_id(api, marketer):
    campaign = CampaignFactory(name="Spring webinar")
    rows = [
        lead_row(1, campaign="Spring webinar", owner=marketer.username),
        lead_row(2, campaign=campaign.pk, owner=marketer.pk),
        lead_row(3, campaign="Nope"),
    ]

    results = post(api, {"leads": rows}).json()["results"]

    assert [r["status"] for r in results] == ["created", "created", "error"]
    assert results[2]["errors"] == {"campaign": ['No campaign "Nope" (give an id or a name).']}
    assert set(Lead.objects.values_list("campaign_id", "owner_id")) == {(campaign.pk, marketer.pk)}


def test_a_marketer_cannot_give_leads_to_another_marketer(api):
    other = UserFactory(username="other.marketer", role="Marketing")

    result = post(api, {"leads": [lead_row(1, owner=other.username)]}).json()["results"][0]

    assert result["errors"]["owner"] == [
        "Only a sales manager can give a lead to another marketer."
    ]
    assert Lead.objects.count() == 0


def test_a_manager_gives_leads_to_any_marketer(client_for, manager, marketer):
    response = post(client_for(manager), {"leads": [lead_row(1, owner=marketer.username)]})
    assert response.json()["results"][0]["status"] == "created"
    assert Lead.objects.get().owner == marketer


def test_the_owner_must_be_a_marketer(api, rep):
    result = post(api, {"leads": [lead_row(1, owner=rep.username)]}).json()["results"][0]
    assert result["errors"]["owner"] == [f'No active marketer "{rep.username}".']


# --- whole-request errors: a clear status, nothing written ------------------------------------


def test_malformed_json_is_a_400_and_writes_nothing(api):
    response = post(api, '{"leads": [{"email": "a@b.example",}]}')

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert "not valid JSON" in response.json()["detail"]
    assert counts() == (0, 0)


def test_more_than_1000_rows_is_a_400_and_writes_nothing(api):
    response = post(api, {"leads": [lead_row(n) for n in range(1001)]})

    assert response.status_code == 400
    assert response.json() == {
        "code": "too_many_rows",
        "detail": "At most 1,000 rows per request (got 1,001); split the batch.",
        "field": "leads",
    }
    assert counts() == (0, 0)


def test_exactly_1000_rows_are_taken(api):
    response = post(api, {"leads": [lead_row(n) for n in range(1000)]})
    assert response.json()["created"] == 1000


@override_settings(LEAD_BULK_MAX_BYTES=2000)
def test_a_body_over_the_size_limit_is_a_413_and_writes_nothing(api):
    response = post(api, {"leads": [lead_row(n) for n in range(20)]})

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert counts() == (0, 0)


@pytest.mark.parametrize(
    "payload", [[lead_row(1)], {"leads": {"email": "a@b.example"}}, {"leads": []}, {"rows": []}]
)
def test_a_body_of_the_wrong_shape_is_a_400_naming_the_field(api, payload):
    response = post(api, payload)
    assert response.status_code == 400
    assert response.json()["field"] in ("leads", "rows")
    assert counts() == (0, 0)


def test_a_body_that_is_not_json_is_a_415(api):
    response = api.post(URL, data="email=a@b.example", content_type="text/plain")
    assert response.status_code == 415


# --- permissions ------------------------------------------------------------------------------


def test_an_anonymous_client_is_refused(client_for):
    assert post(client_for(None), {"leads": [lead_row(1)]}).status_code in (401, 403)
    assert Lead.objects.count() == 0


def test_a_sales_rep_cannot_write_leads(client_for, rep):
    response = post(client_for(rep), {"leads": [lead_row(1)]})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Lead.objects.count() == 0


# --- query counts -----------------------------------------------------------------------------


def batch(n: int, now: dt.datetime, start: int = 0):
    return {
        "leads": [
            lead_row(
                start + i,
                events=[
                    {"kind": "page_view", "occurred_at": now.isoformat()},
                    {"kind": "email_click", "occurred_at": now.isoformat(), "external_id": f"c{i}"},
                ],
                campaign="Launch",
            )
            for i in range(n)
        ]
    }


def test_the_bulk_query_count_does_not_grow_with_the_batch(api, django_assert_max_num_queries):
    CampaignFactory(name="Launch")
    now = timezone.now()
    measured = []
    for size in (10, 500):
        # Half of each batch is new, half updates leads from an earlier batch.
        post(api, batch(size // 2, now, start=size * 10))
        # 17: the audit rows of the created and changed leads are one INSERT more.
        with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(17):
            response = post(api, batch(size, now, start=size * 10))
        answer = response.json()
        assert (answer["created"], answer["updated"]) == (size - size // 2, size // 2)
        measured.append(len(ctx.captured_queries))
    assert measured[0] == measured[1], measured

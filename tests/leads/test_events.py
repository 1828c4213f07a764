"""Engagement events: recorded one by one or in bulk, each arrival rescoring its lead."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.api import token_auth
from core.errors import ValidationFailed
from leads import services
from leads.models import EngagementEvent, Lead, ScoringConfig
from tests.factories import LeadFactory

pytestmark = pytest.mark.usefixtures("default_rules")
NOW = dt.datetime(2026, 4, 1, 15, 0, tzinfo=dt.UTC)


def fit_lead(**fields):
    """50 fit points under the default rules: a demo request takes it over 60."""
    defaults = dict(industry="software", employee_band="201-500", seniority="vp", country="US")
    lead = LeadFactory(**{**defaults, **fields})
    services.lead_rescore(lead=lead, now=NOW - dt.timedelta(days=1))
    return lead


# --- the service --------------------------------------------------------------------------------


def test_an_event_rescores_its_lead_and_flags_it_ready_when_it_crosses_the_threshold():
    lead = fit_lead()
    assert (lead.score, lead.ready_for_sales) == (50, False)

    services.event_record(lead=lead, kind="demo_request", occurred_at=NOW, now=NOW)

    lead.refresh_from_db()
    assert lead.score == 95
    assert lead.ready_for_sales is True
    assert lead.ready_since == NOW
    assert lead.last_engaged_at == lead.last_high_intent_at == NOW
    assert lead.score_breakdown["over_threshold"] is True


def test_ready_since_stays_at_the_crossing_while_the_lead_stays_over_the_threshold():
    lead = fit_lead()
    services.event_record(lead=lead, kind="demo_request", occurred_at=NOW, now=NOW)
    later = NOW + dt.timedelta(hours=3)

    services.event_record(lead=lead, kind="page_view", occurred_at=later, now=later)

    lead.refresh_from_db()
    assert lead.ready_since == NOW
    assert lead.last_high_intent_at == NOW
    assert lead.last_engaged_at == later


def test_an_unsubscribe_costs_points_that_do_not_fade():
    lead = fit_lead()
    services.event_record(lead=lead, kind="unsubscribe", occurred_at=NOW, now=NOW)
    lead.refresh_from_db()
    assert lead.score == 20
    year_later = NOW + dt.timedelta(days=365)
    services.lead_rescore(lead=lead, now=year_later)
    assert lead.score == 20


def test_a_lead_that_falls_below_the_threshold_is_no_longer_ready():
    lead = fit_lead()
    services.event_record(lead=lead, kind="demo_request", occurred_at=NOW, now=NOW)
    ScoringConfig.objects.update(mql_threshold=100)

    services.leads_rescore_all(now=NOW)

    lead.refresh_from_db()
    assert (lead.ready_for_sales, lead.ready_since) == (False, None)
    assert lead.score_breakdown["threshold"] == 100


def test_a_promoted_lead_is_not_ready_for_sales_any_more():
    lead = fit_lead()
    services.event_record(lead=lead, kind="demo_request", occurred_at=NOW, now=NOW)

    services.lead_change_stage(lead=lead, to_stage="mql", now=NOW)

    lead.refresh_from_db()
    assert (lead.stage, lead.ready_for_sales, lead.mql_at) == ("mql", False, NOW)
    assert lead.stage_changes.get().to_stage == "mql"


def test_a_lead_in_its_recycle_cooldown_is_not_ready():
    lead = fit_lead(stage="recycled", recycle_until=NOW + dt.timedelta(days=30))
    services.event_record(lead=lead, kind="demo_request", occurred_at=NOW, now=NOW)
    lead.refresh_from_db()
    assert lead.score == 95
    assert lead.ready_for_sales is False


def test_an_event_replayed_with_its_external_id_changes_nothing():
    lead = fit_lead()
    first = services.event_record(
        lead=lead, kind="page_view", occurred_at=NOW, external_id="pv-1", now=NOW
    )
    again = services.event_record(
        lead=lead, kind="page_view", occurred_at=NOW, external_id="pv-1", now=NOW
    )
    assert again.pk == first.pk
    assert EngagementEvent.objects.count() == 1


def test_an_event_too_far_in_the_future_is_refused():
    lead = fit_lead()
    with pytest.raises(ValidationFailed) as caught:
        services.event_record(
            lead=lead, kind="page_view", occurred_at=NOW + dt.timedelta(days=1), now=NOW
        )
    assert caught.value.field == "occurred_at"
    assert EngagementEvent.objects.count() == 0


# --- POST /api/leads/{id}/events/ ------------------------------------------------------------


def test_posting_an_event_answers_with_the_rescored_lead(client_for, marketer):
    lead = fit_lead()
    url = f"/api/leads/{lead.pk}/events/"
    payload = {
        "kind": "trial_signup",
        "occurred_at": timezone.now().isoformat(),
        "payload": {"plan": "team"},
        "external_id": "t-1",
    }

    created = client_for(marketer).post(url, payload, format="json")
    replayed = client_for(marketer).post(url, payload, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["event"]["is_high_intent"] is True
    assert created.json()["lead"]["score"] == 50 + 15 + 25
    assert replayed.status_code == 200
    assert replayed.json()["event"]["id"] == created.json()["event"]["id"]
    listed = client_for(marketer).get(url).json()
    assert [e["kind"] for e in listed["results"]] == ["trial_signup"]


def test_posting_an_unknown_event_kind_is_a_400_naming_the_field(client_for, marketer):
    lead = fit_lead()
    response = client_for(marketer).post(
        f"/api/leads/{lead.pk}/events/",
        {"kind": "nap", "occurred_at": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]
    assert EngagementEvent.objects.count() == 0


def test_a_rep_cannot_post_events(client_for, rep):
    lead = fit_lead()
    response = client_for(rep).post(
        f"/api/leads/{lead.pk}/events/",
        {"kind": "page_view", "occurred_at": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 403


# --- POST /api/events/bulk/ ------------------------------------------------------------------


def post_bulk(client, rows):
    return client.post(
        "/api/events/bulk/", data=json.dumps({"events": rows}), content_type="application/json"
    )


def test_bulk_events_find_leads_by_id_or_email_and_rescore_them(client_for, marketer):
    a = fit_lead(email="a@corp.example")
    b = fit_lead(email="b@corp.example")
    at = timezone.now().isoformat()

    answer = post_bulk(
        client_for(marketer),
        [
            {"lead_id": a.pk, "kind": "demo_request", "occurred_at": at, "external_id": "x"},
            {"email": " B@Corp.example", "kind": "page_view", "occurred_at": at},
            {"lead_id": a.pk, "kind": "demo_request", "occurred_at": at, "external_id": "x"},
            {"email": "nobody@corp.example", "kind": "page_view", "occurred_at": at},
            {"kind": "page_view", "occurred_at": at},
        ],
    ).json()

    assert [r["status"] for r in answer["results"]] == [
        "recorded",
        "recorded",
        "duplicate",
        "error",
        "error",
    ]
    assert answer["results"][3]["errors"] == {"email": ["No lead nobody@corp.example."]}
    assert "lead_id" in answer["results"][4]["errors"]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.score, a.ready_for_sales) == (95, True)
    assert b.score == 51
    assert EngagementEvent.objects.count() == 2


def test_bulk_events_cost_the_same_queries_for_10_and_500_events(
    client_for, marketer, django_assert_max_num_queries
):
    leads = [fit_lead(email=f"l{i}@corp.example") for i in range(50)]
    at = timezone.now().isoformat()
    measured = []
    for size in (10, 500):
        rows = [
            {"lead_id": leads[i % 50].pk, "kind": "email_click", "occurred_at": at}
            for i in range(size)
        ]
        # A fresh user, as a real request loads one: its roles are not cached,
        # nor in this process's memory: each size is measured as a worker's first request.
        token_auth.forget_all()
        api = client_for(User.objects.get(pk=marketer.pk))
        with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(12):
            answer = post_bulk(api, rows).json()
        assert answer["events"] == size
        measured.append(len(ctx.captured_queries))
    assert measured[0] == measured[1]
    assert Lead.objects.filter(last_engaged_at__isnull=False).count() == 50


def test_upsert_creates_then_updates_the_lead_with_the_same_normalised_email():
    lead, created = services.lead_upsert(data={"email": " New@Corp.example ", "company": "Corp"})
    again, created_again = services.lead_upsert(
        data={"email": "NEW@corp.example", "industry": "software"}
    )
    assert (created, created_again) == (True, False)
    assert again.pk == lead.pk
    assert (again.company, again.industry, again.domain) == ("Corp", "software", "corp.example")
    assert again.score == 15

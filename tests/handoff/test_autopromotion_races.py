"""Auto-promotion under concurrency, on PostgreSQL with real threads and connections: twenty
qualifying events for one lead arriving at the same instant promote it exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from handoff.models import AutoPromotion, AutoPromotionRule, Handoff, Notification
from leads import services as lead_services
from leads.models import Lead
from tests.handoff.test_concurrency import race
from tests.handoff.world import World, make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONTENDERS = 20


@pytest.fixture
def world(transactional_db, marketer, rep, other_rep, manager) -> World:
    world = make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)
    # Round the clock, so the test does not depend on the hour it runs at.
    world.calendar.windows.all().delete()
    for day in range(7):
        world.calendar.windows.create(weekday=day, start=dt.time(0), end=dt.time(0))
    AutoPromotionRule.objects.create(name="Demo request", event_kinds=["demo_request"])
    return world


def lock_lead(pk: int):
    return lambda: Lead.objects.select_for_update().get(pk=pk)


def test_twenty_concurrent_demo_requests_for_one_lead_make_one_handoff(world):
    lead = world.lead()
    now = timezone.now()

    def one(i: int):
        def record():
            return lead_services.event_record(
                lead=lead,
                kind="demo_request",
                occurred_at=now - dt.timedelta(seconds=i),
                external_id=f"form-{i}",
            )

        return record

    results = race(lock_lead(lead.pk), [one(i) for i in range(CONTENDERS)])
    assert all(outcome == "won" for outcome, _ in results)
    assert lead.events.count() == CONTENDERS
    assert Handoff.objects.filter(lead=lead).count() == 1
    outcomes = sorted(AutoPromotion.objects.filter(lead=lead).values_list("outcome", flat=True))
    assert outcomes.count("promoted") == 1
    assert outcomes.count("already_promoted") == CONTENDERS - 1
    assert Notification.objects.filter(handoff__lead=lead).count() == 1


def test_twenty_concurrent_api_posts_for_one_lead_through_both_endpoints_make_one_handoff(
    world,
):
    lead = world.lead()
    now = timezone.now()

    def post(i: int):
        def send():
            client = APIClient()
            client.force_authenticate(world.marketer)
            at = (now - dt.timedelta(seconds=i)).isoformat()
            if i % 2:
                answer = client.post(
                    f"/api/leads/{lead.pk}/events/",
                    {"kind": "demo_request", "occurred_at": at},
                    format="json",
                )
            else:
                answer = client.post(
                    "/api/events/bulk/",
                    {"events": [{"lead_id": lead.pk, "kind": "demo_request", "occurred_at": at}]},
                    format="json",
                )
            assert answer.status_code in (200, 201), answer.content
            return answer.status_code

        return send

    results = race(lock_lead(lead.pk), [post(i) for i in range(CONTENDERS)])
    assert all(outcome == "won" for outcome, _ in results), results
    assert Handoff.objects.filter(lead=lead).count() == 1
    outcomes = list(AutoPromotion.objects.filter(lead=lead).values_list("outcome", flat=True))
    assert outcomes.count("promoted") == 1 and len(outcomes) == CONTENDERS


def test_the_hourly_ceiling_holds_when_many_leads_fire_at_once(world):
    AutoPromotionRule.objects.update(max_per_hour=5)
    leads = [world.lead() for _ in range(12)]
    for index in range(12):
        world.rep_user(f"extra.rep{index}")
    now = timezone.now()

    def one(lead: Lead):
        return lambda: lead_services.event_record(
            lead=lead, kind="demo_request", occurred_at=now - dt.timedelta(seconds=5)
        )

    rule = AutoPromotionRule.objects.get()
    results = race(
        lambda: AutoPromotionRule.objects.select_for_update().get(pk=rule.pk),
        [one(lead) for lead in leads],
    )
    assert all(outcome == "won" for outcome, _ in results), results
    assert Handoff.objects.count() == 5
    assert AutoPromotion.objects.filter(outcome="over_ceiling").count() == 7
    assert connection.vendor == "postgresql"

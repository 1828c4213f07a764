"""Speed to lead: signal -> rep notified and signal -> accepted, per handoff, in wall and
business minutes, auto and manual side by side, on the dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from core.timefmt import duration_label
from handoff import services
from handoff.metrics import SlaFilters
from handoff.models import AutoPromotionRule, Handoff, Notification
from handoff.notifications import notifications_send
from handoff.speed import speed_to_lead
from leads import services as lead_services
from tests.handoff.world import NY, TUESDAY_10, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager):
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def filters(world) -> SlaFilters:
    return SlaFilters(start=dt.date(2025, 3, 3), end=dt.date(2025, 3, 9))


def test_each_handoff_is_timed_from_the_signal_to_the_email_and_to_the_accept(world, rep):
    AutoPromotionRule.objects.create(name="Demo", event_kinds=["demo_request"])
    auto_lead = world.lead(source="paid_search")
    lead_services.event_record(
        lead=auto_lead,
        kind="demo_request",
        occurred_at=TUESDAY_10 - dt.timedelta(seconds=30),
        now=TUESDAY_10,
    )
    notifications_send(now=TUESDAY_10 + dt.timedelta(seconds=30))
    auto = Handoff.objects.get(lead=auto_lead)
    services.handoff_accept(handoff=auto, actor=rep, now=TUESDAY_10 + dt.timedelta(minutes=9))

    # A pricing view on Monday evening, promoted by a marketer on Tuesday at 10:00 (New York):
    # 15 wall hours, but only the hour from 09:00 is business time.
    manual_lead = world.lead(source="email")
    lead_services.event_record(
        lead=manual_lead,
        kind="pricing_page_view",
        occurred_at=dt.datetime(2025, 3, 3, 19, 0, tzinfo=NY),
        now=TUESDAY_10,
    )
    manual = world.promote(manual_lead, now=TUESDAY_10)
    notifications_send(now=TUESDAY_10 + dt.timedelta(minutes=1))

    data = speed_to_lead(filters(world))
    figures = data["all"]
    assert figures["auto"]["count"] == 1 and figures["manual"]["count"] == 1
    assert figures["auto"]["notified"]["wall"]["median"] == 1.0  # 30 s + 30 s
    assert figures["auto"]["accepted"]["wall"]["median"] == 9.5
    assert figures["auto"]["accepted"]["business"]["median"] == 9.5
    assert figures["manual"]["notified"]["wall"]["median"] == 15 * 60 + 1
    assert figures["manual"]["notified"]["business"]["median"] == 61.0
    assert figures["manual"]["accepted"]["count"] == 0
    by_source = {row["key"]: row for row in data["by_source"]}
    assert by_source["paid_search"]["auto"]["count"] == 1
    assert by_source["email"]["manual"]["count"] == 1
    assert [row["label"] for row in data["by_team"]] == ["AMER"]
    assert manual.signal_at is not None
    assert Notification.objects.filter(sent_at__isnull=False).count() == 2


def test_a_handoff_without_a_signal_is_left_out(world):
    world.promote(world.lead(), now=TUESDAY_10)
    assert speed_to_lead(filters(world))["all"]["manual"]["count"] == 0


def test_durations_read_in_seconds_under_a_minute():
    assert duration_label(0.5) == "30 s"
    assert duration_label(12) == "12m"
    assert duration_label(None) == "-"


def test_the_dashboard_shows_speed_to_lead_for_auto_and_manual(world, manager):
    AutoPromotionRule.objects.create(name="Demo", event_kinds=["demo_request"])
    lead = world.lead()
    lead_services.event_record(
        lead=lead,
        kind="demo_request",
        occurred_at=TUESDAY_10 - dt.timedelta(seconds=20),
        now=TUESDAY_10,
    )
    notifications_send(now=TUESDAY_10 + dt.timedelta(seconds=10))
    client = Client()
    client.force_login(manager)
    page = client.get("/dashboard/", {"start": "2025-03-03", "end": "2025-03-09"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Speed to lead" in html and "Automatically" in html and "By a marketer" in html
    assert "30 s" in html

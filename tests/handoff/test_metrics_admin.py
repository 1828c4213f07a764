"""The admin handoff changelist's SLA summary: the figures of the filtered set, at a constant
number of queries whatever the page size."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client

from handoff.admin import HandoffAdmin
from handoff.selectors import calendar_for
from tests.factories import HandoffFactory
from tests.handoff.metrics_fixture import NOW, MetricsWorld, build

URL = "/admin/handoff/handoff/"


@pytest.fixture
def world(db, manager, marketer) -> MetricsWorld:
    return build(manager=manager, marketer=marketer)


@pytest.fixture
def manager_client(world) -> Client:
    client = Client()
    client.force_login(world.manager)
    return client


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def summary_text(response) -> str:
    html = response.content.decode()
    section = re.search(r'<section class="sla-summary".*?</section>', html, flags=re.S)
    assert section, "no SLA summary on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section.group(0))).strip()


def test_the_summary_covers_every_handoff_of_the_unfiltered_list(world, manager_client, at_now):
    response = manager_client.get(URL)
    assert response.status_code == 200
    text = summary_text(response)
    assert "SLA summary of the 11 handoffs matching these filters" in text
    assert "75% compliance (6 in time, 2 missed)" in text
    assert "1 open breach" in text and "1 at risk now" in text
    assert "1h 15m median time to accept (business time; wall time 1h 15m; 6 accepted)" in text


def test_the_summary_follows_the_list_filters(world, manager_client, at_now):
    text = summary_text(manager_client.get(URL, {"team__id__exact": world.amer.pk}))
    assert "of the 10 handoffs" in text and "71% compliance (5 in time, 2 missed)" in text
    assert "1h 30m median time to accept" in text

    text = summary_text(manager_client.get(URL, {"breached": "yes"}))
    assert "of the 1 handoff matching" in text and "0% compliance (0 in time, 1 missed)" in text

    text = summary_text(manager_client.get(URL, {"at_risk": "yes"}))
    assert "of the 1 handoff matching" in text and "- compliance" in text

    text = summary_text(manager_client.get(URL, {"q": world.h["h10"].lead.email}))
    assert "100% compliance (1 in time, 0 missed)" in text and "20m median" in text


def test_the_summary_links_keep_the_current_filters(world, manager_client, at_now):
    html = manager_client.get(URL, {"team__id__exact": world.amer.pk}).content.decode()
    assert f"?breached=yes&amp;team__id__exact={world.amer.pk}" in html
    assert f"?at_risk=yes&amp;team__id__exact={world.amer.pk}" in html


def test_the_list_filters_include_breached_at_risk_team_rep_and_policy(world, manager_client):
    filters = manager_client.get(URL).context["cl"].filter_specs
    titles = {str(spec.title) for spec in filters}
    assert {"breached", "at risk", "team", "assigned to", "policy", "created at"} <= titles
    [reps] = [spec for spec in filters if str(spec.title) == "assigned to"]
    assert [label for _, label in reps.lookup_choices] == ["Olga Ortiz", "Rob Reyes"]


def test_the_rep_filter_narrows_the_list_and_its_summary(world, manager_client, at_now):
    response = manager_client.get(URL, {"assigned_to__id__exact": world.olga.pk})
    assert {h.assigned_to_id for h in response.context["cl"].result_list} == {world.olga.pk}
    assert "of the 2 handoffs" in summary_text(response)


@pytest.mark.parametrize("per_page", [10, 100])
def test_the_changelist_with_its_summary_costs_the_same_queries_at_any_page_size(
    world, manager_client, monkeypatch, at_now, per_page, django_assert_max_num_queries
):
    for n in range(120):
        HandoffFactory(
            team=world.amer,
            calendar=world.amer.calendar,
            assigned_to=world.rob,
            created_at=NOW - dt.timedelta(minutes=n),
            due_at=NOW + dt.timedelta(minutes=60 - n),
        )
    monkeypatch.setattr(HandoffAdmin, "list_per_page", per_page)
    calendar_for(world.amer.calendar)  # the clocks' calendar, cached as in a running server
    manager_client.get(URL)
    # the summary is one query on PostgreSQL, two on SQLite (durations read for the median);
    # the auto-promotion rule filter reads its choices
    limit = 13 if connection.vendor == "postgresql" else 14
    with django_assert_max_num_queries(limit):
        response = manager_client.get(URL, {"status__exact": "pending"})
    assert response.content.count(b'class="action-checkbox"') == per_page
    # the 120 new ones and h5, h6, h8b
    assert "of the 123 handoffs" in summary_text(response)
    assert "61 open breaches" in summary_text(response)  # 60 due by now, and h5


def test_a_rep_has_no_admin(world):
    client = Client()
    client.force_login(world.rob)
    assert client.get(URL).status_code == 302  # to the admin login: not staff

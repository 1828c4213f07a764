"""The managers' dashboard page: the figures a manager reads, who may see it, what it costs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client

from handoff.selectors import calendar_for
from tests.factories import HandoffFactory
from tests.handoff.metrics_fixture import NOW, MetricsWorld, build

URL = "/dashboard/"
RANGE = {"start": "2025-02-03", "end": "2025-02-10"}


@pytest.fixture
def world(db, manager, marketer) -> MetricsWorld:
    return build(manager=manager, marketer=marketer)


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    """The page's visible text, tags stripped and whitespace folded."""
    html = response.content.decode()
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_manager_sees_compliance_time_to_accept_and_what_needs_action(world, at_now):
    response = logged_in(world.manager).get(URL, RANGE)
    assert response.status_code == 200
    page = text(response)
    assert "Compliance this week 100% 2 of 2 answered in time (2025-W07)" in page
    assert "Compliance in the range 75% 6 in time, 2 missed" in page
    # business minutes 20, 30, 60, 90, 210, 300; wall minutes 20, 30, 60, 90, 210, 1260
    assert "Time to accept 1h 15m median p90 4h 15m in business time" in page
    assert "wall time median 1h 15m, p90 12h 15m; 6 accepted" in page
    assert "Open breaches now 1" in page and "At risk now 1" in page


def test_breaches_and_at_risk_handoffs_link_to_their_handoff_pages(world, at_now):
    response = logged_in(world.manager).get(URL, RANGE)
    html = response.content.decode()
    for name in ("h5", "h6"):
        handoff = world.h[name]
        assert re.search(rf'href="[^"]*/{handoff.pk}/[^"]*"><strong>{handoff.lead}', html), name
    assert "late by" in html and "30m left" in html


def test_the_tables_beside_the_charts_carry_the_figures(world, at_now):
    page = text(logged_in(world.manager).get(URL, RANGE))
    assert "MQL (handed to sales) 10" in page and "SAL (accepted) 6 60%" in page
    assert "W06 67% 4 of 6 met" in page and "W07 100% 2 of 2 met" in page
    assert "AMER 10 5 1 5 2 71% 1h 30m 1" in page  # the team table
    assert "Rob Reyes 9 5 1 5 2 71% 1h 30m 1" in page  # the rep table
    assert "Olga Ortiz 2 1 0 1 0 100% 20m 0" in page
    assert "No budget 1 (100%)" in page  # the return reasons


def test_every_chart_is_an_accessible_svg_with_a_table(world, at_now):
    html = logged_in(world.manager).get(URL, RANGE).content.decode()
    svgs = re.findall(r"<svg\b[^>]*>", html)
    assert len(svgs) == 6  # five SLA charts and the revenue one
    for svg in svgs:
        assert 'role="img"' in svg and "aria-labelledby=" in svg
    assert html.count("<title id=") == 6 and html.count("<desc id=") == 6
    assert html.count('class="dash-chart-table"') == 6


def test_the_team_filter_narrows_every_figure(world, at_now):
    page = text(logged_in(world.manager).get(URL, {**RANGE, "team": world.emea.pk}))
    assert "EMEA." in page
    assert "Compliance in the range 100% 1 in time, 0 missed" in page
    assert "Open breaches now 0" in page
    assert "AMER" not in page.split("By team")[1].split("By rep")[0]


def test_a_bad_date_is_shown_on_its_field_and_the_default_range_is_used(world, at_now):
    response = logged_in(world.manager).get(URL, {"start": "2025-02-10", "end": "2025-02-01"})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["start"] == ["start is after end."]
    assert response.context["filters"].start == dt.date(2024, 12, 23)


def test_without_filters_the_last_eight_weeks_are_shown(world, at_now):
    response = logged_in(world.manager).get(URL)
    assert response.context["data"]["weekly"][0]["week"] == "2024-W52"
    assert "23 Dec 2024 to 10 Feb 2025" in text(response)


def test_an_empty_range_says_so(world, at_now):
    page = text(logged_in(world.manager).get(URL, {"start": "2024-01-01", "end": "2024-01-31"}))
    assert "No handoff was promoted in this range." in page
    assert "No handoff of this range was returned." in page


@pytest.mark.parametrize("who", ["rob", "marketer"])
def test_reps_and_marketers_cannot_see_the_dashboard(world, who):
    user = world.rob if who == "rob" else world.marketer
    assert logged_in(user).get(URL).status_code == 403


def test_an_anonymous_visitor_is_sent_to_log_in(db):
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("size", [5, 50])
def test_the_dashboard_costs_the_same_queries_with_5_or_50_more_handoffs(
    world, at_now, size, django_assert_max_num_queries
):
    for n in range(size):
        HandoffFactory(
            team=world.amer if n % 2 else world.emea,
            assigned_to=world.rob if n % 2 else world.olga,
            calendar=world.amer.calendar,
            created_at=NOW - dt.timedelta(hours=n),
            due_at=NOW + dt.timedelta(hours=3) - dt.timedelta(hours=n),
            at_risk_at=NOW - dt.timedelta(hours=n),
            accepted_at=NOW - dt.timedelta(hours=n) + dt.timedelta(minutes=30)
            if n % 3 == 0
            else None,
            status="accepted" if n % 3 == 0 else "pending",
            return_reason_code="",
            signal_at=NOW - dt.timedelta(hours=n, minutes=2),
            auto_promotion={"id": 1, "name": "Demo"} if n % 2 else None,
        )
    client = logged_in(world.manager)
    calendar_for(world.amer.calendar)  # the clocks' calendar, cached as in a running server
    client.get(URL, RANGE)
    # session, user, groups; the navigation's counts (feedback.nav); the metrics queries, MQLs
    # and PQLs included (see test_metrics: the rollup's refresh after these writes, time to
    # accept's weeks with it on PostgreSQL); reason lookup and mix (the feedback rollup's
    # pending corrections, then its months and edge days);
    # the form's team options; speed to lead (the handoffs, their calendars); the revenue
    # section: its by-source cohort (2), the open pipeline, won this quarter.
    with django_assert_max_num_queries(33):
        response = client.get(URL, RANGE)
    assert response.status_code == 200
    breached = response.context["data"]["open_now"]["breached"]
    # h5, and every extra row still pending (n not a multiple of 3) and due by now (n >= 3)
    assert breached == 1 + sum(1 for n in range(3, size) if n % 3)
    assert len(response.context["breached_list"]) == min(breached, 10)

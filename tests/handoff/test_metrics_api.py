"""GET /api/metrics/sla/: managers only, filters named in errors, the figures of handoff.metrics."""

from __future__ import annotations

import pytest
import time_machine

from tests.handoff.metrics_fixture import NOW, MetricsWorld, build

URL = "/api/metrics/sla/"


@pytest.fixture
def world(db, manager, marketer) -> MetricsWorld:
    return build(manager=manager, marketer=marketer)


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_manager_gets_the_figures_of_the_range_and_team(world, client_for, at_now):
    response = client_for(world.manager).get(
        URL, {"date_from": "2025-02-03", "date_to": "2025-02-10", "team": world.amer.pk}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["filters"] == {"start": "2025-02-03", "end": "2025-02-10", "team": world.amer.pk}
    assert body["compliance"]["compliance"] == 0.7143
    assert body["compliance"]["this_week"]["week"] == "2025-W07"
    assert [w["week"] for w in body["weekly"]] == ["2025-W06", "2025-W07"]
    assert (body["funnel"]["mql"], body["funnel"]["sal"], body["funnel"]["sql"]) == (9, 5, 1)
    assert body["time_to_accept"]["wall_minutes"]["median"] == 90.0
    assert body["time_to_accept"]["business_minutes"]["p90"] == 264.0
    assert body["open_now"]["breached_list"][0]["id"] == world.h["h5"].pk
    assert [r["label"] for r in body["by_team"]] == ["AMER"]
    assert {r["source"] for r in body["by_source"]} == {"paid_search", "webinar"}


def test_the_older_start_and_end_still_name_the_range(world, client_for, at_now):
    client = client_for(world.manager)
    old = client.get(URL, {"start": "2025-02-03", "end": "2025-02-10", "team": world.amer.pk})
    new = client.get(URL, {"date_from": "2025-02-03", "date_to": "2025-02-10"})
    assert old.status_code == 200, old.content
    assert old.json()["filters"] == {
        "start": "2025-02-03",
        "end": "2025-02-10",
        "team": world.amer.pk,
    }
    assert old.json()["compliance"]["compliance"] == 0.7143
    assert new.json()["filters"]["start"] == "2025-02-03"


def test_date_from_wins_over_the_older_start(world, client_for, at_now):
    body = (
        client_for(world.manager)
        .get(URL, {"date_from": "2025-02-03", "start": "2025-01-06", "end": "2025-02-10"})
        .json()
    )
    assert (body["filters"]["start"], body["filters"]["end"]) == ("2025-02-03", "2025-02-10")


def test_without_filters_the_range_is_the_last_eight_weeks(world, client_for, at_now):
    body = client_for(world.manager).get(URL).json()
    assert body["filters"] == {"start": "2024-12-23", "end": "2025-02-10", "team": None}
    assert len(body["weekly"]) == 8
    assert body["compliance"]["due"] == 8


@pytest.mark.parametrize("who", ["rob", "marketer"])
def test_reps_and_marketers_are_refused(world, client_for, who):
    user = world.rob if who == "rob" else world.marketer
    response = client_for(user).get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_anonymous_callers_must_log_in(db, client_for):
    response = client_for(None).get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "last week"}, "date_from"),
        ({"date_to": "2025-02-30"}, "date_to"),
        ({"date_from": "2025-02-10", "date_to": "2025-02-03"}, "date_from"),
        ({"start": "last week"}, "start"),
        ({"team": "x"}, "team"),
        ({"end": "2025-02-30"}, "end"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(manager, client_for, params, field):
    response = client_for(manager).get(URL, params)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_the_schema_documents_the_endpoint(manager, client_for):
    response = client_for(manager).get("/api/schema/", {"format": "json"})
    operation = response.json()["paths"]["/api/metrics/sla/"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"date_from", "date_to", "start", "end", "team"}
    # The older names are there for old clients, marked deprecated.
    assert parameters["start"]["deprecated"] is True
    assert parameters["end"]["deprecated"] is True
    assert not parameters["date_from"].get("deprecated")
    assert {"200", "400", "403"} <= set(operation["responses"])


def test_both_metrics_apis_name_their_range_date_from_and_date_to(manager, client_for):
    paths = client_for(manager).get("/api/schema/", {"format": "json"}).json()["paths"]
    for path in ("/api/metrics/sla/", "/api/metrics/feedback/"):
        current = {p["name"] for p in paths[path]["get"]["parameters"] if not p.get("deprecated")}
        assert {"date_from", "date_to"} <= current, path

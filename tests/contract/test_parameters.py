"""Query parameters are typed in the schema and refused when they are not what it says: a bad
boolean, id, ordering or page size is a 400 naming the parameter, never silently ignored."""

from __future__ import annotations

import pytest

from handoff.models import Handoff
from handoff.states import OPEN_STATUSES

BOOLEANS = [
    ("manager", "/api/handoffs/", "open"),
    ("manager", "/api/handoffs/", "breached"),
    ("manager", "/api/handoffs/", "at_risk"),
    ("manager", "/api/handoffs/", "unassigned"),
    ("marketer", "/api/leads/", "unowned"),
    ("marketer", "/api/leads/", "ready_for_sales"),
    ("marketer", "/api/feedback/", "acknowledged"),
    ("manager", "/api/feedback/disputes/", "include_resolved"),
    ("marketer", "/api/metrics/feedback/", "all_time"),
]
IDS = [
    ("manager", "/api/handoffs/", "team"),
    ("manager", "/api/handoffs/", "policy"),
    ("manager", "/api/handoffs/", "lead"),
    ("marketer", "/api/leads/", "campaign"),
    ("marketer", "/api/leads/", "owner"),
    ("marketer", "/api/feedback/", "rep"),
]


def parameter(schema, path, name):
    (found,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found["schema"]


def named_in_400(response, name):
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["code"] == "invalid"
    assert name in body["errors"], body


@pytest.mark.parametrize(("role", "path", "name"), BOOLEANS)
def test_a_boolean_parameter_is_a_boolean_in_the_schema(schema, role, path, name):
    assert parameter(schema, path, name)["type"] == "boolean"


@pytest.mark.parametrize(("role", "path", "name"), BOOLEANS)
def test_a_boolean_parameter_that_is_neither_true_nor_false_is_a_400_naming_it(
    api, role, path, name
):
    named_in_400(api(role).get(path, {name: "maybe"}), name)


@pytest.mark.parametrize(("role", "path", "name"), BOOLEANS)
def test_true_false_1_and_0_are_read_as_booleans(api, role, path, name):
    for value in ("true", "false", "1", "0", "True"):
        response = api(role).get(path, {name: value})
        assert response.status_code == 200, (value, response.content[:300])


def test_open_true_and_open_false_split_the_handoffs(api, world):
    client = api("manager")
    open_ids = {
        row["id"] for row in client.get("/api/handoffs/", {"open": "true"}).json()["results"]
    }
    closed = {
        row["id"] for row in client.get("/api/handoffs/", {"open": "false"}).json()["results"]
    }
    assert open_ids == set(
        Handoff.objects.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True)
    )
    assert closed == set(Handoff.objects.values_list("pk", flat=True)) - open_ids
    assert open_ids and closed


@pytest.mark.parametrize(("role", "path", "name"), IDS)
def test_an_id_parameter_is_an_integer_in_the_schema(schema, role, path, name):
    assert parameter(schema, path, name)["type"] == "integer"


@pytest.mark.parametrize(("role", "path", "name"), IDS)
@pytest.mark.parametrize("value", ["1.5", "abc", "1e3"])
def test_an_id_parameter_that_is_not_a_whole_number_is_a_400_naming_it(
    api, role, path, name, value
):
    named_in_400(api(role).get(path, {name: value}), name)


@pytest.mark.parametrize(
    ("role", "path", "fields"),
    [
        ("manager", "/api/handoffs/", ["due_at", "created_at", "at_risk_at", "score_snapshot", "id"]),
        ("marketer", "/api/leads/", ["score", "created_at", "updated_at", "last_engaged_at", "email", "company"]),
    ],
)  # fmt: skip
def test_ordering_is_an_enum_of_the_allowed_fields_with_their_descending_variants(
    schema, role, path, fields
):
    ordering = parameter(schema, path, "ordering")
    assert ordering["type"] == "string"
    assert sorted(ordering["enum"]) == sorted([*fields, *(f"-{f}" for f in fields)])


@pytest.mark.parametrize(
    ("role", "path"), [("manager", "/api/handoffs/"), ("marketer", "/api/leads/")]
)
@pytest.mark.parametrize("value", ["bogus", "-bogus", "score_snapshot,bogus", "lead__email"])
def test_an_unknown_ordering_is_a_400_naming_the_parameter(api, role, path, value):
    if path == "/api/leads/" and value.startswith("score_snapshot"):
        value = "score,bogus"
    named_in_400(api(role).get(path, {"ordering": value}), "ordering")


def test_a_handoff_list_is_ordered_as_asked(api, world):
    client = api("manager")
    ids = [row["id"] for row in client.get("/api/handoffs/", {"ordering": "-id"}).json()["results"]]
    assert ids == sorted(ids, reverse=True) and len(ids) > 2
    ids = [row["id"] for row in client.get("/api/handoffs/", {"ordering": "id"}).json()["results"]]
    assert ids == sorted(ids)
    both = client.get("/api/handoffs/", {"ordering": "-score_snapshot,id"})
    assert both.status_code == 200


@pytest.mark.parametrize("value", ["abc", "0", "-5", "2.5"])
def test_a_page_size_that_is_not_a_positive_whole_number_is_a_400_naming_it(api, value):
    named_in_400(api("manager").get("/api/handoffs/", {"page_size": value}), "page_size")


def test_a_page_size_over_the_limit_reads_as_the_limit(api):
    response = api("manager").get("/api/handoffs/", {"page_size": "100000"})
    assert response.status_code == 200


def test_assigned_to_is_a_user_id_or_me_in_the_schema_and_in_the_answer(api, schema, world):
    assert parameter(schema, "/api/handoffs/", "assigned_to")["pattern"] == r"^(me|[0-9]+)$"
    named_in_400(api("manager").get("/api/handoffs/", {"assigned_to": "bob"}), "assigned_to")
    mine = api("rep").get("/api/handoffs/", {"assigned_to": "me"}).json()["results"]
    assert mine and {row["assigned_to"]["id"] for row in mine} == {world.users["rep"].pk}

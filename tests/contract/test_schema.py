"""The schema at /api/schema/ as a contract: valid OpenAPI 3.0, JSON bodies only, one 400 body,
nullable objects that a strict OpenAPI 3.0 validator accepts as null, response fields that are
always there marked required, 401 with its challenge, and the headers the API sends declared."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_schema_validator import OAS30ReadValidator
from openapi_spec_validator import validate

VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationError"}


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def conformance_errors(schema: dict[str, Any], path: str, method: str, response: Any) -> list[str]:
    """What a strict OpenAPI 3.0 validator finds wrong in an answer, against the schema the
    operation declares for its status code."""
    declared = schema["paths"][path][method]["responses"][str(response.status_code)]
    body_schema = declared["content"]["application/json"]["schema"]
    root = {**body_schema, "components": schema["components"]}
    return [error.message for error in OAS30ReadValidator(root).iter_errors(response.json())]


def test_the_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.0")
    validate(schema)


def test_every_request_body_is_json_only(schema):
    bodies = {
        f"{method} {path}": sorted(operation["requestBody"]["content"])
        for path, method, operation in operations(schema)
        if "requestBody" in operation
    }
    assert len(bodies) > 15
    assert all(types == ["application/json"] for types in bodies.values()), bodies


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("rep", "/api/handoffs/{own}/request-info/"),
        ("marketer", "/api/leads/"),
        ("marketer", "/api/scoring/fit-rules/"),
        (None, "/api/auth/token/"),
    ],
)
def test_a_form_or_multipart_body_is_a_415(api, world, role, path):
    path = path.replace("{own}", str(world.handoffs["own"].pk))
    form = api(role).post(path, {"question": "?", "username": "x"}, format="multipart")
    assert form.status_code == 415, form.content[:300]
    assert form.json()["code"] == "unsupported_media_type"


def test_every_400_answer_has_the_one_validation_error_body(schema):
    bodies = {
        f"{method} {path}": operation["responses"]["400"]["content"]["application/json"]["schema"]
        for path, method, operation in operations(schema)
        if "400" in operation["responses"]
    }
    assert bodies and all(body == VALIDATION_ERROR for body in bodies.values()), bodies


def test_every_401_declares_its_token_challenge(schema):
    with_login = [op for _, _, op in operations(schema) if op.get("security")]
    assert with_login
    for operation in with_login:
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_no_nullable_object_is_written_as_allof(schema):
    def walk(node: Any) -> list[Any]:
        if isinstance(node, dict):
            found = [node] if node.get("nullable") and "allOf" in node else []
            return found + [n for value in node.values() for n in walk(value)]
        if isinstance(node, list):
            return [n for value in node for n in walk(value)]
        return []

    assert walk(schema) == []
    block = schema["components"]["schemas"]["PromotionPreview"]["properties"]["block"]
    assert block["oneOf"][0] == {"$ref": "#/components/schemas/PreviewBlock"}
    assert block["oneOf"][1]["nullable"] is True


@pytest.mark.parametrize(
    ("component", "fields"),
    [
        ("RejectionReason", ["note_required", "effect", "recycle_days", "display_order"]),
        ("FitRule", ["name", "field", "operator", "value", "points", "active", "order"]),
        ("EngagementRule", ["kind", "points", "max_events", "intent_points", "active"]),
        ("ScoringConfig", ["mql_threshold", "engagement_half_life_days", "version"]),
        ("HandoffDetail", ["assigned_to", "bant", "events", "clock"]),
    ],
)
def test_response_fields_that_are_always_there_are_required(schema, component, fields):
    assert set(fields) <= set(schema["components"]["schemas"][component]["required"])


def test_fields_a_response_may_leave_out_stay_optional(schema):
    components = schema["components"]["schemas"]
    assert "field" not in components["Error"]["required"]
    assert "errors" not in components["ValidationError"]["required"]
    assert "id" not in components["BulkLeadResult"]["required"]


def test_the_team_and_campaign_of_a_return_are_typed(schema):
    components = schema["components"]["schemas"]
    team = components["FeedbackHandoff"]["properties"]["team"]
    campaign = components["FeedbackLead"]["properties"]["campaign"]
    assert team["oneOf"][0] == {"$ref": "#/components/schemas/TeamRef"}
    assert campaign["oneOf"][0] == {"$ref": "#/components/schemas/CampaignRef"}
    assert components["CampaignRef"]["required"] == ["id", "name"]


def test_bulk_answers_declare_the_idempotent_replayed_header(schema):
    for path in ("/api/leads/bulk/", "/api/events/bulk/"):
        headers = schema["paths"][path]["post"]["responses"]["200"]["headers"]
        assert headers["Idempotent-Replayed"]["schema"]["enum"] == ["true"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/handoffs/{id}/accept/",
        "/api/handoffs/{id}/request-info/",
        "/api/handoffs/{id}/provide-info/",
        "/api/handoffs/{id}/qualify/",
        "/api/handoffs/{id}/first-touch/",
        "/api/handoffs/{id}/reassign/",
        "/api/handoffs/{id}/return/",
        "/api/leads/{id}/promote/",
        "/api/feedback/{id}/acknowledge/",
        "/api/feedback/{id}/resolve-dispute/",
        "/api/feedback/leads/{id}/reopen/",
    ],
)
def test_a_transition_declares_409_for_a_state_that_refuses_it(schema, path):
    assert "409" in schema["paths"][path]["post"]["responses"]


# --- real answers carrying null, through a strict OpenAPI 3.0 validator ------------------------


def test_a_blocked_promotion_preview_with_null_rep_validates(api, schema, world):
    # With sales already (the preview says why not), and a team without reps.
    lead = world.leads["unassigned"]
    response = api("marketer").get(
        f"/api/leads/{lead.pk}/promotion-preview/", {"team": world.teams["overflow"].pk}
    )
    assert response.status_code == 200
    assert response.json()["block"] is not None and response.json()["rep"] is None
    path = "/api/leads/{id}/promotion-preview/"
    assert conformance_errors(schema, path, "get", response) == []


def test_a_return_with_nobody_acknowledging_yet_validates(api, schema, world):
    handoff = world.handoffs["own"]
    response = api("rep").post(
        f"/api/handoffs/{handoff.pk}/return/", {"reason": "not-ready", "note": "Next year."}
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["feedback"]["acknowledged_by"] is None
    assert response.json()["feedback"]["dispute_resolved_by"] is None
    assert conformance_errors(schema, "/api/handoffs/{id}/return/", "post", response) == []


def test_an_unassigned_handoff_in_the_list_validates(api, schema, world):
    response = api("manager").get("/api/handoffs/", {"unassigned": "true"})
    assert response.status_code == 200
    assert [row["assigned_to"] for row in response.json()["results"]] == [None]
    assert conformance_errors(schema, "/api/handoffs/", "get", response) == []


def test_the_returned_queue_validates(api, schema, world):
    response = api("marketer").get("/api/feedback/")
    assert response.status_code == 200 and response.json()["results"]
    assert conformance_errors(schema, "/api/feedback/", "get", response) == []


def test_the_old_allof_form_is_what_a_strict_validator_refused(schema):
    old = {
        "type": "object",
        "properties": {
            "rep": {"allOf": [{"$ref": "#/components/schemas/PreviewRep"}], "nullable": True}
        },
        "components": schema["components"],
    }
    assert list(OAS30ReadValidator(old).iter_errors({"rep": None}))

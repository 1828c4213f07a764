"""The OpenAPI schema documents the feedback endpoints, their bodies and their errors."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_feedback_endpoint_is_in_the_schema(schema):
    paths = schema["paths"]
    for path, method in [
        ("/api/feedback/reasons/", "get"),
        ("/api/feedback/", "get"),
        ("/api/feedback/disputes/", "get"),
        ("/api/feedback/{id}/acknowledge/", "post"),
        ("/api/feedback/{id}/resolve-dispute/", "post"),
        ("/api/feedback/leads/{id}/reopen/", "post"),
        ("/api/metrics/feedback/", "get"),
        ("/api/handoffs/{id}/return/", "post"),
        ("/api/handoffs/{id}/previous-returns/", "get"),
    ]:
        assert method in paths[path], path


def test_the_return_endpoint_documents_its_body_and_errors(schema):
    operation = schema["paths"]["/api/handoffs/{id}/return/"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "403", "404", "409"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert set(component["properties"]) == {"reason", "note"}


def test_the_feedback_list_documents_its_filters(schema):
    names = {p["name"] for p in schema["paths"]["/api/feedback/"]["get"]["parameters"]}
    assert {
        "reason", "category", "acknowledged", "source", "campaign", "rep",
        "returned_after", "returned_before", "page", "page_size",
    } <= names  # fmt: skip


def test_the_metrics_payload_is_described(schema):
    ref = schema["paths"]["/api/metrics/feedback/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"by_source", "by_score_band", "threshold_advisor", "reason_mix"} <= set(
        component["properties"]
    )

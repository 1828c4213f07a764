"""The OpenAPI schema documents every leads endpoint, with its error bodies."""

from __future__ import annotations

import pytest
import yaml
from rest_framework import serializers

from leads.ingest import WRITABLE_FIELDS
from leads.serializers import BulkLeadRowSerializer, LeadWriteSerializer


@pytest.fixture
def schema(client, marketer):
    client.force_login(marketer)
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_every_leads_endpoint_is_in_the_schema_with_its_errors(schema):
    paths = schema["paths"]
    bulk = paths["/api/leads/bulk/"]["post"]
    assert {"200", "400", "401", "403", "409", "413", "415", "422"} <= set(bulk["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in bulk["parameters"])
    assert {"200", "400", "401", "403", "404"} <= set(
        paths["/api/leads/{id}/"]["patch"]["responses"]
    )
    assert "201" in paths["/api/leads/"]["post"]["responses"]
    assert "201" in paths["/api/leads/{id}/events/"]["post"]["responses"]
    assert "413" in paths["/api/events/bulk/"]["post"]["responses"]
    assert "403" in paths["/api/scoring/fit-rules/{id}/"]["patch"]["responses"]
    assert "patch" in paths["/api/scoring/settings/"]
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "detail", "field", "status"}


def test_the_documented_bulk_row_is_what_the_validator_takes():
    documented = set(BulkLeadRowSerializer().fields) - {"events"}
    assert documented == set(WRITABLE_FIELDS) == set(LeadWriteSerializer().fields)
    assert isinstance(BulkLeadRowSerializer().fields["events"], serializers.ListSerializer)

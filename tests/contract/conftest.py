"""Fixtures of the API contract tests: the security tests' world, a token client per role and
the live schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.test import APIClient

from tests.reliability.security_world import SecurityWorld, make_security_world


@pytest.fixture
def world(db) -> SecurityWorld:
    world = make_security_world()
    world.accepted("rep")
    world.waiting("rep")
    world.returned("rep")
    return world


@pytest.fixture
def api(world):
    """`api(role)`: a client sending `Authorization: Token ...` as that role (None: no header)."""

    def make(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {world.token(role)}")
        return client

    return make


@pytest.fixture(scope="session")
def schema_json(django_db_setup, django_db_blocker) -> str:
    """The live schema, generated once per process: it depends on the code, not on the data."""
    # The schema is for signed-in users: any user will do (rolled back at once).
    with django_db_blocker.unblock(), transaction.atomic():
        client = APIClient()
        client.force_authenticate(get_user_model().objects.create(username="schema-reader"))
        response = client.get("/api/schema/?format=json")
        transaction.set_rollback(True)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def schema(db, schema_json) -> dict[str, Any]:
    return json.loads(schema_json)  # a fresh copy for each test

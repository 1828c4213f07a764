"""Shared fixtures: users in each role, API clients, and the database-vendor markers."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leads.roles import MARKETING, SALES, SALES_MANAGER
from tests.factories import UserFactory


def pytest_collection_modifyitems(config, items):
    on_postgres = connection.vendor == "postgresql"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (as .ci/run does)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        # Every transactional test restores the migrated data (roles, default reasons) after
        # its flush. Mixing in one that does not breaks the next one that does: its flush
        # re-creates content types that the restore then inserts again.
        marker = item.get_closest_marker("django_db")
        if (
            marker
            and marker.kwargs.get("transaction")
            and "serialized_rollback" not in (marker.kwargs)
        ):
            item.add_marker(
                pytest.mark.django_db(**marker.kwargs, serialized_rollback=True), append=False
            )


@pytest.fixture(autouse=True)
def _forget_remembered_tokens_and_roles():
    """Each test starts with empty per-process memories of tokens, roles and return
    reasons (user ids repeat
    across tests whose data was rolled back)."""
    from feedback.services import forget_reasons
    from leads import token_auth

    token_auth.forget_all()
    forget_reasons()
    yield
    token_auth.forget_all()
    forget_reasons()


@pytest.fixture
def marketer(db):
    return UserFactory(username="mia.marketer", role=MARKETING)


@pytest.fixture
def rep(db):
    return UserFactory(username="rob.rep", role=SALES)


@pytest.fixture
def other_rep(db):
    return UserFactory(username="olga.rep", role=SALES)


@pytest.fixture
def manager(db):
    return UserFactory(username="max.manager", role=SALES_MANAGER, is_staff=True)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """`client_for(user)`: an API client authenticated as that user (None: anonymous)."""

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make

"""Shared fixtures: users in each role, API clients, the database-vendor and slow markers, and
the reliability figures table.

The suite runs on pytest-xdist (`-n auto --dist loadgroup` in pyproject.toml): each xdist worker
has its own test database (pytest-django suffixes its name with the worker id), every real
Celery worker a queue of its own, and every server a spare port. Tests marked `slow` are skipped
unless `--run-slow` or `RUN_SLOW=1` (as `.ci/run` sets) asks for them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core.roles import MARKETING, SALES, SALES_MANAGER
from tests.factories import UserFactory


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=os.environ.get("RUN_SLOW", "").lower() in {"1", "true", "yes"},
        help="also run the tests marked slow (the load, fault and process tests); RUN_SLOW=1 too",
    )


def pytest_collection_modifyitems(config, items):
    on_postgres = connection.vendor == "postgresql"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (as .ci/run does)")
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow or RUN_SLOW=1 (as .ci/run does)")
    run_slow = config.getoption("--run-slow")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
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
    from core.api import token_auth
    from feedback.services import forget_reasons

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


# --- the reliability figures table ----------------------------------------------------------

FIGURES: list[tuple[str, str, str, str]] = []


@pytest.fixture
def figure() -> Callable[[str, str, str, str], None]:
    """`figure(test, name, target, measured)`: a line of the table printed after the run."""

    def record(test: str, name: str, target: str, measured: str) -> None:
        FIGURES.append((test, name, target, measured))

    return record


def pytest_sessionfinish(session: Any) -> None:
    # An xdist worker hands its lines to the controller, which prints the table.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = json.dumps(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    FIGURES.extend(tuple(row) for row in json.loads(node.workeroutput.get("figures", "[]")))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    header = ("test", "figure", "target", "measured")
    widths = [max(len(row[i]) for row in [header, *FIGURES]) for i in range(4)]
    for row in [header, *FIGURES]:
        terminalreporter.write_line(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )

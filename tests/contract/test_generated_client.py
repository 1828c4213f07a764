"""A client generated from the live schema works as it is: openapi-python-client (a generator the
project does not otherwise use) writes a package from /api/schema/, every module of it imports,
every operation answers something the client parses into its declared type, and the whole
handoff flow runs through it: bulk upsert with an Idempotency-Key, promote, request info, provide
info, accept, first touch, qualify, return with a reason, reassign, the metrics.

The generator runs locally (no network) and formats with the ruff of this environment; the
client talks to the Django application in process (httpx's WSGI transport), so each request
meets the test's database. The walk over the operations is generic: an operation added to the
API later is imported, called and parsed here without a change to this file.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from feedback.models import ReturnFeedback
from handoff.models import Handoff
from leads.models import EngagementRule, FitRule, Lead
from tests.reliability.security_world import SecurityWorld

PACKAGE = "handoff_desk_client"
GENERATOR = "openapi_python_client"
ROLES = ("marketer", "rep", "manager")


# --- the generated package ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_schema(django_db_setup, django_db_blocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        # The schema is for signed-in users: any user will do (removed after).
        user = get_user_model().objects.create(username="schema-reader")
        reader = APIClient()
        reader.force_authenticate(user)
        response = reader.get("/api/schema/?format=json")
        user.delete()
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture(scope="module")
def generated(live_schema, tmp_path_factory) -> Iterator[tuple[types.ModuleType, str]]:
    """The client package, generated from the live schema and imported; and what the generator
    printed."""
    folder = tmp_path_factory.mktemp("client")
    schema_file = folder / "schema.json"
    schema_file.write_text(json.dumps(live_schema))
    # The generator formats its output with ruff, found on PATH: this environment's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        [sys.executable, "-m", GENERATOR, "generate", "--path", str(schema_file),
         "--meta", "none", "--output-path", str(folder / PACKAGE)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE), output
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def operation_modules(package: types.ModuleType) -> dict[str, types.ModuleType]:
    """Every operation module (`<package>.api.<tag>.<operation id>`), by operation id."""
    api = importlib.import_module(f"{package.__name__}.api")
    found = {}
    for info in pkgutil.walk_packages(api.__path__, f"{api.__name__}."):
        module = importlib.import_module(info.name)
        if hasattr(module, "sync_detailed"):
            found[info.name.rsplit(".", 1)[1]] = module
    return found


def operation_ids(schema: dict[str, Any]) -> set[str]:
    return {
        operation["operationId"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def test_the_generator_reads_the_schema_without_a_warning(generated):
    _, output = generated
    assert "Warning" not in output and "warning" not in output, output


def test_every_generated_module_imports(generated):
    package, _ = generated
    failures = []
    count = 0
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        count += 1
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # each failure is listed, not just the first
            failures.append(f"{info.name}: {exc!r}")
    assert count > 100
    assert not failures, "\n".join(failures)


def test_every_operation_of_the_schema_has_its_module(generated, live_schema):
    package, _ = generated
    modules = operation_modules(package)
    assert set(modules) == operation_ids(live_schema)


# --- calling the application through the client -----------------------------------------------


class RolledBackApp:
    """The Django WSGI app; with `rolled_back` set, each request runs in a savepoint rolled back
    afterwards (so that every generated example meets the same world)."""

    def __init__(self) -> None:
        self.app = WSGIHandler()
        self.rolled_back = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if not self.rolled_back:
            return self._body(environ, start_response)
        with transaction.atomic():
            body = self._body(environ, start_response)
            transaction.set_rollback(True)
        return body

    def _body(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        chunks = self.app(environ, start_response)
        try:
            return [b"".join(chunks)]
        finally:
            getattr(chunks, "close", lambda: None)()


@pytest.fixture
def app() -> Iterator[RolledBackApp]:
    """As Django's test client does: the test's connection must survive each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield RolledBackApp()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def client_as(generated, world: SecurityWorld, app: RolledBackApp):
    """`client_as(role)`: the generated AuthenticatedClient with that role's token."""
    package, _ = generated

    def make(role: str, token: str | None = None) -> Any:
        return package.AuthenticatedClient(
            base_url="http://testserver",
            token=token or world.token(role),
            prefix="Token",
            raise_on_unexpected_status=True,
            httpx_args={"transport": httpx.WSGITransport(app=app)},
        )

    return make


def model(package: types.ModuleType, name: str) -> Any:
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def call(module: types.ModuleType, client: Any, status: int, **kwargs: Any) -> Any:
    """Call an operation; its answer must have `status`, parsed into its declared type."""
    response = module.sync_detailed(client=client, **kwargs)
    assert response.status_code == status, (module.__name__, response.content[:500])
    return response


# --- every operation, generically ------------------------------------------------------------


def path_ids(path: str) -> list[int]:
    """Ids worth trying in a path: the world's objects of the path's kind, and a missing one."""
    if path.startswith("/api/scoring/fit-rules/"):
        ids = list(FitRule.objects.values_list("pk", flat=True))
    elif path.startswith("/api/scoring/engagement-rules/"):
        ids = list(EngagementRule.objects.values_list("pk", flat=True))
    elif path.startswith("/api/feedback/") and "/leads/" not in path:
        ids = list(ReturnFeedback.objects.values_list("pk", flat=True))
    elif path.startswith("/api/handoffs/"):
        ids = list(Handoff.objects.values_list("pk", flat=True))
    else:
        ids = list(Lead.objects.values_list("pk", flat=True))
    return [*ids, 999_999]


def body_class(module: types.ModuleType) -> Any:
    """The model class of the operation's `body` argument (None: it takes no body)."""
    parameter = inspect.signature(module.sync_detailed).parameters.get("body")
    if parameter is None:
        return None
    annotation = parameter.annotation
    options = typing.get_args(annotation) or (annotation,)
    (cls,) = [o for o in options if hasattr(o, "from_dict")]
    return cls


def parsed_type_ok(module: types.ModuleType, response: Any) -> bool:
    """Whether the parsed answer is one of the types the operation declares."""
    if not response.content:
        return response.parsed is None
    declared = inspect.signature(module.sync_detailed).return_annotation
    (inner,) = typing.get_args(declared)  # Response[A | B | ...]
    # (Any stands for an answer without a body: a 204.)
    options = [o for o in (typing.get_args(inner) or (inner,)) if o not in (type(None), Any)]
    origin_types = tuple(typing.get_origin(o) or o for o in options)
    return isinstance(response.parsed, origin_types)


def typed(annotation: Any, value: Any) -> Any:
    """A query value drawn from the schema, as the generated function's argument type takes it
    (an enum member, a list of them, a date)."""
    options = [o for o in (typing.get_args(annotation) or (annotation,)) if hasattr(o, "__name__")]
    kinds = [o for o in options if o.__name__ not in ("Unset", "NoneType")]
    kind = kinds[0] if kinds else None
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        values = value if isinstance(value, list) else [value]
        return [typed(item, v) for v in values]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if kind is dt.date:
        return dt.date.fromisoformat(str(value))
    return value


def query_arguments(module: types.ModuleType, query: dict[str, Any]) -> dict[str, Any]:
    """The generated function's keyword arguments for a drawn query (`open` is `open_`)."""
    parameters = inspect.signature(module.sync_detailed).parameters
    arguments = {}
    for name, value in (query or {}).items():
        python_name = next(n for n in (name, f"{name}_") if n in parameters)
        arguments[python_name] = typed(parameters[python_name].annotation, value)
    return arguments


def walk(operation: Any, module: types.ModuleType, clients: dict[str, Any]) -> list[bool]:
    """Call one operation with examples drawn from its schema; for each call, whether it had
    query parameters."""
    cls = body_class(module)
    cases = (
        st.sampled_from(path_ids(operation.path)).flatmap(
            lambda i: operation.as_strategy(
                generation_mode=GenerationMode.POSITIVE, path_parameters={"id": i}
            )
        )
        if "{id}" in operation.path
        else operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    )
    calls: list[bool] = []

    @hypothesis.settings(
        max_examples=6,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=cases, role=st.sampled_from(ROLES))
    def run(case: Any, role: str) -> None:
        kwargs: dict[str, Any] = dict(case.path_parameters or {})
        kwargs.update(query_arguments(module, case.query))
        if cls is not None and isinstance(case.body, dict):
            kwargs["body"] = cls.from_dict(case.body)
        response = module.sync_detailed(client=clients[role], **kwargs)
        assert response.status_code < 500, (module.__name__, response.content[:500])
        assert parsed_type_ok(module, response), (module.__name__, response.parsed)
        calls.append(bool(case.query))

    run()
    return calls


def test_every_operation_answers_what_the_generated_client_parses(
    generated, live_schema, world, client_as, app
):
    """Each operation, as each role, with bodies, query parameters and path ids drawn from the
    schema and passed as the client's typed arguments: the answer has a status code the client
    knows (else UnexpectedStatus) and parses into a declared type (else from_dict fails)."""
    package, _ = generated
    modules = operation_modules(package)
    clients = {role: client_as(role) for role in ROLES}
    app.rolled_back = True
    calls = {}
    for result in schemathesis.openapi.from_dict(live_schema).get_all_operations():
        operation = result.ok()
        module = modules[operation.definition.raw["operationId"]]
        calls[module.__name__] = walk(operation, module, clients)
    assert len(calls) == len(modules) and all(calls.values()), calls
    with_query = [name for name, made in calls.items() if any(made)]
    assert len(with_query) >= 8, with_query  # the lists and the metrics, with their filters


# --- the handoff flow ----------------------------------------------------------------------------


def role_of(world: SecurityWorld, user_id: int) -> str:
    (role,) = [name for name, user in world.users.items() if user.pk == user_id]
    return role


def test_the_whole_handoff_flow_runs_through_the_generated_client(generated, world, client_as):
    package, _ = generated
    ops = operation_modules(package)
    m = lambda name: model(package, name)  # noqa: E731
    marketer, manager = client_as("marketer"), client_as("manager")

    # Bulk upsert with an Idempotency-Key; the same request again is the stored answer.
    rows = [
        m("BulkLeadRowRequest")(
            email=f"ada{n}@contract.example", first_name="Ada", company="Contract Bank",
            title="CFO", country="GB", campaign=str(world.campaign.pk),
        )
        for n in range(3)
    ]  # fmt: skip
    body = m("BulkLeadsRequestRequest")(leads=rows)
    first = call(ops["leads_bulk_create"], marketer, 200, body=body, idempotency_key="sync-1")
    assert isinstance(first.parsed, m("BulkLeadsResponse"))
    assert first.parsed.created == 3 and first.parsed.errors == 0
    replay = call(ops["leads_bulk_create"], marketer, 200, body=body, idempotency_key="sync-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.parsed.to_dict() == first.parsed.to_dict()
    lead_ids = [row.id for row in first.parsed.results]

    # The preview of a lead nobody can take yet: nullable objects come back as None.
    preview = call(ops["leads_promotion_preview"], marketer, 200, id=lead_ids[0])
    assert isinstance(preview.parsed, m("PromotionPreview"))

    # Promote: the handoff lands with a rep of team A.
    team_a = world.teams["a"].pk
    promote = m("PromoteRequestRequest")(note="Asked for pricing twice.", team=team_a)
    handoff = call(ops["leads_promote"], marketer, 201, id=lead_ids[0], body=promote).parsed
    assert isinstance(handoff, m("HandoffDetail"))
    assert handoff.status.value == "pending" and isinstance(handoff.assigned_to, m("UserRef"))
    rep = client_as(role_of(world, handoff.assigned_to.id))

    # The rep asks for information, marketing provides it, the rep accepts.
    ask = m("RequestInfoRequestRequest")(question="Which region?")
    waiting = call(ops["handoffs_request_info"], rep, 200, id=handoff.id, body=ask).parsed
    assert waiting.status.value == "waiting"
    answer = m("ProvideInfoRequestRequest")(answer="EMEA.")
    pending = call(ops["handoffs_provide_info"], marketer, 200, id=handoff.id, body=answer).parsed
    assert pending.status.value == "pending"
    accepted = call(ops["handoffs_accept"], rep, 200, id=handoff.id).parsed
    assert accepted.status.value == "accepted" and accepted.accepted_at is not None

    # First touch, then qualify with BANT.
    touch = m("FirstTouchRequestRequest")(channel=m("ChannelEnum")("call"), note="Spoke to Ada.")
    touched = call(ops["handoffs_first_touch"], rep, 200, id=handoff.id, body=touch).parsed
    assert touched.first_touch_at is not None
    bant = m("BantRequest")(budget="50k", authority="CFO", need="Reporting", timeline="Q3")
    qualify = m("QualifyRequestRequest")(bant=bant, note="Good fit.")
    qualified = call(ops["handoffs_qualify"], rep, 200, id=handoff.id, body=qualify).parsed
    assert qualified.status.value == "qualified"

    # A second lead: returned to marketing with a reason.
    second = call(ops["leads_promote"], marketer, 201, id=lead_ids[1], body=promote).parsed
    owner = client_as(role_of(world, second.assigned_to.id))
    back = m("ReturnInputRequest")(reason="not-ready", note="Budget next year.")
    returned = call(ops["handoffs_return_create"], owner, 200, id=second.id, body=back).parsed
    assert isinstance(returned, m("ReturnedHandoff"))
    assert returned.status.value == "returned"
    assert (
        returned.feedback.reason.code == "not-ready" and returned.feedback.acknowledged_by is None
    )

    # A third lead: the manager reassigns it (the answer is the new attempt).
    third = call(ops["leads_promote"], marketer, 201, id=lead_ids[2], body=promote).parsed
    reassign = m("ReassignRequestRequest")(reason="Rebalancing")
    moved = call(ops["handoffs_reassign"], manager, 201, id=third.id, body=reassign).parsed
    assert moved.id != third.id and moved.attempt == third.attempt + 1

    # The lists, typed filters and ordering, and the metrics.
    listing = call(
        ops["handoffs_list"], manager, 200, open_=True,
        ordering=m("HandoffsListOrdering")("-created_at"),
    ).parsed  # fmt: skip
    assert moved.id in [row.id for row in listing.results]
    assert all(row.status.value in ("pending", "waiting", "accepted") for row in listing.results)
    sla = call(ops["metrics_sla"], manager, 200).parsed
    assert isinstance(sla, m("SlaMetrics")) and sla.funnel.mql >= 3
    quality = call(ops["metrics_feedback_retrieve"], marketer, 200, all_time=True).parsed
    assert isinstance(quality, m("FeedbackMetrics")) and quality.totals.returned >= 1

    # Errors come back typed: a bad token is a 401, a rep may not promote (403).
    stranger = client_as("marketer", token="not-a-token")
    refused = call(ops["handoffs_list"], stranger, 401)
    assert isinstance(refused.parsed, m("Error")) and refused.headers["WWW-Authenticate"] == "Token"
    forbidden = call(ops["leads_promote"], rep, 403, id=lead_ids[0], body=promote)
    assert forbidden.parsed.code == "permission_denied"


def test_enums_of_the_client_carry_the_values_the_api_takes(generated):
    package, _ = generated
    ordering = model(package, "HandoffsListOrdering")
    assert issubclass(ordering, enum.Enum)
    assert {"due_at", "-due_at", "created_at", "-created_at"} <= {o.value for o in ordering}

"""API fuzzing: schemathesis generates requests from /api/schema/ for every operation, as each
role (marketer, rep, manager, with a token), valid and invalid, and checks every answer: no
5xx, a documented status code and content type, and a body that matches the documented schema.

In-process: the Django WSGI application is called directly (no network), each request inside a
savepoint rolled back afterwards, so every example meets the same world (a pending handoff
stays pending for the next accept). Path ids are drawn from the world's objects of every owner
kind as well as generated.

FUZZ_EXAMPLES (default 60) is the number of examples per operation, shared between the three
roles and the two generation modes (positive: valid by the schema; negative: not). FUZZ_RANDOM=1
draws new examples each run (by default the draw is fixed, so CI is repeatable). FUZZ_ONLY=/api/x
fuzzes only the operations whose path starts with that prefix (while working on them).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from feedback.models import ReturnFeedback
from handoff.models import AutoPromotionRule, TimeOff
from leads.accounts import accounts_backfill
from leads.models import Account, EngagementRule, FitRule, PqlCriterion
from tests.reliability.security_world import SecurityWorld, make_security_world

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
ONLY = os.environ.get("FUZZ_ONLY", "")
ROLES = ("marketer", "rep", "manager")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
KIND = {
    "ServerError": "5xx",
    "ContentTypeServerError": "5xx",
    "JsonSchemaError": "schema",
    "MalformedJson": "schema",
    "UndefinedStatusCode": "status code",
    "UndefinedContentType": "content type",
    "MissingContentType": "content type",
    "MalformedMediaType": "content type",
}


class RolledBackApp:
    """The Django WSGI app, each request in a savepoint that is rolled back (see the module)."""

    def __init__(self) -> None:
        self.app = WSGIHandler()
        self.errors: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with transaction.atomic():
            chunks = self.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
            transaction.set_rollback(True)
        return [body]


@dataclass
class Tally:
    examples: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    crashes: list[str] = field(default_factory=list)
    no_negative: set[str] = field(default_factory=set)

    def count(self, kind: str) -> int:
        return sum(len(v) for (_, k), v in self.failures.items() if k == kind)


@pytest.fixture
def world(db) -> SecurityWorld:
    world = make_security_world()
    world.accepted("rep")
    world.waiting("rep")
    world.returned("rep")
    AutoPromotionRule.objects.create(name="Trials", event_kinds=["trial_signup"])
    from integrations.services import crm_integration_create, endpoint_create

    endpoint_create(data={"url": "http://127.0.0.1:9/fuzz", "event_types": ["*"]})
    crm_integration_create(name="Fuzz CRM")
    # Opportunities: one open, and a qualified handoff to open another from.
    from handoff import services as handoff_services
    from pipeline import services as pipeline_services

    bant = {"budget": "50k", "authority": "CFO", "need": "Reports", "timeline": "Q3"}
    for _ in range(2):
        qualified = handoff_services.handoff_qualify(
            handoff=world.accepted("rep"), actor=world.users["rep"], bant=bant
        )
    pipeline_services.opportunity_open(
        handoff=qualified, actor=world.users["rep"], amount="100", expected_close_date=None,
        check_actor=False,
    )  # fmt: skip
    accounts_backfill()
    PqlCriterion.objects.create(name="Trial in a week", kind="trial", within_days=7)
    for who in ("rep", "rep_mate"):
        TimeOff.objects.create(
            rep=world.users[who],
            starts_on=dt.date(2031, 1, 1),
            ends_on=dt.date(2031, 1, 2),
        )
    return world


@pytest.fixture
def app() -> Iterator[RolledBackApp]:
    """As Django's test client does: the test's connection must survive each request."""
    app = RolledBackApp()

    def remember(sender: Any, request: Any = None, **kwargs: Any) -> None:
        app.errors.append("".join(traceback.format_exception(*sys.exc_info())[-6:]))

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    got_request_exception.connect(remember)
    try:
        yield app
    finally:
        got_request_exception.disconnect(remember)
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def path_ids(world: SecurityWorld, path: str) -> list[int]:
    """Ids worth trying in a path: the world's objects (every owner kind) and a missing one."""
    if path.startswith("/api/scoring/auto-promotion/"):
        ids = list(AutoPromotionRule.objects.values_list("pk", flat=True))
    elif path.startswith("/api/scoring/fit-rules/"):
        ids = list(FitRule.objects.values_list("pk", flat=True))
    elif path.startswith("/api/scoring/engagement-rules/"):
        ids = list(EngagementRule.objects.values_list("pk", flat=True))
    elif path.startswith("/api/feedback/") and "/leads/" not in path:
        ids = list(ReturnFeedback.objects.values_list("pk", flat=True))
    elif path.startswith("/api/webhooks/endpoints/"):
        from integrations.models import Endpoint

        ids = list(Endpoint.objects.values_list("pk", flat=True))
    elif path.startswith("/api/opportunities/"):
        from pipeline.models import Opportunity

        ids = list(Opportunity.objects.values_list("pk", flat=True))
    elif path.startswith("/api/scoring/pql-criteria/"):
        ids = list(PqlCriterion.objects.values_list("pk", flat=True))
    elif path.startswith("/api/accounts/"):
        ids = list(Account.objects.values_list("pk", flat=True))
    elif path.startswith("/api/time-off/"):
        ids = list(TimeOff.objects.values_list("pk", flat=True))
    elif path.startswith("/api/handoffs/"):
        from handoff.models import Handoff

        ids = list(Handoff.objects.values_list("pk", flat=True))
    else:
        from leads.models import Lead

        ids = list(Lead.objects.values_list("pk", flat=True))
    return [*ids, 999_999]


def strategy(operation: Any, mode: GenerationMode, ids: list[int]) -> Any:
    generated = operation.as_strategy(generation_mode=mode)
    if "{id}" not in operation.path:
        return generated
    chosen = st.sampled_from(ids).flatmap(
        lambda i: operation.as_strategy(generation_mode=mode, path_parameters={"id": i})
    )
    # Mostly real objects (the interesting answers), sometimes whatever the schema allows.
    return st.one_of(chosen, chosen, chosen, generated)


def fuzz(schema: Any, world: SecurityWorld, app: RolledBackApp, tally: Tally) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(ONLY):
            continue
        label = f"{operation.method.upper()} {operation.path}"
        ids = path_ids(world, operation.path)
        for role in ROLES:
            headers = {"Authorization": f"Token {world.token(role)}"}
            for mode in MODES:
                _run_one(operation, mode, ids, label, role, headers, app, tally)


def _run_one(
    operation: Any,
    mode: GenerationMode,
    ids: list[int],
    label: str,
    role: str,
    headers: dict[str, str],
    app: RolledBackApp,
    tally: Tally,
) -> None:
    per_run = max(1, EXAMPLES // (len(ROLES) * len(MODES)))

    @hypothesis.settings(
        max_examples=per_run,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not RANDOM,
    )
    @given(case=strategy(operation, mode, ids))
    def run(case: Any) -> None:
        tally.examples[label] += 1
        app.errors.clear()
        try:
            response = case.call(headers=headers, app=app)
        except Exception as exc:  # the app itself blew up under the transport
            tally.crashes.append(f"{label} as {role}: {exc!r}")
            return
        tally.statuses[label][response.status_code] += 1
        if response.status_code == 400 and b'"out_of_range"' in response.content:
            # The exception handler's safety net caught a database error: some check that
            # should have named the field is missing.
            tally.failures[(label, "unnamed 400")].append(
                f"as {role}: {case.as_curl_command(headers=headers)[:400]}"
            )
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (FailureGroup, Failure) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            for failure in failures:
                kind = KIND.get(type(failure).__name__, type(failure).__name__)
                detail = (
                    f"as {role}: {failure.title}: {str(failure.message)[:300]}\n"
                    f"  {case.as_curl_command(headers=headers)[:400]}"
                )
                if app.errors:
                    detail += "\n" + app.errors[-1]
                tally.failures[(label, kind)].append(detail)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing invalid to send (an operation without parameters or body has no negative
        # case): the positive run covers it.
        tally.no_negative.add(label)


def report(tally: Tally, schema_operations: int, seconds: float) -> str:
    lines = [
        f"[fuzz] {schema_operations} operations, {sum(tally.examples.values())} examples "
        f"({EXAMPLES} per operation requested) in {seconds:.0f} s",
        f"[fuzz] 5xx: {tally.count('5xx')}, schema-conformance failures: "
        f"{tally.count('schema')}, undocumented status codes: {tally.count('status code')}, "
        f"content-type failures: {tally.count('content type')}, crashes: {len(tally.crashes)}, "
        f"database errors caught by the safety net: {tally.count('unnamed 400')}",
    ]
    for (label, kind), details in sorted(tally.failures.items()):
        lines.append(f"  {kind:13} x{len(details):<4} {label}")
        lines.append("    " + details[0].replace("\n", "\n    "))
    for crash in tally.crashes[:10]:
        lines.append(f"  crash: {crash}")
    return "\n".join(lines)


def test_the_api_answers_every_generated_request_as_documented(world, app, figure):
    # The schema is for signed-in users (401 without a session or token).
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        app,
        headers={"Authorization": f"Token {world.token('manager')}"},
    )
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith(ONLY)]
    tally = Tally()
    started = time.monotonic()
    fuzz(schema, world, app, tally)
    seconds = time.monotonic() - started
    text = report(tally, len(operations), seconds)
    print("\n" + text)
    covered = sum(1 for op in operations if tally.examples[f"{op.method.upper()} {op.path}"])
    per_op = min(tally.examples.values())
    figure("3 fuzz", "operations covered", "all", f"{covered} of {len(operations)}")
    figure(
        "3 fuzz",
        "examples per operation (min)",
        f"{EXAMPLES} (half without an invalid form)",
        f"{per_op}; {sum(tally.examples.values())} in all",
    )
    figure("3 fuzz", "5xx answers", "0", str(tally.count("5xx") + len(tally.crashes)))
    figure("3 fuzz", "schema-conformance failures", "0", str(tally.count("schema")))
    figure(
        "3 fuzz",
        "undocumented status / content type",
        "0",
        f"{tally.count('status code')} / {tally.count('content type')}",
    )
    assert covered == len(operations)
    assert not tally.failures and not tally.crashes, text

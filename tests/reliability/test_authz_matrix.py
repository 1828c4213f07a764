"""Authorization matrix: role x action x owner, from declared expectation tables.

Roles: anonymous, marketer, rep, manager, admin (superuser). Owners, from the rep's side: the
rep's own handoff, a same-team rep's, another team's, and an unassigned one (manager's queue).
Every URL the resolver knows must have an expectation here (a new endpoint without one fails
`test_every_route_has_a_declared_expectation`); every registered admin model likewise.

Outcomes: OK (allowed: 2xx, or for a page's POST the change happened), DENY (401/403, a login
redirect, or a page's POST refused with nothing changed), HIDDEN (404: not one the user may
see; never a 403 that would confirm it exists). Each request runs in a savepoint that is rolled
back, so every row of the table meets the same world; writes are checked for their effect
inside it (a refused write must leave the row unchanged).

Then: ids of other reps' objects leaked through lists, filters, search, pages or exports (0),
and mass assignment of protected fields through POST/PATCH (0).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from feedback import services as feedback_services
from feedback.models import RejectionReason, ReturnFeedback
from handoff.models import AutoPromotionRule, Handoff, TimeOff
from integrations import services as integration_services
from integrations.models import Endpoint
from leads.imports import services as import_services
from leads.models import (
    Account,
    EngagementEvent,
    EngagementRule,
    FitRule,
    Lead,
    LeadImport,
    PqlCriterion,
    ScoringConfig,
)
from pipeline import services as pipeline_services
from pipeline.models import Opportunity
from tests.reliability.security_world import (
    OWNERS,
    ROLES,
    SecurityWorld,
    make_security_world,
    owner_of,
)

PASSWORD = "pass-1234-word"
OK, DENY, HIDDEN = "ok", "deny", "hidden"
REP_OWN = {"own": OK, "same_team": HIDDEN, "other_team": HIDDEN, "unassigned": HIDDEN}
REP_OWN_DENIED = {"own": DENY, "same_team": HIDDEN, "other_team": HIDDEN, "unassigned": HIDDEN}


def everyone(outcome: str, anonymous: str = DENY) -> dict[str, Any]:
    return {"anonymous": anonymous, **{r: outcome for r in ROLES if r != "anonymous"}}


def roles(*, marketer: Any, rep: Any, manager: Any, admin: Any = OK) -> dict[str, Any]:
    return {"anonymous": DENY, "marketer": marketer, "rep": rep, "manager": manager, "admin": admin}


ALL_SIGNED_IN = everyone(OK)
WRITERS = roles(marketer=OK, rep=DENY, manager=OK)  # marketing and managers
MANAGERS = roles(marketer=DENY, rep=DENY, manager=OK)
MARKETING_ONLY = roles(marketer=OK, rep=DENY, manager=DENY)
SALES_WORK = roles(marketer=DENY, rep=REP_OWN, manager=OK)  # accept, ask, qualify, touch, return
READ_HANDOFF = roles(marketer=OK, rep=REP_OWN, manager=OK)
SALES_SIDE = roles(marketer=DENY, rep=OK, manager=OK)  # time off: a rep's own, managers' all


# --- the world of the matrix -------------------------------------------------------------------


@dataclass
class MatrixWorld:
    world: SecurityWorld
    # (status, owner) -> handoff; "returned" ones carry a feedback row, "disputed" a dispute.
    handoffs: dict[tuple[str, str], Handoff] = field(default_factory=dict)
    fresh_lead: Lead | None = None
    opportunities: dict[str, Opportunity] = field(default_factory=dict)
    time_off: TimeOff | None = None
    disqualified_lead: Lead | None = None

    def handoff(self, status: str, owner: str) -> Handoff:
        return self.handoffs[(status, owner)]

    def feedback(self, status: str, owner: str) -> ReturnFeedback:
        return ReturnFeedback.objects.get(handoff=self.handoff(status, owner))


@pytest.fixture
def mw(db) -> MatrixWorld:
    world = make_security_world(handoffs=False)
    mw = MatrixWorld(world=world)
    for owner in OWNERS:
        to = owner_of(owner)
        mw.handoffs[("pending", owner)] = world.promote(to)
        mw.handoffs[("waiting", owner)] = world.waiting(to) if to else _waiting_unassigned(world)
        mw.handoffs[("accepted", owner)] = world.accepted(to) if to else _accepted_by_manager(world)
        returned = world.returned(to) if to else _returned_by_manager(world)
        mw.handoffs[("returned", owner)] = returned
        disputed = world.returned(to) if to else _returned_by_manager(world)
        feedback_services.feedback_acknowledge(
            feedback=ReturnFeedback.objects.get(handoff=disputed),
            actor=world.users["marketer"],
            reply="We disagree.",
            follow_up="dispute",
        )
        mw.handoffs[("disputed", owner)] = disputed
        # A qualified handoff to open an opportunity from, and one with an open opportunity.
        mw.handoffs[("qualified", owner)] = _qualified(world, to)
        grown = _qualified(world, to)
        mw.opportunities[owner] = pipeline_services.opportunity_open(
            handoff=grown,
            actor=world.users[to] if to else world.users["manager"],
            amount="1000",
            expected_close_date=timezone.localdate(),
        )
    mw.fresh_lead = world.lead()
    AutoPromotionRule.objects.create(name="Trials", event_kinds=["trial_signup"])
    for owner in OWNERS:
        lead = mw.handoff("pending", owner).lead
        lead.account = Account.objects.create(
            domain=f"{owner}.matrix.example", created_at=NOW(), updated_at=NOW()
        )
        lead.save(update_fields=["account"])
    PqlCriterion.objects.create(name="Trial in a week", kind="trial", within_days=7)
    mw.time_off = TimeOff.objects.create(
        rep=world.users["rep"], starts_on=dt.date(2031, 1, 1), ends_on=dt.date(2031, 1, 2)
    )
    # Returned leads whose cooldown is over: promotable again (by marketing, not by a rep).
    Lead.objects.filter(stage="recycled").update(recycle_until=timezone.now())
    # One event kind without a rule, for creating one.
    EngagementRule.objects.filter(kind="product_usage").delete()
    gone = world.promote("rep")
    feedback_services.feedback_return_handoff(handoff=gone, actor=world.users["rep"], reason="spam")
    mw.disqualified_lead = Lead.objects.get(pk=gone.lead_id)
    assert mw.disqualified_lead.stage == "disqualified"
    return mw


def _waiting_unassigned(world: SecurityWorld) -> Handoff:
    from handoff import services

    return services.handoff_request_info(
        handoff=world.promote(None), actor=world.users["manager"], question="?"
    )


def _qualified(world: SecurityWorld, to: str | None) -> Handoff:
    from handoff import services

    handoff = world.accepted(to) if to else _accepted_by_manager(world)
    actor = world.users[to] if to else world.users["manager"]
    return services.handoff_qualify(handoff=handoff, actor=actor, bant=dict(BANT))


def _accepted_by_manager(world: SecurityWorld) -> Handoff:
    # A manager accepting an unassigned handoff takes it: it becomes theirs, unassigned no more.
    # The "unassigned" accepted handoff is therefore one a manager took (not a rep's).
    from handoff import services

    return services.handoff_accept(handoff=world.promote(None), actor=world.users["manager"])


def _returned_by_manager(world: SecurityWorld) -> Handoff:
    handoff = world.promote(None)
    feedback_services.feedback_return_handoff(
        handoff=handoff, actor=world.users["manager"], reason="not-ready"
    )
    handoff.refresh_from_db()
    return handoff


# --- the tables ---------------------------------------------------------------------------------

Target = Callable[[MatrixWorld, str], Any]  # (world, owner) -> the object the URL names


def handoff_in(status: str) -> Target:
    return lambda mw, owner: mw.handoff(status, owner)


def lead_of(status: str = "pending") -> Target:
    return lambda mw, owner: mw.handoff(status, owner).lead


def account_of(mw: MatrixWorld, owner: str) -> Any:
    return mw.handoff("pending", owner).lead.account


def feedback_of(status: str) -> Target:
    return lambda mw, owner: mw.feedback(status, owner)


@dataclass(frozen=True)
class Action:
    """One request of the matrix: a route, a method, the object it names (or none), a body,
    what each role (and owner) should get, and, for writes, how to see that it happened."""

    route: str
    method: str = "GET"
    target: Target | None = None
    body: Callable[[MatrixWorld, Any], dict[str, Any]] | None = None
    expect: dict[str, Any] = field(default_factory=dict)
    effect: Callable[[MatrixWorld, Any], bool] | None = None
    api: bool = True
    label: str = ""

    def name(self) -> str:
        return self.label or f"{self.method} {self.route}"


def status_is(status: str) -> Callable[[MatrixWorld, Any], bool]:
    return lambda mw, obj: Handoff.objects.filter(pk=obj.pk, status=status).exists()


def reassign_body(mw: Any, handoff: Any) -> dict[str, Any]:
    """To a named rep other than the current one: "next in rotation" with nobody free (the
    overflow team has no reps) is refused as a conflict, which is not what this row checks."""
    users = mw.world.users
    rep = users["rep_mate"] if handoff.assigned_to_id != users["rep_mate"].pk else users["rep"]
    return {"reason": "Holiday", "to_rep": rep.pk}


def new_attempt(mw: MatrixWorld, obj: Any) -> bool:
    return Handoff.objects.filter(previous=obj).exists()


def first_touched(mw: MatrixWorld, obj: Any) -> bool:
    return Handoff.objects.filter(pk=obj.pk, first_touch_at__isnull=False).exists()


def lead_exists(email: str) -> Callable[[MatrixWorld, Any], bool]:
    return lambda mw, obj: Lead.objects.filter(email=email).exists()


def acknowledged(mw: MatrixWorld, obj: Any) -> bool:
    return ReturnFeedback.objects.filter(pk=obj.pk, acknowledged_at__isnull=False).exists()


def resolved(mw: MatrixWorld, obj: Any) -> bool:
    return ReturnFeedback.objects.filter(pk=obj.pk, dispute_status="upheld").exists()


def opportunity_of(mw: MatrixWorld, owner: str) -> Opportunity:
    return mw.opportunities[owner]


def opened(mw: MatrixWorld, obj: Any) -> bool:
    return Opportunity.objects.filter(handoff=obj).exists()


def stage_is(stage: str) -> Callable[[MatrixWorld, Any], bool]:
    return lambda mw, obj: Opportunity.objects.filter(pk=obj.pk, stage=stage).exists()


def amount_is(amount: str) -> Callable[[MatrixWorld, Any], bool]:
    return lambda mw, obj: Opportunity.objects.filter(pk=obj.pk, amount=amount).exists()


OPEN_BODY = {"amount": "500", "expected_close_date": "2030-01-31"}
LOSE_BODY = {"reason": "price", "lead_effect": "recycle"}


def promoted(mw: MatrixWorld, obj: Any) -> bool:
    return Handoff.objects.filter(lead=obj).exists()


def _endpoint(mw: MatrixWorld, owner: Any) -> Endpoint:
    endpoint = Endpoint.objects.order_by("pk").first()
    if endpoint is None:
        endpoint = integration_services.endpoint_create(
            data={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
        )
    return endpoint


BANT = {"budget": "50k", "authority": "CFO", "need": "Reports", "timeline": "Q3"}
NOW = timezone.now


def _rule_body(mw: MatrixWorld, obj: Any) -> dict[str, Any]:
    return {"name": "Matrix rule", "field": "industry", "operator": "eq", "value": "x", "points": 1}


API: list[Action] = [
    # leads
    Action("leads-api:lead-list", expect=ALL_SIGNED_IN),
    Action(
        "leads-api:lead-list",
        "POST",
        body=lambda mw, o: {"email": "new.one@matrix.example"},
        expect=WRITERS,
        effect=lead_exists("new.one@matrix.example"),
    ),
    Action(
        "leads-api:lead-bulk",
        "POST",
        body=lambda mw, o: {"leads": [{"email": "bulk.one@matrix.example"}]},
        expect=WRITERS,
        effect=lead_exists("bulk.one@matrix.example"),
    ),
    Action("leads-api:lead-detail", target=lead_of(), expect=READ_HANDOFF),
    Action(
        "leads-api:lead-detail",
        "PATCH",
        target=lead_of(),
        body=lambda mw, o: {"company": "Zed"},
        expect=WRITERS,
        effect=lambda mw, o: Lead.objects.filter(pk=o.pk, company="Zed").exists(),
    ),
    Action("leads-api:lead-events", target=lead_of(), expect=READ_HANDOFF),
    Action(
        "leads-api:lead-events",
        "POST",
        target=lead_of(),
        body=lambda mw, o: {"kind": "page_view", "occurred_at": NOW().isoformat()},
        expect=WRITERS,
        effect=lambda mw, o: EngagementEvent.objects.filter(lead=o, kind="page_view").exists(),
    ),
    Action(
        "leads-api:event-bulk",
        "POST",
        body=lambda mw, o: {
            "events": [
                {"lead_id": mw.fresh_lead.pk, "kind": "page_view", "occurred_at": NOW().isoformat()}
            ]
        },
        expect=WRITERS,
        effect=lambda mw, o: EngagementEvent.objects.filter(
            lead=mw.fresh_lead, kind="page_view"
        ).exists(),
    ),
    Action("leads-api:scoring-settings", expect=ALL_SIGNED_IN),
    Action(
        "leads-api:scoring-settings",
        "PATCH",
        body=lambda mw, o: {"mql_threshold": 61},
        expect=WRITERS,
        effect=lambda mw, o: ScoringConfig.objects.filter(mql_threshold=61).exists(),
    ),
    Action("leads-api:fit-rule-list", expect=ALL_SIGNED_IN),
    Action(
        "leads-api:fit-rule-list",
        "POST",
        body=_rule_body,
        expect=WRITERS,
        effect=lambda mw, o: FitRule.objects.filter(name="Matrix rule").exists(),
    ),
    Action(
        "leads-api:fit-rule-detail",
        target=lambda mw, o: FitRule.objects.first(),
        expect=ALL_SIGNED_IN,
    ),
    Action(
        "leads-api:fit-rule-detail",
        "PATCH",
        target=lambda mw, o: FitRule.objects.first(),
        body=lambda mw, o: {"points": 77},
        expect=WRITERS,
        effect=lambda mw, o: FitRule.objects.filter(pk=o.pk, points=77).exists(),
    ),
    Action(
        "leads-api:fit-rule-detail",
        "DELETE",
        target=lambda mw, o: FitRule.objects.first(),
        expect=WRITERS,
        effect=lambda mw, o: not FitRule.objects.filter(pk=o.pk).exists(),
    ),
    Action("leads-api:pql-criterion-list", expect=ALL_SIGNED_IN),
    Action(
        "leads-api:pql-criterion-list",
        "POST",
        body=lambda mw, o: {"name": "Matrix PQL", "kind": "trial", "within_days": 7},
        expect=WRITERS,
        effect=lambda mw, o: PqlCriterion.objects.filter(name="Matrix PQL").exists(),
    ),
    Action(
        "leads-api:pql-criterion-detail",
        target=lambda mw, o: PqlCriterion.objects.first(),
        expect=ALL_SIGNED_IN,
    ),
    Action(
        "leads-api:pql-criterion-detail",
        "PATCH",
        target=lambda mw, o: PqlCriterion.objects.first(),
        body=lambda mw, o: {"within_days": 21},
        expect=WRITERS,
        effect=lambda mw, o: PqlCriterion.objects.filter(pk=o.pk, within_days=21).exists(),
    ),
    Action(
        "leads-api:pql-criterion-detail",
        "DELETE",
        target=lambda mw, o: PqlCriterion.objects.first(),
        expect=WRITERS,
        effect=lambda mw, o: not PqlCriterion.objects.filter(pk=o.pk).exists(),
    ),
    Action("leads-api:engagement-rule-list", expect=ALL_SIGNED_IN),
    Action(
        "leads-api:engagement-rule-list",
        "POST",
        body=lambda mw, o: {"kind": "product_usage", "points": 3},
        expect=WRITERS,
        effect=lambda mw, o: EngagementRule.objects.filter(kind="product_usage").exists(),
    ),
    Action(
        "leads-api:engagement-rule-detail",
        target=lambda mw, o: EngagementRule.objects.first(),
        expect=ALL_SIGNED_IN,
    ),
    Action(
        "leads-api:engagement-rule-detail",
        "PATCH",
        target=lambda mw, o: EngagementRule.objects.first(),
        body=lambda mw, o: {"points": 9},
        expect=WRITERS,
        effect=lambda mw, o: EngagementRule.objects.filter(pk=o.pk, points=9).exists(),
    ),
    Action(
        "leads-api:engagement-rule-detail",
        "DELETE",
        target=lambda mw, o: EngagementRule.objects.first(),
        expect=WRITERS,
        effect=lambda mw, o: not EngagementRule.objects.filter(pk=o.pk).exists(),
    ),
    # handoffs
    Action("handoff-api:handoff-list", expect=ALL_SIGNED_IN),
    Action("handoff-api:handoff-detail", target=handoff_in("pending"), expect=READ_HANDOFF),
    Action(
        "handoff-api:handoff-accept",
        "POST",
        target=handoff_in("pending"),
        expect=SALES_WORK,
        effect=status_is("accepted"),
    ),
    Action(
        "handoff-api:handoff-request-info",
        "POST",
        target=handoff_in("pending"),
        body=lambda mw, o: {"question": "Budget?"},
        expect=SALES_WORK,
        effect=status_is("waiting"),
    ),
    Action(
        "handoff-api:handoff-provide-info",
        "POST",
        target=handoff_in("waiting"),
        body=lambda mw, o: {"answer": "Yes."},
        expect=roles(marketer=OK, rep=REP_OWN_DENIED, manager=OK),
        effect=status_is("pending"),
    ),
    Action(
        "handoff-api:handoff-qualify",
        "POST",
        target=handoff_in("accepted"),
        body=lambda mw, o: {"bant": BANT},
        expect=SALES_WORK,
        effect=status_is("qualified"),
    ),
    Action(
        "handoff-api:handoff-first-touch",
        "POST",
        target=handoff_in("accepted"),
        body=lambda mw, o: {"channel": "call"},
        expect=SALES_WORK,
        effect=first_touched,
    ),
    Action(
        "handoff-api:handoff-reassign",
        "POST",
        target=handoff_in("pending"),
        body=lambda mw, o: reassign_body(mw, o),
        expect=roles(marketer=DENY, rep=REP_OWN_DENIED, manager=OK),
        effect=new_attempt,
    ),
    Action(
        "handoff-api:lead-promote",
        "POST",
        target=lambda mw, o: mw.fresh_lead,
        body=lambda mw, o: {"note": "Go: asked for a demo this week."},
        expect=roles(marketer=OK, rep=HIDDEN, manager=OK),
        effect=promoted,
    ),
    Action(
        "handoff-api:lead-promote",
        "POST",
        target=lead_of("returned"),
        body=lambda mw, o: {"note": "Go: asked for a demo this week."},
        label="POST leads/{id}/promote (a rep's own lead)",
        expect=roles(
            marketer=OK,
            rep={"own": DENY, "same_team": HIDDEN, "other_team": HIDDEN, "unassigned": HIDDEN},
            manager=OK,
        ),
        effect=lambda mw, o: Handoff.objects.filter(lead=o, status="pending").exists(),
    ),
    Action(
        "handoff-api:lead-promotion-preview",
        target=lambda mw, o: mw.fresh_lead,
        expect=roles(marketer=OK, rep=DENY, manager=OK),
    ),
    Action("handoff-api:metrics-sla", expect=MANAGERS),
    # auto-promotion rules: read by everyone signed in, written by marketing and managers
    Action("handoff-api:auto-promotion-rule-list", expect=ALL_SIGNED_IN),
    Action(
        "handoff-api:auto-promotion-rule-list",
        "POST",
        body=lambda mw, o: {"name": "Matrix auto", "event_kinds": ["contact_form"]},
        expect=WRITERS,
        effect=lambda mw, o: AutoPromotionRule.objects.filter(name="Matrix auto").exists(),
    ),
    Action(
        "handoff-api:auto-promotion-rule-detail",
        target=lambda mw, o: AutoPromotionRule.objects.first(),
        expect=ALL_SIGNED_IN,
    ),
    Action(
        "handoff-api:auto-promotion-rule-detail",
        "PATCH",
        target=lambda mw, o: AutoPromotionRule.objects.first(),
        body=lambda mw, o: {"active": False},
        expect=WRITERS,
        effect=lambda mw, o: AutoPromotionRule.objects.filter(pk=o.pk, active=False).exists(),
    ),
    Action(
        "handoff-api:auto-promotion-rule-detail",
        "DELETE",
        target=lambda mw, o: AutoPromotionRule.objects.first(),
        expect=WRITERS,
        effect=lambda mw, o: not AutoPromotionRule.objects.filter(pk=o.pk).exists(),
    ),
    Action("handoff-api:account-list", expect=ALL_SIGNED_IN),
    Action("handoff-api:account-detail", target=account_of, expect=READ_HANDOFF),
    Action("handoff-api:time-off-list", expect=SALES_SIDE),
    Action(
        "handoff-api:time-off-list",
        "POST",
        body=lambda mw, o: {
            "rep": mw.world.users["rep"].pk,
            "starts_on": "2032-05-04",
            "ends_on": "2032-05-05",
        },
        expect=SALES_SIDE,
        effect=lambda mw, o: TimeOff.objects.filter(starts_on=dt.date(2032, 5, 4)).exists(),
    ),
    Action(
        "handoff-api:time-off-detail",
        "DELETE",
        target=lambda mw, o: mw.time_off,
        expect=SALES_SIDE,
        effect=lambda mw, o: not TimeOff.objects.filter(pk=o.pk).exists(),
    ),
    # feedback
    Action("feedback-api:reason-list", expect=ALL_SIGNED_IN),
    Action("feedback-api:feedback-list", expect=ALL_SIGNED_IN),
    Action("feedback-api:dispute-list", expect=MANAGERS),
    Action(
        "feedback-api:feedback-acknowledge",
        "POST",
        target=feedback_of("returned"),
        body=lambda mw, o: {"reply": "Thanks"},
        expect=MARKETING_ONLY,
        effect=acknowledged,
    ),
    Action(
        "feedback-api:feedback-resolve-dispute",
        "POST",
        target=feedback_of("disputed"),
        body=lambda mw, o: {"upheld": True, "resolution": "Stands."},
        expect=MANAGERS,
        effect=resolved,
    ),
    Action(
        "feedback-api:lead-reopen",
        "POST",
        target=lambda mw, o: mw.disqualified_lead,
        body=lambda mw, o: {},
        expect=MANAGERS,
        effect=lambda mw, o: Lead.objects.filter(pk=o.pk, stage="lead").exists(),
    ),
    Action(
        "feedback-api:handoff-return",
        "POST",
        target=handoff_in("pending"),
        body=lambda mw, o: {"reason": "not-ready"},
        expect=SALES_WORK,
        effect=status_is("returned"),
    ),
    Action(
        "feedback-api:handoff-previous-returns", target=handoff_in("pending"), expect=READ_HANDOFF
    ),
    Action("feedback-api:feedback-metrics", expect=roles(marketer=OK, rep=DENY, manager=OK)),
    # integrations: endpoints are the managers'; CRM events carry a signature, not a login
    Action("integrations-api:endpoint-list", expect=MANAGERS),
    Action(
        "integrations-api:endpoint-list",
        "POST",
        body=lambda mw, o: {"url": "http://127.0.0.1:9/matrix", "event_types": ["*"]},
        expect=MANAGERS,
        effect=lambda mw, o: Endpoint.objects.filter(url="http://127.0.0.1:9/matrix").exists(),
    ),
    Action("integrations-api:endpoint-detail", target=_endpoint, expect=MANAGERS),
    Action(
        "integrations-api:endpoint-detail",
        "PATCH",
        target=_endpoint,
        body=lambda mw, o: {"description": "Patched"},
        expect=MANAGERS,
        effect=lambda mw, o: Endpoint.objects.filter(pk=o.pk, description="Patched").exists(),
    ),
    Action(
        "integrations-api:endpoint-detail",
        "DELETE",
        target=_endpoint,
        expect=MANAGERS,
        effect=lambda mw, o: not Endpoint.objects.filter(pk=o.pk).exists(),
    ),
    Action(
        "integrations-api:endpoint-rotate-secret",
        "POST",
        target=_endpoint,
        expect=MANAGERS,
        effect=lambda mw, o: Endpoint.objects.filter(pk=o.pk).exclude(secret=o.secret).exists(),
    ),
    Action(
        "integrations-api:crm-events",
        "POST",
        body=lambda mw, o: {
            "type": "contact.updated",
            "data": {"email": mw.fresh_lead.email, "changes": {"title": "Hacked"}},
        },
        expect=everyone(DENY),
        effect=lambda mw, o: Lead.objects.filter(title="Hacked").exists(),
    ),
    # opportunities
    Action(
        "pipeline-api:handoff-open-opportunity",
        "POST",
        target=handoff_in("qualified"),
        body=lambda mw, o: dict(OPEN_BODY),
        expect=SALES_WORK,
        effect=opened,
    ),
    Action("pipeline-api:opportunity-list", expect=ALL_SIGNED_IN),
    Action("pipeline-api:opportunity-detail", target=opportunity_of, expect=READ_HANDOFF),
    Action(
        "pipeline-api:opportunity-detail",
        "PATCH",
        target=opportunity_of,
        body=lambda mw, o: {"amount": "1234.56"},
        expect=SALES_WORK,
        effect=amount_is("1234.56"),
    ),
    Action(
        "pipeline-api:opportunity-win",
        "POST",
        target=opportunity_of,
        body=lambda mw, o: {},
        expect=SALES_WORK,
        effect=stage_is("won"),
    ),
    Action(
        "pipeline-api:opportunity-lose",
        "POST",
        target=opportunity_of,
        body=lambda mw, o: dict(LOSE_BODY),
        expect=SALES_WORK,
        effect=stage_is("lost"),
    ),
    Action(
        "pipeline-api:opportunity-sync",
        "POST",
        body=lambda mw, o: {
            "opportunities": [
                {"external_id": "MATRIX-1", "email": mw.handoff("qualified", "own").lead.email}
            ]
        },
        expect=MANAGERS,
        effect=lambda mw, o: Opportunity.objects.filter(external_id="MATRIX-1").exists(),
    ),
    Action("pipeline-api:metrics-revenue", expect=roles(marketer=OK, rep=DENY, manager=OK)),
    Action(
        "feedback-api:contradicted-rule-apply",
        "POST",
        body=lambda mw, o: {"rule": FitRule.objects.order_by("id").first().pk, "points": 3},
        expect=WRITERS,
        effect=lambda mw, o: FitRule.objects.filter(points=3).exists(),
    ),
    # project-wide: the schema and its docs are for signed-in users; the token endpoint is the
    # way in
    Action("schema", expect=everyone(OK)),
    Action("api-docs", expect=everyone(OK)),
    Action("api-redoc", expect=everyone(OK)),
    Action(
        "auth-token",
        "POST",
        body=lambda mw, o: {"username": "mia.marketer", "password": PASSWORD},
        expect=everyone(OK, anonymous=OK),
    ),
]

MARKETING_PAGE = roles(marketer=OK, rep=DENY, manager=OK)
SALES_PAGE = roles(marketer=DENY, rep=OK, manager=OK)


def marketer_import(status: str = "uploaded") -> Target:
    """An import of the matrix's marketer, in `status` (uploaded, checked or done)."""

    def make(mw: MatrixWorld, owner: str) -> LeadImport:
        actor = mw.world.users["marketer"]
        imp = import_services.lead_import_start(
            actor=actor, file_name="leads.csv", content=b"email\nimported@matrix.example\n"
        )
        if status in ("checked", "done"):
            import_services.lead_import_check(
                lead_import=imp, columns=imp.columns, skip_bad_rows=False, actor=actor
            )
        if status == "done":
            import_services.lead_import_queue(lead_import=imp)
            import_services.lead_import_run(lead_import_id=imp.pk)
        imp.refresh_from_db()
        return imp

    return make


def import_is(status: str) -> Callable[[MatrixWorld, Any], bool]:
    return lambda mw, obj: LeadImport.objects.filter(pk=obj.pk, status=status).exists()


PAGES: list[Action] = [
    Action("home", expect=everyone(OK), api=False),
    Action("settings", expect=everyone(OK), api=False),
    Action("login", expect=everyone(OK, anonymous=OK), api=False),
    Action("logout", "POST", expect=everyone(OK, anonymous=OK), api=False),
    Action("password_reset", expect=everyone(OK, anonymous=OK), api=False),
    Action("password_reset_done", expect=everyone(OK, anonymous=OK), api=False),
    Action("password_reset_complete", expect=everyone(OK, anonymous=OK), api=False),
    Action("password_reset_confirm", expect=everyone(OK, anonymous=OK), api=False),
    Action("handoff:lead-list", expect=MARKETING_PAGE, api=False),
    Action("handoff:lead-detail", target=lead_of(), expect=READ_HANDOFF, api=False),
    Action("handoff:lead-promote", target=lambda mw, o: mw.fresh_lead, expect=MARKETING_PAGE,
           api=False),
    Action("handoff:lead-promote", "POST", target=lambda mw, o: mw.fresh_lead,
           body=lambda mw, o: {"note": "Go: asked for a demo this week."}, expect=MARKETING_PAGE, effect=promoted, api=False),
    Action("handoff:lead-promote-preview", target=lambda mw, o: mw.fresh_lead,
           expect=MARKETING_PAGE, api=False),
    Action("handoff:questions", expect=MARKETING_PAGE, api=False),
    Action("leads:import", expect=MARKETING_PAGE, api=False),
    Action("leads:import-detail", target=marketer_import(), expect=MARKETING_PAGE, api=False),
    Action("leads:import-detail", "POST", target=marketer_import(),
           body=lambda mw, o: {"col_0": "email"}, expect=MARKETING_PAGE,
           effect=import_is("checked"), api=False),
    Action("leads:import-run", "POST", target=marketer_import("checked"),
           expect=MARKETING_PAGE, effect=import_is("queued"), api=False),
    Action("leads:import-progress", target=marketer_import("checked"), expect=MARKETING_PAGE,
           api=False),
    Action("leads:import-undo", "POST", target=marketer_import("done"), expect=MARKETING_PAGE,
           effect=import_is("undone"), api=False),
    Action("leads:import-rejected", target=marketer_import("done"), expect=MARKETING_PAGE,
           api=False),
    Action("handoff:my-queue", expect=SALES_PAGE, api=False),
    Action("handoff:my-accepted", expect=SALES_PAGE, api=False),
    Action("handoff:manager-queue", expect=MANAGERS, api=False),
    Action("handoff:account-list", expect=ALL_SIGNED_IN, api=False),
    Action("handoff:account-detail", target=account_of, expect=READ_HANDOFF, api=False),
    Action("handoff:time-off", expect=SALES_SIDE, api=False),
    Action("handoff:time-off", "POST",
           body=lambda mw, o: {"rep": mw.world.users["rep"].pk, "starts_on": "2032-05-04",
                               "ends_on": "2032-05-05"},
           expect=SALES_SIDE, api=False,
           effect=lambda mw, o: TimeOff.objects.filter(starts_on=dt.date(2032, 5, 4)).exists()),
    Action("handoff:time-off-delete", "POST", target=lambda mw, o: mw.time_off,
           expect=SALES_SIDE, api=False,
           effect=lambda mw, o: not TimeOff.objects.filter(pk=o.pk).exists()),
    Action("handoff:handoff-detail", target=handoff_in("pending"), expect=READ_HANDOFF,
           api=False),
    Action("handoff:handoff-accept", "POST", target=handoff_in("pending"), expect=SALES_WORK,
           effect=status_is("accepted"), api=False),
    Action("handoff:handoff-ask", "POST", target=handoff_in("pending"),
           body=lambda mw, o: {"question": "Budget?"}, expect=SALES_WORK,
           effect=status_is("waiting"), api=False),
    Action("handoff:handoff-answer", "POST", target=handoff_in("waiting"),
           body=lambda mw, o: {"answer": "Yes."},
           expect=roles(marketer=OK, rep=REP_OWN_DENIED, manager=OK),
           effect=status_is("pending"), api=False),
    Action("handoff:handoff-first-touch", "POST", target=handoff_in("accepted"),
           body=lambda mw, o: {"channel": "call"}, expect=SALES_WORK, effect=first_touched,
           api=False),
    Action("handoff:handoff-qualify", "POST", target=handoff_in("accepted"),
           body=lambda mw, o: dict(BANT), expect=SALES_WORK, effect=status_is("qualified"),
           api=False),
    Action("handoff:handoff-reassign", "POST", target=handoff_in("pending"),
           body=lambda mw, o: reassign_body(mw, o),
           expect=roles(marketer=DENY, rep=REP_OWN_DENIED, manager=OK), effect=new_attempt,
           api=False),
    Action("feedback:returned-queue", expect=MARKETING_PAGE, api=False),
    Action("feedback:feedback-acknowledge", "POST", target=feedback_of("returned"),
           body=lambda mw, o: {"reply": "Thanks", "follow_up": ""},
           expect=roles(marketer=OK, rep=DENY, manager=DENY), effect=acknowledged, api=False),
    Action("feedback:handoff-return", "POST", target=handoff_in("pending"),
           body=lambda mw, o: {"reason": "not-ready"}, expect=SALES_WORK,
           effect=status_is("returned"), api=False),
    Action("feedback:report", expect=MARKETING_PAGE, api=False),
    Action("pipeline:opportunity-open", "POST", target=handoff_in("qualified"),
           body=lambda mw, o: dict(OPEN_BODY), expect=SALES_WORK, effect=opened, api=False),
    Action("pipeline:opportunity-update", "POST", target=opportunity_of,
           body=lambda mw, o: {"amount": "1234.56", "expected_close_date": "2030-01-31"},
           expect=SALES_WORK, effect=amount_is("1234.56"), api=False),
    Action("pipeline:opportunity-win", "POST", target=opportunity_of, body=lambda mw, o: {},
           expect=SALES_WORK, effect=stage_is("won"), api=False),
    Action("pipeline:opportunity-lose", "POST", target=opportunity_of,
           body=lambda mw, o: dict(LOSE_BODY), expect=SALES_WORK, effect=stage_is("lost"),
           api=False),
    Action("feedback:dispute-inbox", expect=MANAGERS, api=False),
    Action("feedback:dispute-resolve", "POST", target=feedback_of("disputed"),
           body=lambda mw, o: {"decision": "uphold", "resolution": "Stands."},
           expect=MANAGERS, effect=resolved, api=False),
    Action("feedback:digest", expect=MARKETING_PAGE, api=False),
    Action("feedback:contradicted-rule-apply", "POST",
           body=lambda mw, o: {"rule": FitRule.objects.order_by("id").first().pk, "points": 3},
           expect=MARKETING_PAGE, effect=lambda mw, o: FitRule.objects.filter(points=3).exists(),
           api=False),
    Action("feedback:dashboard", expect=MANAGERS, api=False),
]  # fmt: skip

ACTIONS = API + PAGES


# --- running a row ----------------------------------------------------------------------------


def client_for(mw: MatrixWorld, role: str, *, api: bool) -> Client:
    # A crash is a row of the report (a 500), not the end of the run.
    client = Client(raise_request_exception=False)
    user = mw.world.user(role)
    if user is not None:
        if api:
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {mw.world.token(role)}"
        else:
            client.force_login(user)
    return client


def url_of(action: Action, obj: Any) -> str:
    if action.route == "password_reset_confirm":
        return reverse(action.route, kwargs={"uidb64": "MQ", "token": "set-password"})
    if obj is None:
        return reverse(action.route)
    return reverse(action.route, kwargs={"pk": obj.pk})


def classify(action: Action, response: Any, changed: bool | None) -> str:
    code = response.status_code
    if code == 404:
        return HIDDEN
    if action.method != "GET" and action.effect is not None:
        return OK if changed else DENY
    if 200 <= code < 300:
        return OK
    if code == 302:
        to = response["Location"]
        return DENY if "/login/" in to and action.route not in ("logout",) else OK
    if code in (401, 403, 405):
        return DENY
    return f"other {code}"


@dataclass
class Mismatch:
    role: str
    owner: str
    action: str
    expected: str
    got: str
    status: int

    def __str__(self) -> str:
        return (
            f"{self.action} as {self.role} on {self.owner}: expected {self.expected}, got "
            f"{self.got} ({self.status})"
        )


def expected_for(action: Action, role: str, owner: str) -> str:
    spec = action.expect[role]
    return spec[owner] if isinstance(spec, dict) else spec


def run_row(mw: MatrixWorld, action: Action, role: str, owner: str) -> tuple[str, int, bool]:
    """One request in a savepoint rolled back afterwards: (outcome, status, refused-but-changed)."""
    obj = action.target(mw, owner) if action.target else None
    client = client_for(mw, role, api=action.api)
    url = url_of(action, obj)
    body = action.body(mw, obj) if action.body else {}
    with transaction.atomic():
        before = action.effect(mw, obj) if action.effect else None
        if action.method == "GET":
            response = client.get(url)
        elif action.api:
            response = client.generic(
                action.method, url, json.dumps(body), content_type="application/json"
            )
        else:
            response = client.post(url, body)
        changed = (action.effect(mw, obj) and not before) if action.effect else None
        transaction.set_rollback(True)
    outcome = classify(action, response, changed)
    return outcome, response.status_code, bool(changed and outcome != OK)


def owners_of(action: Action) -> tuple[str, ...]:
    takes_owner = any(isinstance(v, dict) for v in action.expect.values())
    return OWNERS if takes_owner or (action.target and _owner_target(action)) else ("-",)


def _owner_target(action: Action) -> bool:
    # Targets built from a (status, owner) pair vary with the owner.
    return action.target.__qualname__.startswith(
        ("handoff_in", "lead_of", "feedback_of", "account_of")
    )


def test_every_route_has_a_declared_expectation():
    declared = {a.route for a in ACTIONS}
    routes: set[str] = set()

    def walk(patterns: Any, namespace: str = "") -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue  # the admin has its own table, by registered model
                ns = ":".join(filter(None, [namespace, p.namespace])) if p.namespace else namespace
                walk(p.url_patterns, ns)
            elif isinstance(p, URLPattern) and p.name:
                routes.add(f"{namespace}:{p.name}" if namespace else p.name)

    walk(get_resolver().url_patterns)
    assert routes - declared == set(), "routes without an expectation in the matrix"
    assert declared - routes == set(), "expectations for routes that do not exist"
    for action in ACTIONS:
        assert set(action.expect) == set(ROLES), action.name()


def test_the_role_action_owner_matrix_holds(mw, figure):
    mismatches: list[Mismatch] = []
    changed_when_refused: list[str] = []
    rows = 0
    for action in ACTIONS:
        for role in ROLES:
            for owner in owners_of(action):
                expected = expected_for(action, role, owner if owner != "-" else "own")
                got, status, leaked_write = run_row(mw, action, role, owner)
                rows += 1
                if leaked_write:
                    changed_when_refused.append(f"{action.name()} as {role} on {owner}")
                if got != expected:
                    mismatches.append(Mismatch(role, owner, action.name(), expected, got, status))
    unexpected_allows = [m for m in mismatches if m.got == OK]
    forbidden_not_hidden = [m for m in mismatches if m.expected == HIDDEN and m.got == DENY]
    report = "\n".join(str(m) for m in mismatches)
    print(f"\n[authz] {rows} rows (role x action x owner); mismatches:\n{report or '  none'}")
    figure("4 authz", "matrix rows checked (API + pages)", "-", str(rows))
    figure("4 authz", "unexpected allows", "0", str(len(unexpected_allows)))
    figure("4 authz", "403 where 404 was due (another rep's object)", "0",
           str(len(forbidden_not_hidden)))  # fmt: skip
    assert not changed_when_refused, changed_when_refused
    assert not mismatches, report


def test_a_rep_gets_404_not_403_for_another_reps_handoff(mw):
    client = client_for(mw, "rep", api=True)
    for owner in ("same_team", "other_team", "unassigned"):
        handoff = mw.handoff("pending", owner)
        for url in (f"/api/handoffs/{handoff.pk}/", f"/api/handoffs/{handoff.pk}/accept/"):
            response = client.generic(
                "GET" if url.count("/") == 4 else "POST", url, "{}", content_type="application/json"
            )
            assert response.status_code == 404, (owner, url, response.status_code)
        page = client_for(mw, "rep", api=False).get(f"/handoffs/{handoff.pk}/")
        assert page.status_code == 404
    # And a handoff that does not exist answers the same.
    assert client.get("/api/handoffs/999999/").status_code == 404


# --- the admin ----------------------------------------------------------------------------------

LEADS_ADMIN = {"marketer", "manager", "admin"}
MANAGERS_ADMIN = {"manager", "admin"}
SUPERUSER = {"admin"}
# Who may open each registered model's changelist. Reps have no admin, even with the staff flag.
ADMIN_VIEW: dict[str, set[str]] = {
    "auth.Group": SUPERUSER,
    "auth.User": SUPERUSER,
    "authtoken.TokenProxy": SUPERUSER,
    "axes.AccessAttempt": SUPERUSER,
    "axes.AccessLog": SUPERUSER,
    "axes.AccessFailureLog": SUPERUSER,
    "leads.Lead": LEADS_ADMIN,
    "leads.EngagementEvent": LEADS_ADMIN,
    "leads.Campaign": LEADS_ADMIN,
    "leads.FitRule": LEADS_ADMIN,
    "leads.EngagementRule": LEADS_ADMIN,
    "leads.ScoringConfig": LEADS_ADMIN,
    "leads.UserProfile": MANAGERS_ADMIN,
    "leads.SourceAlias": LEADS_ADMIN,
    "leads.ImportMapping": LEADS_ADMIN,
    "leads.LeadImport": LEADS_ADMIN,
    "leads.Account": LEADS_ADMIN,
    "leads.PqlCriterion": LEADS_ADMIN,
    "handoff.Handoff": MANAGERS_ADMIN,
    "handoff.BusinessCalendar": MANAGERS_ADMIN,
    "handoff.SlaPolicy": MANAGERS_ADMIN,
    "handoff.Team": MANAGERS_ADMIN,
    "handoff.Notification": MANAGERS_ADMIN,
    # Marketing's auto-promotion rules and the log of what they did.
    "handoff.AutoPromotionRule": LEADS_ADMIN,
    "handoff.AutoPromotion": LEADS_ADMIN,
    "feedback.RejectionReason": MANAGERS_ADMIN,
    # Marketing reviews and answers returns in the admin too (feedback migration 0002).
    "feedback.ReturnFeedback": LEADS_ADMIN,
    "integrations.Endpoint": MANAGERS_ADMIN,
    "integrations.Message": MANAGERS_ADMIN,
    "integrations.Attempt": MANAGERS_ADMIN,
    "integrations.CrmIntegration": MANAGERS_ADMIN,
    "integrations.InboundEvent": MANAGERS_ADMIN,
    "pipeline.LostReason": MANAGERS_ADMIN,
    "pipeline.Opportunity": MANAGERS_ADMIN,
    "handoff.TimeOff": MANAGERS_ADMIN,
    "feedback.DigestDelivery": MANAGERS_ADMIN,
}
ADMIN_ROLES = ("anonymous", "marketer", "rep", "staff_rep", "manager", "admin")


def admin_client(mw: MatrixWorld, role: str) -> Client:
    client = Client()
    if role == "staff_rep":
        user = mw.world.users["rep_mate"]
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client.force_login(user)
    elif role != "anonymous":
        client.force_login(mw.world.users[role])
    return client


def test_every_admin_model_has_a_declared_expectation():
    registered = {m._meta.label for m in admin.site._registry}
    assert registered == set(ADMIN_VIEW)


def test_the_admin_matrix_holds(mw, figure):
    mismatches = []
    rows = 0
    for model, _model_admin in admin.site._registry.items():
        label = model._meta.label
        info = (model._meta.app_label, model._meta.model_name)
        obj = model._default_manager.order_by("pk").first()
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        if obj is not None:
            urls += [
                reverse("admin:{}_{}_change".format(*info), args=[obj.pk]),
                reverse("admin:{}_{}_history".format(*info), args=[obj.pk]),
            ]
        for role in ADMIN_ROLES:
            client = admin_client(mw, role)
            for url in urls:
                rows += 1
                response = client.get(url)
                allowed = response.status_code == 200
                should = role in ADMIN_VIEW[label]
                if allowed != should:
                    mismatches.append(f"{role} GET {url}: {response.status_code}")
    # Exports and imports of leads: marketing and managers only.
    for role in ADMIN_ROLES:
        client = admin_client(mw, role)
        for url in ("/admin/leads/lead/export/", "/admin/leads/lead/import/"):
            rows += 1
            allowed = client.get(url).status_code == 200
            if allowed != (role in LEADS_ADMIN):
                mismatches.append(f"{role} GET {url}")
    print(f"\n[authz] admin: {rows} rows; mismatches: {mismatches or 'none'}")
    figure("4 authz", "admin rows checked (changelist, change, history, export, import)", "-",
           str(rows))  # fmt: skip
    figure("4 authz", "admin unexpected allows", "0",
           str(sum(1 for m in mismatches if " 200" in m or m.endswith("export/"))))  # fmt: skip
    assert not mismatches


# --- leaks: lists, filters, search, pages, exports -------------------------------------------


def _ids(payload: Any) -> list[int]:
    rows = payload["results"] if isinstance(payload, dict) and "results" in payload else payload
    return [row["id"] for row in rows]


def test_no_ids_of_other_reps_objects_leak_through_lists_filters_search_or_pages(mw, figure):
    rep = mw.world.users["rep"]
    others = Handoff.objects.exclude(assigned_to=rep)
    mine = Handoff.objects.filter(assigned_to=rep)
    hidden_handoffs = set(others.values_list("pk", flat=True))
    hidden_leads = set(Lead.objects.exclude(handoffs__assigned_to=rep).values_list("pk", flat=True))
    hidden_feedback = set(
        ReturnFeedback.objects.exclude(returned_by=rep).values_list("pk", flat=True)
    )
    other_leads = list(Lead.objects.filter(pk__in=hidden_leads).exclude(email=""))
    client = client_for(mw, "rep", api=True)
    probes = ["page_size=500", "ordering=-id"]
    probes += [f"assigned_to={u.pk}" for u in mw.world.users.values()]
    probes += [f"team={t.pk}" for t in mw.world.teams.values()]
    probes += [f"lead={lead.pk}" for lead in other_leads]
    probes += [f"search={lead.email}" for lead in other_leads]
    probes += [f"search={lead.company}" for lead in other_leads[:5]]
    probes += ["unassigned=true", "open=true", "breached=true", "status=pending&status=returned"]
    leaks: list[str] = []
    requests = 0
    for query in probes:
        for url, hidden in (
            ("/api/handoffs/", hidden_handoffs),
            ("/api/leads/", hidden_leads),
            ("/api/feedback/", hidden_feedback),
        ):
            requests += 1
            response = client.get(f"{url}?{query}")
            if response.status_code != 200:
                continue
            leaked = set(_ids(response.json())) & hidden
            if leaked:
                leaks.append(f"{url}?{query}: {sorted(leaked)}")
    # Feedback filters by owner and search by lead email.
    for query in [f"rep={u.pk}" for u in mw.world.users.values()] + [
        f"q={lead.email}" for lead in other_leads
    ]:
        requests += 1
        response = client.get(f"/api/feedback/?{query}")
        leaked = set(_ids(response.json())) & hidden_feedback
        if leaked:
            leaks.append(f"/api/feedback/?{query}: {sorted(leaked)}")
    # Pages: the rep's queue and accepted list name only their own handoffs.
    page_client = client_for(mw, "rep", api=False)
    for url in ("/queue/", "/accepted/", "/queue/?page=2"):
        requests += 1
        html = page_client.get(url).content.decode()
        shown = {int(pk) for pk in re.findall(r"/handoffs/(\d+)/", html)}
        if shown & hidden_handoffs:
            leaks.append(f"{url}: {sorted(shown & hidden_handoffs)}")
        for lead in other_leads:
            if lead.email in html:
                leaks.append(f"{url}: {lead.email}")
    assert mine.exists()
    figure("4 authz", "ids of others' objects leaked (lists, filters, search, pages)", "0",
           f"{len(leaks)} in {requests} requests")  # fmt: skip
    assert not leaks, leaks


def test_a_marketer_export_is_every_lead_and_a_rep_cannot_export(mw):
    client = admin_client(mw, "marketer")
    response = client.post("/admin/leads/lead/export/", {"format": "0", **_export_fields()})
    assert response.status_code == 200
    exported = response.content.decode()
    assert all(lead.email in exported for lead in Lead.objects.all())
    for role in ("rep", "staff_rep", "anonymous"):
        denied = admin_client(mw, role).post("/admin/leads/lead/export/", {"format": "0"})
        assert denied.status_code in (302, 403)
        assert b"@" not in denied.content


def _export_fields() -> dict[str, str]:
    from leads.admin import LeadResource

    return {f"leadresource_{f}": "on" for f in LeadResource._meta.fields}


# --- mass assignment ----------------------------------------------------------------------------

LEAD_PROTECTED = {
    "stage": "customer",
    "score": 100,
    "score_breakdown": {"total": 100},
    "ready_for_sales": True,
    "ready_since": "2020-01-01T00:00:00Z",
    "return_count": 9,
    "erased_at": "2020-01-01T00:00:00Z",
    "created_at": "2020-01-01T00:00:00Z",
    "mql_at": "2020-01-01T00:00:00Z",
    "id": 424242,
}
HANDOFF_PROTECTED = {
    "status": "qualified",
    "assigned_to": None,
    "due_at": "2099-01-01T00:00:00Z",
    "breached_at": None,
    "score_snapshot": 100,
    "team": None,
    "attempt": 7,
    "accepted_late": False,
    "lead": None,
    "id": 424242,
}


def _snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    obj.refresh_from_db()
    return {f: getattr(obj, f) for f in fields}


def _mass_assign_lead_patch(mw, marketer, manager, successes: list[str]) -> int:
    """PATCH a lead, one protected field at a time and all at once, by a marketer and a manager;
    then a marketer moving another marketer's lead to themselves. Returns the attempts."""
    world = mw.world
    attempts = 0
    lead = mw.fresh_lead
    lead_fields = ["stage", "score", "ready_for_sales", "return_count", "erased_at", "created_at",
                   "mql_at", "owner_id", "score_breakdown"]  # fmt: skip

    for client, who in ((marketer, "marketer"), (manager, "manager")):
        for name, value in [*LEAD_PROTECTED.items(), ("all", None)]:
            attempts += 1
            body = LEAD_PROTECTED if name == "all" else {name: value, "company": "Changed Co"}
            before = _snapshot(lead, [*lead_fields, "company"])
            response = client.patch(
                f"/api/leads/{lead.pk}/", json.dumps(body), content_type="application/json"
            )
            after = _snapshot(lead, [*lead_fields, "company"])
            if {k: v for k, v in after.items() if k != "company"} != {
                k: v for k, v in before.items() if k != "company"
            }:
                successes.append(f"PATCH lead {name} as {who}")
            if response.status_code == 400:
                assert after == before  # refused as a whole: nothing written
                if name != "all":
                    assert name in response.json()["errors"], response.json()
    # A marketer moving another marketer's lead to themselves (owner is protected by the rules).
    owned = world.lead(owner=world.users["marketer2"])
    attempts += 1
    response = marketer.patch(
        f"/api/leads/{owned.pk}/",
        json.dumps({"owner": world.users["marketer"].pk}),
        content_type="application/json",
    )
    owned.refresh_from_db()
    if owned.owner_id != world.users["marketer2"].pk:
        successes.append("PATCH lead owner to oneself as marketer")
    assert response.status_code == 403
    return attempts


def _mass_assign_lead_create(marketer, successes: list[str]) -> int:
    """POST and bulk-create leads with protected fields. Returns the attempts."""
    attempts = 0
    # POST a lead with protected fields: refused naming the field, no row.
    for name, value in LEAD_PROTECTED.items():
        attempts += 1
        email = f"mass.{name}@matrix.example"
        response = marketer.post(
            "/api/leads/", json.dumps({"email": email, name: value}),
            content_type="application/json",
        )  # fmt: skip
        created = Lead.objects.filter(email=email).first()
        if created is not None and name != "id" and getattr(created, name, None) == value:
            successes.append(f"POST lead {name}")
        if response.status_code == 400:
            assert created is None
    # Bulk rows with protected fields: that row is an error, nothing of it written.
    attempts += 1
    response = marketer.post(
        "/api/leads/bulk/",
        json.dumps({"leads": [{"email": "bulk.mass@matrix.example", **LEAD_PROTECTED}]}),
        content_type="application/json",
    )
    row = response.json()["results"][0]
    bulk_lead = Lead.objects.filter(email="bulk.mass@matrix.example").first()
    if bulk_lead is not None and (bulk_lead.stage != "lead" or bulk_lead.score == 100):
        successes.append("bulk lead protected fields")
    assert row["status"] == "error"
    return attempts


def _mass_assign_handoffs(mw, marketer, rep, successes: list[str]) -> int:
    """Handoff actions and the promotion with protected fields in the body. Returns the
    attempts."""
    world = mw.world
    lead = mw.fresh_lead
    attempts = 0
    # Actions on handoffs with protected fields in the body: ignored.
    handoff_fields = ["status", "assigned_to_id", "due_at", "score_snapshot", "team_id",
                      "attempt", "lead_id", "breached_at"]  # fmt: skip
    for url, client, handoff, allowed_change in (
        ("request-info", rep, mw.handoff("pending", "own"), {"status", "due_at"}),
        ("first-touch", rep, mw.handoff("accepted", "own"), set()),
        ("provide-info", marketer, mw.handoff("waiting", "own"), {"status", "due_at"}),
    ):
        attempts += 1
        before = _snapshot(handoff, handoff_fields)
        body = {"question": "?", "answer": "!", "channel": "call", **HANDOFF_PROTECTED}
        with transaction.atomic():
            response = client.post(
                f"/api/handoffs/{handoff.pk}/{url}/", json.dumps(body),
                content_type="application/json",
            )  # fmt: skip
            after = _snapshot(handoff, handoff_fields)
            transaction.set_rollback(True)
        assert response.status_code == 200, response.content
        changed = {k for k in handoff_fields if before[k] != after[k]} - allowed_change
        if changed or after["status"] == "qualified":
            successes.append(f"POST {url} changed {changed}")
    # Promotion: the rotation assigns and the policy times it, whatever the body says.
    attempts += 1
    response = marketer.post(
        f"/api/leads/{lead.pk}/promote/",
        json.dumps({"note": "Go: asked for pricing twice today.", "assigned_to": world.users["rep_other"].pk, **HANDOFF_PROTECTED,
                    "lead": mw.disqualified_lead.pk}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    made = Handoff.objects.get(pk=response.json()["id"])
    if (
        made.lead_id != lead.pk
        or made.status != "pending"
        or made.attempt != 1
        or made.due_at.year == 2099
        or made.score_snapshot == 100
    ):
        successes.append("POST promote protected fields")
    return attempts


def _mass_assign_feedback_and_settings(mw, marketer, successes: list[str]) -> int:
    """The acknowledgement of a return and the scoring settings. Returns the attempts."""
    attempts = 0
    # Feedback: the acknowledging marketer cannot rewrite the return.
    feedback = mw.feedback("returned", "same_team")
    attempts += 1
    marketer.post(
        f"/api/feedback/{feedback.pk}/acknowledge/",
        json.dumps({"reply": "ok", "reason": "spam", "note": "rewritten", "returned_by": None,
                    "dispute_status": "overturned", "lead_effect": "disqualify"}),
        content_type="application/json",
    )  # fmt: skip
    feedback.refresh_from_db()
    if (
        feedback.reason.code != "not-ready"
        or feedback.note == "rewritten"
        or feedback.dispute_status
        or feedback.returned_by_id is None
    ):
        successes.append("POST acknowledge rewrote the return")
    # Scoring settings: the version is the system's.
    attempts += 1
    config = ScoringConfig.objects.get()
    marketer.patch(
        "/api/scoring/settings/", json.dumps({"version": 999, "mql_threshold": 55}),
        content_type="application/json",
    )  # fmt: skip
    config.refresh_from_db()
    if config.version == 999:
        successes.append("PATCH scoring settings version")
    return attempts


def test_protected_fields_cannot_be_mass_assigned(mw, figure):
    marketer = client_for(mw, "marketer", api=True)
    manager = client_for(mw, "manager", api=True)
    rep = client_for(mw, "rep", api=True)
    successes: list[str] = []
    attempts = _mass_assign_lead_patch(mw, marketer, manager, successes)
    attempts += _mass_assign_lead_create(marketer, successes)
    attempts += _mass_assign_handoffs(mw, marketer, rep, successes)
    attempts += _mass_assign_feedback_and_settings(mw, marketer, successes)
    figure("4 authz", "mass assignment of protected fields (POST/PATCH)", "0",
           f"{len(successes)} of {attempts} attempts")  # fmt: skip
    assert not successes, successes
    assert RejectionReason.objects.filter(code="spam").exists()

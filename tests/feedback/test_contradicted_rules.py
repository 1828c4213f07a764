"""The rules sales contradicts: named on the return form, ranked in the report with a
suggested points change, and applied in one step through the scoring service."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import OutboxMessage
from feedback import contradictions, services
from leads.models import FitRule, ScoringConfig
from tests.factories import FitRuleFactory, RejectionReasonFactory
from tests.handoff.world import World, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


@pytest.fixture
def size_rule(db) -> FitRule:
    return FitRuleFactory(
        name="Mid-size company", field="employee_band", operator="eq", value="51-200", points=20
    )


@pytest.fixture
def too_small(size_rule):
    return RejectionReasonFactory(
        code="too-small", label="Company too small", contradicts_rule=size_rule
    )


def scored_by(rule: FitRule, points: int | None = None) -> dict:
    return {
        "total": 70,
        "items": [
            {"category": "fit", "rule": rule.name, "label": "x", "points": points or rule.points}
        ],
    }


def test_the_return_form_names_the_rule_the_reason_contradicts(world, size_rule, too_small):
    handoff = world.promote(world.lead(score_breakdown=scored_by(size_rule)))
    page = Client()
    page.force_login(world.rep)
    html = page.get(f"/handoffs/{handoff.pk}/").content.decode()
    panel = html[html.index('id="contradicted-rules"') :]
    assert "Company too small" in panel[:400] and "Mid-size company" in panel[:400]


def test_the_report_ranks_contradicted_rules_with_a_suggested_change(world, size_rule, too_small):
    for n in range(4):
        handoff = world.promote(world.lead(score_breakdown=scored_by(size_rule)))
        if n < 3:
            services.feedback_return_handoff(handoff=handoff, actor=world.manager, reason=too_small)
    world.promote(world.lead())  # not scored by the rule: not counted
    [row] = contradictions.contradicted_rules()
    assert (row["rule"], row["returns"], row["promoted"]) == ("Mid-size company", 3, 4)
    assert row["share"] == 0.75
    assert (row["suggested_points"], row["change"]) == (5, -15)
    page = Client()
    page.force_login(world.marketer)
    html = page.get("/feedback/?all=1").content.decode()
    assert "Rules most contradicted by sales" in html and "Set to +5 (-15)" in html


def test_a_marketer_applies_a_suggestion_in_one_step_versioned_and_rescored(
    world, size_rule, client_for
):
    version = ScoringConfig.objects.get_or_create()[0].version
    response = client_for(world.marketer).post(
        "/api/feedback/contradicted-rules/apply/",
        {"rule": size_rule.pk, "points": 5},
        format="json",
    )
    assert response.status_code == 200, response.json()
    size_rule.refresh_from_db()
    assert size_rule.points == 5
    assert response.json()["version"] == version + 1
    assert OutboxMessage.objects.filter(task="leads.tasks.leads_rescore_all").exists()


def test_an_unknown_rule_is_a_400_naming_it_and_changes_nothing(world, size_rule, client_for):
    response = client_for(world.marketer).post(
        "/api/feedback/contradicted-rules/apply/", {"rule": 999999, "points": 5}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "rule"
    size_rule.refresh_from_db()
    assert size_rule.points == 20


def test_a_rep_cannot_apply_a_suggestion(world, size_rule, client_for):
    response = client_for(world.rep).post(
        "/api/feedback/contradicted-rules/apply/",
        {"rule": size_rule.pk, "points": 5},
        format="json",
    )
    assert response.status_code == 403


def test_the_report_page_applies_a_suggestion(world, size_rule):
    page = Client()
    page.force_login(world.marketer)
    response = page.post(
        "/feedback/contradicted-rules/apply/", {"rule": size_rule.pk, "points": "-5"}
    )
    assert response.status_code == 302
    size_rule.refresh_from_db()
    assert size_rule.points == -5

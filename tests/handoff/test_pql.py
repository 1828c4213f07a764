"""PQLs on the sales side: a policy of their own, the criteria in the handoff packet, and the
feedback report showing PQLs and MQLs side by side."""

from __future__ import annotations

import pytest
from django.test import Client

from feedback.selectors import feedback_metrics
from tests.factories import SlaPolicyFactory
from tests.handoff.world import World, make_world

CRITERIA = [
    {"id": 1, "name": "Used 3 days", "kind": "usage_days", "detail": "product used on 4 days"}
]


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def test_a_pql_matches_a_policy_that_requires_pql_and_an_mql_does_not(world):
    fast = SlaPolicyFactory(
        name="PQL fast lane", requires_pql=True, precedence=1, accept_within_minutes=30,
        first_touch_within_minutes=60,
    )  # fmt: skip
    pql = world.promote(world.lead(pql=True, pql_criteria=CRITERIA))
    mql = world.promote(world.lead())
    assert pql.policy == fast
    assert pql.policy_snapshot["requires_pql"] is True
    assert mql.policy == world.policy


def test_the_handoff_packet_shows_the_pql_criteria_to_the_rep(world, client_for):
    handoff = world.promote(world.lead(pql=True, pql_criteria=CRITERIA))
    assert handoff.pql_criteria == CRITERIA
    page = Client()
    page.force_login(world.rep)
    html = page.get(f"/handoffs/{handoff.pk}/").content.decode()
    assert "Product-qualified (PQL)" in html and "product used on 4 days" in html
    body = client_for(world.rep).get(f"/api/handoffs/{handoff.pk}/").json()
    assert body["pql_criteria"] == CRITERIA


def test_the_feedback_report_puts_pqls_and_mqls_side_by_side(world):
    from handoff import services

    accepted = world.promote(world.lead(pql=True, pql_criteria=CRITERIA))
    services.handoff_accept(handoff=accepted, actor=world.rep, now=accepted.created_at)
    world.promote(world.lead())
    rows = {r["key"]: r for r in feedback_metrics()["by_qualification"]}
    assert rows["pql"]["handoffs"] == 1 and rows["pql"]["accepted"] == 1
    assert rows["mql"]["handoffs"] == 1 and rows["mql"]["accepted"] == 0
    page = Client()
    page.force_login(world.marketer)
    html = page.get("/feedback/").content.decode()
    assert "PQLs and MQLs side by side" in html

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


def _three_handoffs(world):
    """A PQL accepted then qualified, another PQL still open, and an MQL returned."""
    from handoff import services
    from tests.handoff.test_services import BANT

    qualified = world.promote(world.lead(pql=True, pql_criteria=CRITERIA))
    rep = qualified.assigned_to
    services.handoff_accept(handoff=qualified, actor=rep, now=qualified.created_at)
    qualified.refresh_from_db()
    services.handoff_qualify(handoff=qualified, actor=rep, bant=BANT, now=qualified.created_at)
    world.promote(world.lead(pql=True, pql_criteria=CRITERIA))
    returned = world.promote(world.lead())
    services.handoff_return(
        handoff=returned,
        actor=returned.assigned_to,
        reason_code="no-budget",
        now=returned.created_at,
    )
    return qualified


def test_the_dashboard_funnel_puts_pqls_and_mqls_side_by_side_as_frozen_at_promotion(
    world, client_for
):
    import datetime as dt

    from handoff import metrics
    from leads.models import Lead

    qualified = _three_handoffs(world)
    # The lead stops being a PQL after its promotion: the handoff keeps the path it went with.
    Lead.objects.filter(pk=qualified.lead_id).update(pql=False, pql_criteria=[])
    week = metrics.SlaFilters(start=dt.date(2025, 3, 3), end=dt.date(2025, 3, 9))
    rows = {r["kind"]: r for r in metrics.funnel_by_kind(week)}
    assert [r["kind"] for r in metrics.funnel_by_kind(week)] == ["mql", "pql"]
    assert (rows["pql"]["sent"], rows["pql"]["accepted"], rows["pql"]["qualified"]) == (2, 1, 1)
    assert (rows["pql"]["acceptance_rate"], rows["pql"]["sql_rate"]) == (0.5, 0.5)
    assert (rows["mql"]["sent"], rows["mql"]["returned"], rows["mql"]["sql_rate"]) == (1, 1, 0.0)

    page = Client()
    page.force_login(world.manager)
    html = page.get("/dashboard/?start=2025-03-03&end=2025-03-09").content.decode()
    assert 'id="funnel-by-kind"' in html and 'data-kind="pql"' in html
    api = client_for(world.manager).get("/api/metrics/sla/?start=2025-03-03&end=2025-03-09")
    assert api.status_code == 200
    by_kind = {r["kind"]: r for r in api.json()["funnel_by_kind"]}
    assert by_kind["pql"]["sent"] == 2 and by_kind["pql"]["sql_rate"] == 0.5


def test_the_report_exports_pqls_and_mqls_side_by_side_as_csv(world):
    _three_handoffs(world)
    page = Client()
    page.force_login(world.marketer)
    march = "date_from=2025-03-01&date_to=2025-03-31"
    html = page.get(f"/feedback/?{march}").content.decode()
    assert "export=returns_by_qualification" in html
    response = page.get(f"/feedback/?{march}&export=returns_by_qualification")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].split(",")[:2] == ["label", "handoffs"]
    pql = next(line for line in lines if line.startswith("PQL"))
    assert pql.split(",")[1:6] == ["2", "1", "1", "1", "0"]  # handoffs decided accepted sql ret

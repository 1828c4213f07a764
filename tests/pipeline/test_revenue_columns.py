"""Revenue beside the lifecycle: won revenue per lead for PQLs and MQLs, won revenue of the
leads each contradicted rule scored, and the week's won revenue by source in the digest, each
equal to a recomputation from the raw rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from django.conf import settings
from django.test import Client
from django.utils import timezone

from feedback import contradictions, digest
from feedback import services as feedback_services
from handoff.models import Handoff
from pipeline import metrics, rollup, services
from pipeline.models import Opportunity
from tests.factories import FitRuleFactory, RejectionReasonFactory

PQL = [{"name": "trial", "detail": "trial activated"}]


def _deal(pw, *, amount, outcome, currency="USD", now=None, **lead):
    handoff = pw.qualified("rep", **lead)
    deal = services.opportunity_open(
        handoff=handoff, actor=pw.users["manager"], amount=amount, currency=currency,
        expected_close_date=timezone.localdate(), now=now,
    )  # fmt: skip
    if outcome == "won":
        services.opportunity_win(opportunity=deal, actor=pw.users["manager"], now=now)
    elif outcome == "lost":
        services.opportunity_lose(opportunity=deal, actor=pw.users["manager"], reason="price")
    return deal


def _page(user, path, **params):
    client = Client()
    client.force_login(user)
    return client.get(path, params)


def test_won_revenue_per_lead_for_pqls_and_mqls_equals_a_recomputation(pw):
    _deal(pw, amount="3000", outcome="won", pql=True, pql_criteria=PQL)
    _deal(pw, amount="500", outcome="lost", pql=True, pql_criteria=PQL)
    _deal(pw, amount="1200", outcome="won")
    _deal(pw, amount="800", outcome="won", currency="EUR")
    pw.world.promote("rep")  # an MQL that went nowhere
    rollup.refresh_dirty()  # what beat does every minute
    rows = metrics.by_dimension("qualification", metrics.RevenueFilters.from_params({}))
    got = {r["key"]: r for r in rows}
    assert [r["key"] for r in rows] == ["pql", "mql"]
    for path in ("pql", "mql"):
        handoffs = [
            h
            for h in Handoff.objects.exclude(status="reassigned")
            if ("pql" if h.pql_criteria else "mql") == path
        ]
        won = [
            o
            for o in Opportunity.objects.filter(stage="won", currency=settings.DEFAULT_CURRENCY)
            if ("pql" if o.handoff.pql_criteria else "mql") == path
        ]
        won_amount = sum((o.amount for o in won), Decimal(0))
        assert got[path]["mqls"] == len(handoffs)
        assert got[path]["won_amount"] == f"{won_amount:.2f}"
        assert got[path]["won_amount_per_mql"] == f"{won_amount / len(handoffs):.2f}"
    assert (got["pql"]["won_amount_per_mql"], got["mql"]["won_amount_per_mql"]) == (
        "1500.00",
        "400.00",
    )
    # The API, the report page and its CSV carry the same table.
    api = Client()
    api.force_login(pw.users["marketer"])
    body = api.get("/api/metrics/revenue/").json()
    assert [r["won_amount_per_mql"] for r in body["by_qualification"]] == ["1500.00", "400.00"]
    response = _page(pw.users["marketer"], "/feedback/", all="1")
    assert response.context["metrics"]["revenue_by_qualification"][0]["won_amount"] == "3000.00"
    exported = _page(pw.users["marketer"], "/feedback/", all="1", export="revenue_by_qualification")
    header, *body_rows = csv.reader(io.StringIO(exported.content.decode()))
    assert [dict(zip(header, r, strict=True))["won_amount_per_mql"] for r in body_rows] == [
        "1500.00",
        "400.00",
    ]


def _scored_by(rule):
    return {"total": 70, "items": [{"category": "fit", "rule": rule.name, "points": 20}]}


def test_contradicted_rules_carry_the_won_revenue_of_the_leads_they_scored(pw):
    rule = FitRuleFactory(
        name="Mid-size company", field="employee_band", operator="eq", value="51-200", points=20
    )
    reason = RejectionReasonFactory(code="too-small", label="Too small", contradicts_rule=rule)
    _deal(pw, amount="1000", outcome="won", score_breakdown=_scored_by(rule))
    _deal(pw, amount="250.50", outcome="won", score_breakdown=_scored_by(rule))
    _deal(pw, amount="700", outcome="won", currency="EUR", score_breakdown=_scored_by(rule))
    _deal(pw, amount="90", outcome="lost", score_breakdown=_scored_by(rule))
    _deal(pw, amount="9999", outcome="won")  # not scored by the rule
    returned = pw.world.promote("rep", lead=pw.world.lead(score_breakdown=_scored_by(rule)))
    feedback_services.feedback_return_handoff(
        handoff=returned, actor=pw.users["manager"], reason=reason
    )
    [row] = contradictions.contradicted_rules()
    expected = [
        o
        for o in Opportunity.objects.filter(stage="won", currency=settings.DEFAULT_CURRENCY)
        if rule.name in contradictions.fit_rule_names(o.handoff.score_breakdown)
    ]
    assert row["won"] == len(expected) == 2
    assert row["won_amount"] == f"{sum(o.amount for o in expected):.2f}" == "1250.50"
    html = _page(pw.users["marketer"], "/feedback/", all="1").content.decode()
    assert "Won revenue" in html and "1250.50" in html
    exported = _page(pw.users["marketer"], "/feedback/", all="1", export="contradicted_rules")
    header, first = list(csv.reader(io.StringIO(exported.content.decode())))
    assert dict(zip(header, first, strict=True))["won_amount"] == "1250.50"


def test_the_digest_shows_the_weeks_won_revenue_by_source(pw):
    week = digest.last_week(timezone.localdate())
    inside = dt.datetime.combine(week.monday, dt.time(12), tzinfo=digest.digest_zone())
    _deal(pw, amount="400", outcome="won", now=inside, source="webinar")
    _deal(pw, amount="600", outcome="won", now=inside + dt.timedelta(days=2), source="webinar")
    _deal(pw, amount="50", outcome="won", now=inside, source="referral")
    _deal(pw, amount="7000", outcome="won", source="webinar")  # won this week, not last
    built = digest.digest_build(week)
    start = dt.datetime.combine(week.monday, dt.time.min, tzinfo=digest.digest_zone())
    expected: dict[str, Decimal] = {}
    for o in Opportunity.objects.filter(stage="won"):
        if start <= o.won_at < start + dt.timedelta(weeks=1):
            expected[o.source] = expected.get(o.source, Decimal(0)) + o.amount
    assert [(r["key"], r["won_amount"]) for r in built["won_by_source"]] == [
        (source, f"{amount:.2f}")
        for source, amount in sorted(expected.items(), key=lambda i: -i[1])
    ]
    assert [r["won"] for r in built["won_by_source"]] == [2, 1]
    _, text, html = digest.digest_render(built)
    assert "Won revenue by source" in text and "1000.00 (2 won)" in text
    assert 'id="digest-won-by-source"' in html and "1000.00" in html

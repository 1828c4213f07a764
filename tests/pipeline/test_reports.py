"""Revenue where people read it: the feedback report (tables, lost reasons, CSV), the threshold
advisor, the dashboard's revenue section, and the opportunity panel of the handoff page."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client

from feedback.selectors import MetricsFilters, threshold_advisor
from handoff.models import Handoff
from pipeline import rollup, services
from pipeline.models import Opportunity


def _deal(pw, to, *, score, amount, outcome, source="webinar", reason="price"):
    handoff = pw.qualified(to, score=score, source=source)
    Handoff.objects.filter(pk=handoff.pk).update(score_snapshot=score)
    handoff.refresh_from_db()
    opportunity = services.opportunity_open(
        handoff=handoff, actor=pw.users["manager"], amount=amount,
        expected_close_date=dt.date.today(),
    )  # fmt: skip
    if outcome == "won":
        services.opportunity_win(opportunity=opportunity, actor=pw.users["manager"])
    elif outcome == "lost":
        services.opportunity_lose(opportunity=opportunity, actor=pw.users["manager"], reason=reason)
    return opportunity


def _page(user, path, **params):
    rollup.refresh_dirty()  # what beat does every minute: the revenue figures catch up
    client = Client()
    client.force_login(user)
    return client.get(path, params)


def test_the_advisor_names_the_threshold_keeping_95_percent_of_won_revenue(pw):
    _deal(pw, "rep", score=42, amount="100", outcome="won")
    _deal(pw, "rep", score=62, amount="1000", outcome="won")
    _deal(pw, "rep", score=81, amount="8000", outcome="won")
    _deal(pw, "rep", score=90, amount="500", outcome="lost")
    rollup.refresh_dirty()  # the beat refresh: the advisor reads its rollup
    advice = threshold_advisor(MetricsFilters(), thresholds=[40, 60, 80])
    rows = {row["threshold"]: row for row in advice["rows"]}
    assert (rows[40]["won_kept"], rows[40]["won_lost"], rows[40]["won_revenue_kept"]) == (3, 0, "9100.00")  # fmt: skip
    assert (rows[60]["won_kept"], rows[60]["won_lost"], rows[60]["won_revenue_lost"]) == (2, 1, "100.00")  # fmt: skip
    assert rows[80]["revenue_share_kept"] == round(8000 / 9100, 4)
    # 60 keeps 98.9% of the revenue and sends fewer MQLs than 40; 80 keeps only 87.9%.
    assert advice["revenue_threshold"] == 60
    assert advice["won_revenue"] == "9100.00"
    # The advisor's rollup equals the raw handoffs and deals, bucket by bucket.
    from feedback.selectors.advisor import _raw_buckets, _won_by_threshold
    from pipeline.metrics import advisor_counts

    thresholds = [40, 60, 80]
    buckets, won = advisor_counts(thresholds=thresholds, date_from=None, date_to=None, team=None)
    raw = _raw_buckets(MetricsFilters(), thresholds)
    assert buckets == {
        b: {n: r[n] for n in ("sent", "accepted", "qualified", "returned")} for b, r in raw.items()
    }
    assert won == _won_by_threshold(MetricsFilters(), thresholds)


def test_the_feedback_report_shows_revenue_and_why_deals_were_lost_by_source(pw):
    _deal(pw, "rep", score=70, amount="2000", outcome="won", source="webinar")
    _deal(pw, "rep", score=70, amount="300", outcome="lost", source="paid_search", reason="competitor")  # fmt: skip
    response = _page(pw.users["marketer"], "/feedback/", all="1")
    assert response.status_code == 200
    metrics = response.context["metrics"]
    webinar = next(r for r in metrics["revenue_by_source"] if r["key"] == "webinar")
    assert (webinar["won"], webinar["won_amount"]) == (1, "2000.00")
    lost = metrics["lost_by_source"]
    assert [(r["key"], r["lost"], r["reasons"][0]["code"]) for r in lost] == [
        ("paid_search", 1, "competitor")
    ]
    html = response.content.decode()
    assert "Revenue by source" in html and "Chose a competitor (1)" in html
    assert "Revenue figures as of" in html


@pytest.mark.parametrize(
    "table", ["revenue_by_source", "revenue_by_campaign", "revenue_by_score_band", "revenue_by_qualification",
              "lost_by_source", "lost_by_campaign", "threshold", "returns_by_source"],
)  # fmt: skip
def test_each_report_table_exports_as_csv(pw, table):
    _deal(pw, "rep", score=70, amount="2000", outcome="won")
    _deal(pw, "rep", score=50, amount="10", outcome="lost")
    response = _page(pw.users["marketer"], "/feedback/", all="1", export=table)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) >= 2
    if table == "revenue_by_source":
        header, *body = rows
        webinar = dict(zip(header, next(r for r in body if r[0] == "Webinar"), strict=True))
        assert (webinar["won"], webinar["won_amount"], webinar["lost"]) == ("1", "2000.00", "1")


def test_an_unknown_export_table_is_a_400_naming_it(pw):
    response = _page(pw.users["marketer"], "/feedback/", export="everything")
    assert response.status_code == 400
    assert b"everything" in response.content


def test_the_dashboard_shows_pipeline_won_this_quarter_and_won_per_mql(pw, settings):
    _deal(pw, "rep", score=70, amount="2000", outcome="won")
    _deal(pw, "rep", score=70, amount="750.25", outcome="open")
    _deal(pw, "rep", score=70, amount="999", outcome="open").__class__.objects.filter(
        amount="999"
    ).update(currency="EUR")
    response = _page(pw.users["manager"], "/dashboard/")
    revenue = response.context["revenue"]
    assert revenue["pipeline"] == {"open": 2, "pipeline_amount": "750.25"}
    assert revenue["won_quarter"] == {"won": 1, "won_amount": "2000.00"}
    assert revenue["won_per_mql"] == "666.67"  # 2000 over 3 MQLs
    assert 'id="chart-revenue-sources"' in response.content.decode()


def test_a_rep_opens_wins_and_sees_the_history_on_the_handoff_page(pw):
    handoff = pw.qualified("rep")
    client = Client()
    client.force_login(pw.users["rep"])
    page = client.get(f"/handoffs/{handoff.pk}/").content.decode()
    assert "Open an opportunity" in page
    response = client.post(
        f"/handoffs/{handoff.pk}/open-opportunity/",
        {"amount": "4200", "currency": "", "expected_close_date": "2030-01-31"},
    )
    assert response.status_code == 302
    opportunity = Opportunity.objects.get(handoff=handoff)
    client.post(
        f"/opportunities/{opportunity.pk}/edit/",
        {"amount": "5000", "expected_close_date": "2030-02-28"},
    )
    client.post(f"/opportunities/{opportunity.pk}/win/", {"amount": ""})
    opportunity.refresh_from_db()
    assert (opportunity.stage, str(opportunity.amount)) == ("won", "5000.00")
    page = client.get(f"/handoffs/{handoff.pk}/").content.decode()
    assert "5000.00 USD" in page and "4200.00 → 5000.00" in page
    assert "Open an opportunity" not in page


def test_a_bad_amount_in_the_page_is_named_and_nothing_is_written(pw):
    handoff = pw.qualified("rep")
    client = Client()
    client.force_login(pw.users["rep"])
    response = client.post(
        f"/handoffs/{handoff.pk}/open-opportunity/",
        {"amount": "-3", "expected_close_date": "2030-01-31"},
        follow=True,
    )
    assert "Amount: amount must be 0 or more." in response.content.decode()
    assert not Opportunity.objects.exists()

"""The lead-quality analytics against figures computed by hand on a small fixture."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.errors import ValidationFailed
from feedback.models import ReturnFeedback
from feedback.selectors import (
    MetricsFilters,
    acceptance_by_score_band,
    feedback_metrics,
    outcome_totals,
    outcomes_by,
    raw_reason_mix,
    reason_mix,
    threshold_advisor,
)
from handoff.states import Status
from leads.models import ScoringConfig
from pipeline import rollup
from tests.factories import (
    CampaignFactory,
    HandoffFactory,
    LeadFactory,
    RejectionReasonFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db

JUNE = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)
MAY = dt.datetime(2026, 5, 10, 12, tzinfo=dt.UTC)

# number: (score, status, source, campaign?, team, rep, reason, created)
ROWS = {
    1: (85, Status.QUALIFIED, "paid_search", True, "east", "rob", "", JUNE),
    2: (82, Status.ACCEPTED, "paid_search", True, "east", "rob", "", JUNE),
    3: (90, Status.RETURNED, "webinar", False, "west", "olga", "not-ready", JUNE),
    4: (65, Status.ACCEPTED, "paid_search", True, "east", "rob", "", JUNE),
    5: (62, Status.RETURNED, "paid_search", True, "east", "rob", "not-icp", JUNE),
    6: (70, Status.RETURNED, "webinar", False, "west", "olga", "not-icp", JUNE),
    7: (45, Status.RETURNED, "webinar", False, "west", "olga", "bad-data", JUNE),
    8: (50, Status.QUALIFIED, "webinar", False, "west", "olga", "", JUNE),
    9: (30, Status.RETURNED, "paid_search", False, "east", "rob", "no-budget", MAY),
    10: (35, Status.PENDING, "paid_search", False, "east", "rob", "", MAY),
    # Reassigned: handed on to another attempt, so never counted.
    11: (75, Status.REASSIGNED, "paid_search", True, "east", "rob", "", JUNE),
    12: (55, Status.WAITING, "webinar", False, "west", "olga", "", JUNE),
}


@pytest.fixture
def fixture(rep, other_rep):
    campaign = CampaignFactory(name="Spring webinar push")
    teams = {"east": TeamFactory(name="East"), "west": TeamFactory(name="West")}
    reps = {"rob": rep, "olga": other_rep}
    handoffs = {}
    for n, (score, status, source, in_campaign, team, who, reason, created) in ROWS.items():
        lead = LeadFactory(source=source, campaign=campaign if in_campaign else None)
        handoffs[n] = HandoffFactory(
            lead=lead,
            lead_source=lead.source,
            lead_campaign=lead.campaign,
            score_snapshot=score,
            status=status,
            team=teams[team],
            assigned_to=reps[who],
            return_reason_code=reason,
            created_at=created,
        )
        if reason:
            ReturnFeedback.objects.create(
                handoff=handoffs[n],
                lead=lead,
                reason=RejectionReasonFactory(code=reason),
                returned_by=reps[who],
                returned_at=created + dt.timedelta(hours=2),
                lead_effect="recycle",
            )
    # Factory rows bypass the services (no dirty marks): rebuild the revenue rollups, as an
    # operator does after a load by SQL (the threshold advisor reads its own).
    rollup.rebuild()
    return {"campaign": campaign, "teams": teams, "handoffs": handoffs}


def test_the_totals_count_each_outcome_once_and_leave_reassigned_handoffs_out(fixture):
    totals = outcome_totals()
    assert {k: totals[k] for k in ("handoffs", "open", "accepted", "qualified", "returned")} == {
        "handoffs": 11,
        "open": 2,
        "accepted": 4,
        "qualified": 2,
        "returned": 5,
    }
    assert totals["decided"] == 9
    assert totals["return_rate"] == round(5 / 9, 4)
    assert totals["acceptance_rate"] == round(4 / 9, 4)
    assert totals["sql_rate"] == round(2 / 9, 4)
    assert totals["with_feedback"] == 5
    assert totals["unacknowledged"] == 5


def test_the_return_rate_and_reason_mix_by_source_match_hand_counts(fixture):
    rows = {row["key"]: row for row in outcomes_by("source")}
    paid, webinar = rows["paid_search"], rows["webinar"]
    assert (paid["handoffs"], paid["decided"], paid["returned"], paid["return_rate"]) == (
        6,
        5,
        2,
        0.4,
    )
    assert paid["label"] == "Paid search"
    assert (webinar["handoffs"], webinar["decided"], webinar["returned"]) == (5, 4, 3)
    assert webinar["return_rate"] == 0.75
    assert {(r["code"], r["count"]) for r in paid["reasons"]} == {("not-icp", 1), ("no-budget", 1)}
    assert {(r["code"], r["count"], r["share"]) for r in webinar["reasons"]} == {
        ("not-ready", 1, round(1 / 3, 4)),
        ("not-icp", 1, round(1 / 3, 4)),
        ("bad-data", 1, round(1 / 3, 4)),
    }


def test_every_score_band_is_listed_in_order_with_its_acceptance_rate(fixture):
    bands = acceptance_by_score_band()
    assert [b["label"] for b in bands] == ["under 40", "40-59", "60-79", "80-99", "100+"]
    assert [(b["handoffs"], b["decided"], b["accepted"], b["returned"]) for b in bands] == [
        (2, 1, 0, 1),
        (3, 2, 1, 1),
        (3, 3, 1, 2),
        (3, 3, 2, 1),
        (0, 0, 0, 0),
    ]
    assert [b["acceptance_rate"] for b in bands] == [
        0.0,
        0.5,
        round(1 / 3, 4),
        round(2 / 3, 4),
        None,
    ]
    assert [b["sql_rate"] for b in bands] == [0.0, 0.5, 0.0, round(1 / 3, 4), None]


def test_a_band_without_handoffs_shows_zeros_not_a_missing_row(fixture):
    bands = acceptance_by_score_band(MetricsFilters(team=fixture["teams"]["west"].pk))
    assert [b["handoffs"] for b in bands] == [0, 3, 1, 1, 0]
    assert bands[0]["acceptance_rate"] is None


def test_campaign_team_and_rep_tables_name_their_rows(fixture):
    campaigns = {row["label"]: row for row in outcomes_by("campaign")}
    assert set(campaigns) == {"Spring webinar push", "No campaign"}
    assert campaigns["Spring webinar push"]["handoffs"] == 4
    assert campaigns["Spring webinar push"]["return_rate"] == round(1 / 4, 4)
    teams = {row["label"]: row for row in outcomes_by("team")}
    assert (teams["East"]["handoffs"], teams["West"]["handoffs"]) == (6, 5)
    reps = {row["key"]: row for row in outcomes_by("rep")}
    assert set(reps) == {
        fixture["handoffs"][1].assigned_to_id,
        fixture["handoffs"][3].assigned_to_id,
    }
    olga = reps[fixture["handoffs"][3].assigned_to_id]
    assert olga["returned"] == 3
    assert [r["code"] for r in olga["reasons"]] == ["bad-data", "not-icp", "not-ready"]


def test_the_overall_reason_mix_is_most_frequent_first(fixture):
    mix = reason_mix()
    assert [(r["code"], r["count"]) for r in mix] == [
        ("not-icp", 2),
        ("bad-data", 1),
        ("no-budget", 1),
        ("not-ready", 1),
    ]
    assert mix[0]["share"] == 0.4
    assert mix[0]["label"] == "Not our ICP"


def test_the_threshold_advisor_counts_what_each_threshold_would_have_sent(fixture):
    advice = threshold_advisor(target=0.6, min_decided=2)
    rows = {r["threshold"]: r for r in advice["rows"]}
    assert list(rows) == list(range(30, 100, 5))
    expected = {
        # threshold: (sent, decided, accepted)
        30: (11, 9, 4),
        35: (10, 8, 4),
        40: (9, 8, 4),
        50: (8, 7, 4),
        55: (7, 6, 3),
        60: (6, 6, 3),
        65: (5, 5, 3),
        70: (4, 4, 2),
        75: (3, 3, 2),
        85: (2, 2, 1),
        90: (1, 1, 0),
        95: (0, 0, 0),
    }
    for t, (sent, decided, accepted) in expected.items():
        assert (rows[t]["sent"], rows[t]["decided"], rows[t]["accepted"]) == (
            sent,
            decided,
            accepted,
        )
    assert rows[65]["acceptance_rate"] == 0.6
    assert rows[95]["acceptance_rate"] is None
    assert rows[60]["share_of_sent"] == round(6 / 11, 4)
    # The lowest threshold whose acceptance reaches 60% on at least 2 decided handoffs.
    assert advice["suggested_threshold"] == 65
    assert "lowest candidate threshold" in advice["rule"]


def test_the_advisor_suggests_nothing_when_no_threshold_has_enough_evidence(fixture):
    advice = threshold_advisor(target=0.6, min_decided=6)
    assert advice["suggested_threshold"] is None
    assert not any(row["meets_target"] for row in advice["rows"])


def test_the_advisor_shows_the_current_threshold(fixture):
    ScoringConfig.objects.update_or_create(pk=1, defaults={"mql_threshold": 55})
    assert threshold_advisor()["current_threshold"] == 55


def test_the_date_range_keeps_only_handoffs_promoted_in_it(fixture):
    june = MetricsFilters(date_from=dt.date(2026, 6, 1), date_to=dt.date(2026, 6, 30))
    assert outcome_totals(june)["handoffs"] == 9
    may = MetricsFilters(date_to=dt.date(2026, 5, 31))
    totals = outcome_totals(may)
    assert (totals["handoffs"], totals["returned"], totals["open"]) == (2, 1, 1)


def test_source_and_campaign_filters_narrow_every_table(fixture):
    by_campaign = MetricsFilters(campaign=fixture["campaign"].pk)
    assert outcome_totals(by_campaign)["handoffs"] == 4
    assert [r["code"] for r in reason_mix(by_campaign)] == ["not-icp"]
    webinar = MetricsFilters(source="webinar")
    assert [row["key"] for row in outcomes_by("source", webinar)] == ["webinar"]
    assert threshold_advisor(webinar)["handoffs"] == 5


def test_bad_filter_values_name_the_field():
    with pytest.raises(ValidationFailed) as exc:
        MetricsFilters.from_params({"date_from": "last tuesday"})
    assert exc.value.field == "date_from"
    with pytest.raises(ValidationFailed) as exc:
        MetricsFilters.from_params({"source": "carrier-pigeon"})
    assert exc.value.field == "source"
    with pytest.raises(ValidationFailed) as exc:
        MetricsFilters.from_params({"date_from": "2026-06-02", "date_to": "2026-06-01"})
    assert exc.value.field == "date_from"


def test_each_analytic_is_a_fixed_number_of_queries(fixture, django_assert_num_queries):
    with django_assert_num_queries(2):  # the grouped counts, the reason labels
        outcomes_by("rep")
    # The counts and won deals by bucket (one query over the advisor's rollup), the threshold.
    with django_assert_num_queries(2):
        threshold_advisor()
    if connection.vendor == "postgresql":
        # reasons, the delta rows to fold (none), the pass over the rollup (and its work_mem),
        # campaign, team and rep names, the review counts, won deals by bucket, the threshold
        with django_assert_num_queries(10):
            feedback_metrics()
    else:
        # the same, with the rollup's two kinds of rows read in two statements and grouped in
        # Python (no work_mem to set)
        with django_assert_num_queries(10):
            feedback_metrics()


def test_the_rollup_payload_equals_each_figure_read_on_its_own(fixture):
    # Two PQL handoffs (one returned, one accepted): the rollup keys them apart.
    from handoff.models import Handoff

    for n in (3, 4):
        Handoff.objects.filter(pk=fixture["handoffs"][n].pk).update(pql_criteria=["trial"])
    for filters in (
        MetricsFilters(),
        MetricsFilters(team=fixture["teams"]["east"].pk),
        MetricsFilters(campaign=fixture["campaign"].pk),
    ):
        whole = feedback_metrics(filters)
        assert whole["totals"] == outcome_totals(filters)
        assert whole["reason_mix"] == reason_mix(filters) == raw_reason_mix(filters)
        for dimension in ("source", "campaign", "score_band", "team", "rep", "qualification"):
            assert whole[f"by_{dimension}"] == outcomes_by(dimension, filters)
        assert whole["threshold_advisor"] == threshold_advisor(filters)


def test_the_metrics_api_serves_every_table_to_marketing(fixture, client_for, marketer):
    response = client_for(marketer).get(
        reverse("feedback-api:feedback-metrics"),
        {"team": fixture["teams"]["east"].pk, "all_time": "true"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totals"]["handoffs"] == 6
    assert {
        "by_source",
        "by_campaign",
        "by_score_band",
        "by_team",
        "by_rep",
        "acceptance_by_score_band",
        "threshold_advisor",
        "reason_mix",
        "category_mix",
    } <= set(body)
    assert body["filters"]["team"] == fixture["teams"]["east"].pk


def test_without_dates_the_metrics_api_counts_the_last_eight_weeks(fixture, client_for, marketer):
    body = client_for(marketer).get(reverse("feedback-api:feedback-metrics")).json()
    eight_weeks_ago = timezone.localdate() - dt.timedelta(weeks=8)
    assert body["filters"]["date_from"] == eight_weeks_ago.isoformat()
    all_time = (
        client_for(marketer).get(reverse("feedback-api:feedback-metrics"), {"all_time": "1"}).json()
    )
    assert all_time["filters"]["date_from"] is None
    assert all_time["totals"]["handoffs"] >= body["totals"]["handoffs"]


def test_the_metrics_api_refuses_a_bad_date_naming_it(client_for, manager):
    response = client_for(manager).get(
        reverse("feedback-api:feedback-metrics"), {"date_to": "soon"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "date_to"


def test_reps_do_not_see_the_metrics(client_for, rep):
    response = client_for(rep).get(reverse("feedback-api:feedback-metrics"))
    assert response.status_code == 403


def test_outcomes_count_under_the_source_the_lead_had_when_it_was_handed_over(fixture):
    handoff = fixture["handoffs"][3]  # a webinar lead, returned
    handoff.lead.source = "referral"
    handoff.lead.save()
    rows = {row["key"]: row for row in outcomes_by("source")}
    assert "referral" not in rows
    assert rows["webinar"]["returned"] == 3

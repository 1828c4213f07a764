"""SLA and funnel metrics against figures worked out by hand (tests/handoff/metrics_fixture.py
has the table of what happened to each handoff)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import ValidationFailed
from handoff import metrics
from handoff.metrics import SlaFilters
from tests.handoff.metrics_fixture import END, NOW, START, MetricsWorld, build, ny


@pytest.fixture
def world(db, manager, marketer) -> MetricsWorld:
    return build(manager=manager, marketer=marketer)


def amer_only(world: MetricsWorld) -> SlaFilters:
    return SlaFilters(start=START, end=END, team=world.amer.pk)


def everyone() -> SlaFilters:
    return SlaFilters(start=START, end=END)


def test_the_fixture_played_out_as_its_table_says(world):
    h = world.h
    assert h["h4"].accepted_late and h["h4"].due_at == ny(5, 11)
    assert h["h5"].status == "pending" and h["h5"].breached_at == ny(6, 14)
    assert h["h8"].status == "reassigned" and h["h8b"].assigned_to == world.olga
    assert h["h9"].due_at == ny(10, 14) and h["h9"].paused_seconds_total == 3600
    assert h["h6"].at_risk_at == ny(10, 12)


def test_the_funnel_counts_promotions_accepts_and_qualifications_of_the_range(world):
    f = metrics.funnel(amer_only(world))
    # h1..h7, h8b, h9 (h8 was reassigned: h8b carries that promotion).
    assert (f["mql"], f["sal"], f["sql"], f["returned"], f["open"]) == (9, 5, 1, 1, 3)
    assert (f["mql_to_sal"], f["sal_to_sql"], f["mql_to_sql"]) == (0.5556, 0.2, 0.1111)
    assert [s["count"] for s in f["steps"]] == [9, 5, 1]

    everybody = metrics.funnel(everyone())
    assert (everybody["mql"], everybody["sal"], everybody["sql"]) == (10, 6, 1)


def test_compliance_counts_answers_by_the_deadline_and_open_breaches_as_missed(world):
    c = metrics.compliance(amer_only(world), now=NOW)
    # met: h1, h2, h3, h7, h9; missed: h4 (accepted late), h5 (breached, still pending).
    assert (c["met"], c["missed"], c["due"], c["compliance"]) == (5, 2, 7, 0.7143)
    assert c["this_week"] == {
        "week": "2025-W07",
        "start": "2025-02-10",
        "met": 2,
        "missed": 0,
        "due": 2,
        "compliance": 1.0,
    }
    assert metrics.compliance(everyone(), now=NOW)["compliance"] == 0.75  # + h10, met


def test_the_weekly_trend_puts_each_outcome_in_the_week_it_became_known(world):
    weeks = metrics.weekly_compliance(everyone(), now=NOW)
    assert [(w["week"], w["met"], w["missed"], w["compliance"]) for w in weeks] == [
        ("2025-W06", 4, 2, 0.6667),
        ("2025-W07", 2, 0, 1.0),
    ]


def test_a_pending_handoff_past_its_deadline_counts_as_missed_before_the_sweep_flags_it(world):
    later = ny(10, 13, 5)  # h6 was due at 13:00; no sweep has run since
    c = metrics.compliance(amer_only(world), now=later)
    assert (c["met"], c["missed"]) == (5, 3)
    assert metrics.open_now(now=later)["breached"] == 2  # h5 (flagged) and h6 (not yet)


def test_time_to_accept_is_the_median_and_p90_in_wall_and_business_minutes(world):
    t = metrics.accept_times(amer_only(world))
    # wall 30, 60, 90, 210, 1260 (h9's hour waiting for marketing left out);
    # business 30, 60, 90, 210, 300 (h4 was due after 240 and accepted 60 late).
    assert t["accepted"] == 5
    assert (t["wall_minutes"]["median"], t["wall_minutes"]["p90"]) == (90.0, 840.0)
    assert (t["business_minutes"]["median"], t["business_minutes"]["p90"]) == (90.0, 264.0)
    assert t["business_minutes"]["basis"] == t["wall_minutes"]["basis"] == "all"

    everybody = metrics.accept_times(everyone())  # + h10, 20 minutes
    assert (everybody["wall_minutes"]["median"], everybody["wall_minutes"]["p90"]) == (75.0, 735.0)


def test_business_minutes_come_from_what_the_accept_stored(world):
    # h9: 90 (its hour waiting for marketing excluded); h4: 240 window + 60 late.
    assert world.h["h9"].accept_business_minutes == pytest.approx(90)
    assert world.h["h4"].accept_business_minutes == pytest.approx(300)
    rows = {r["label"]: r for r in metrics.by_group("team", everyone(), now=NOW)}
    assert rows["AMER"]["median_business_minutes_to_accept"] == 90.0
    assert rows["EMEA"]["median_business_minutes_to_accept"] == 20.0


def test_open_breaches_and_at_risk_now_are_listed_with_their_clocks(world):
    now = metrics.open_now(now=NOW)
    assert (now["breached"], now["at_risk"]) == (1, 1)
    [breach] = now["breached_list"]
    [risk] = now["at_risk_list"]
    assert breach["id"] == world.h["h5"].pk and breach["label"].startswith("late by")
    assert risk["id"] == world.h["h6"].pk and risk["label"] == "30m left"
    assert risk["rep"] == "Rob Reyes" and risk["team"] == "AMER"
    assert metrics.open_now(now=NOW, team=world.emea.pk)["breached"] == 0


def test_the_team_table_has_handoffs_outcomes_compliance_and_median_time_to_accept(world):
    rows = {r["label"]: r for r in metrics.by_group("team", everyone(), now=NOW)}
    amer, emea = rows["AMER"], rows["EMEA"]
    # AMER had 10 attempts in the range: h1..h9 and h8b (h8 counts: the rep had it).
    assert (amer["handoffs"], amer["accepted"], amer["returned"]) == (10, 5, 1)
    assert (amer["met"], amer["missed"], amer["compliance"]) == (5, 2, 0.7143)
    assert (amer["median_minutes_to_accept"], amer["open_breaches"]) == (90.0, 1)
    assert (emea["handoffs"], emea["accepted"], emea["compliance"]) == (1, 1, 1.0)
    assert emea["median_minutes_to_accept"] == 20.0
    assert list(rows) == ["AMER", "EMEA"]  # busiest first


def test_the_rep_table_charges_each_attempt_to_the_rep_who_had_it(world):
    rows = {r["label"]: r for r in metrics.by_group("rep", everyone(), now=NOW)}
    rob, olga = rows["Rob Reyes"], rows["Olga Ortiz"]
    assert (rob["handoffs"], rob["accepted"], rob["returned"], rob["open_breaches"]) == (9, 5, 1, 1)
    assert (rob["met"], rob["missed"], rob["median_minutes_to_accept"]) == (5, 2, 90.0)
    # Olga: h8b (pending, no outcome yet) and h10 (met in 20 minutes).
    assert (olga["handoffs"], olga["accepted"], olga["met"], olga["missed"]) == (2, 1, 1, 0)
    assert olga["median_minutes_to_accept"] == 20.0


def test_conversion_by_source_uses_the_source_the_lead_had_at_handover(world):
    rows = {r["source"]: r for r in metrics.conversion_by_source(amer_only(world))}
    assert (rows["paid_search"]["mql"], rows["paid_search"]["sal"]) == (8, 4)
    assert (rows["paid_search"]["sql"], rows["paid_search"]["mql_to_sql"]) == (1, 0.125)
    assert (rows["webinar"]["mql"], rows["webinar"]["sal"], rows["webinar"]["sql"]) == (1, 1, 0)
    assert rows["webinar"]["label"] == "Webinar"


def test_a_range_without_the_week_of_a_breach_leaves_it_out(world):
    only_monday = metrics.compliance(SlaFilters(start=START, end=START), now=NOW)
    assert (only_monday["met"], only_monday["missed"]) == (3, 0)  # h1, h2, h3


def test_sla_metrics_bundles_every_figure(world):
    data = metrics.sla_metrics(amer_only(world), now=NOW)
    assert data["filters"] == {"start": "2025-02-03", "end": "2025-02-10", "team": world.amer.pk}
    assert data["compliance"]["compliance"] == 0.7143
    assert data["open_now"]["at_risk"] == 1
    assert [r["label"] for r in data["by_team"]] == ["AMER"]


def test_the_admin_summary_covers_any_queryset(world):
    from handoff.models import Handoff

    all_of_them = metrics.summary(Handoff.objects.all(), now=NOW)
    assert (all_of_them["met"], all_of_them["missed"], all_of_them["compliance"]) == (6, 2, 0.75)
    assert (all_of_them["breached"], all_of_them["at_risk"]) == (1, 1)
    assert all_of_them["median_minutes_to_accept"] == 75.0
    assert all_of_them["median_business_minutes_to_accept"] == 75.0  # 20 30 60 | 90 210 300
    amer = metrics.summary(Handoff.objects.filter(team=world.amer), now=NOW)
    assert (amer["compliance"], amer["median_minutes_to_accept"]) == (0.7143, 90.0)


@pytest.mark.parametrize("size", [5, 50])
def test_sla_metrics_cost_the_same_queries_at_any_size(
    db, manager, marketer, size, django_assert_max_num_queries
):
    from tests.factories import HandoffFactory

    world = build(manager=manager, marketer=marketer)
    for n in range(size):
        HandoffFactory(
            team=world.amer,
            assigned_to=world.rob,
            created_at=NOW - dt.timedelta(hours=n),
            due_at=NOW - dt.timedelta(hours=n) + dt.timedelta(hours=2),
            accepted_at=NOW - dt.timedelta(hours=n) + dt.timedelta(minutes=30) if n % 2 else None,
        )
    metrics.sla_metrics(everyone(), now=NOW)  # warms the calendar cache
    # the rollup brought up to date after these writes (its state and the handoffs written
    # lately, read first; then under the lock its state again, their days' rows, delete, insert,
    # their weeks folded, time to accept's weeks (delete, insert: PostgreSQL), the new check
    # time; a savepoint and its release here, inside the test's transaction), its reads (promotions; attempts and outcomes in one; the unflagged
    # breaches), the accepts, the open counts and the two open lists, the team names and the rep
    # names; tests/handoff/test_metrics_rollup.py counts a quiet read (11)
    with django_assert_max_num_queries(21):
        metrics.sla_metrics(everyone(), now=NOW)


# --- the filters ------------------------------------------------------------------------------


def test_the_default_range_is_the_last_eight_iso_weeks_through_today(db):
    f = SlaFilters.default(now=NOW)
    assert (f.start, f.end) == (dt.date(2024, 12, 23), dt.date(2025, 2, 10))
    weeks = metrics.weekly_compliance(f, now=NOW)
    assert len(weeks) == 8 and weeks[0]["week"] == "2024-W52" and weeks[-1]["week"] == "2025-W07"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2025-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2025-02-10", "end": "2025-02-01"}, "start"),
        ({"team": "amer"}, "team"),
        ({"start": "2020-01-01", "end": "2025-01-01"}, "end"),
    ],
)
def test_a_bad_filter_names_its_field(params, field):
    with pytest.raises(ValidationFailed) as exc:
        SlaFilters.from_params(params, now=NOW)
    assert exc.value.field == field


def test_filters_from_params_fill_in_the_missing_end():
    f = SlaFilters.from_params({"start": "2025-01-06", "team": "3"}, now=NOW)
    assert (f.start, f.end, f.team) == (dt.date(2025, 1, 6), dt.date(2025, 2, 10), 3)


def test_percentile_cont_interpolates_like_postgresql():
    assert metrics.percentile_cont([], 0.5) is None
    assert metrics.percentile_cont([7.0], 0.9) == 7.0
    assert metrics.percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert metrics.percentile_cont([30, 60, 90, 210, 1260], 0.9) == pytest.approx(840)


def test_a_breach_the_sweep_has_not_flagged_counts_even_for_a_row_last_written_long_ago(world):
    # h6 was last written at its promotion; at 13:05 it is past its 13:00 deadline and no
    # sweep has run: it is missed in week W07 (read apart from the rows written since).
    from handoff.models import Handoff

    Handoff.objects.filter(pk=world.h["h6"].pk).update(updated_at=ny(10, 9))
    later = ny(10, 13, 5)
    weeks = metrics.weekly_compliance(amer_only(world), now=later)
    assert [(w["met"], w["missed"]) for w in weeks] == [(3, 2), (2, 1)]
    assert metrics.compliance(amer_only(world), now=later)["this_week"]["missed"] == 1


def test_the_stored_outcome_agrees_with_its_definition_on_every_handoff(world):
    """Handoff.sla_outcome_at and sla_met, kept by the database, against the definition as a
    query (metrics.outcome_at at NOW), on every handoff of the fixture plus bare rows for the
    cases it lacks; an unflagged breach (its outcome depends on the moment) stores none."""
    from django.db.models import BooleanField, Case, Value, When

    from handoff.models import Handoff
    from tests.factories import HandoffFactory

    due = ny(7, 14)
    HandoffFactory(status="reassigned", due_at=due, closed_at=ny(7, 15))  # after its deadline
    HandoffFactory(status="reassigned", due_at=due, closed_at=ny(7, 13))  # before it: none
    HandoffFactory(status="returned", due_at=due, responded_at=ny(7, 16))  # answered late
    HandoffFactory(status="waiting", due_at=None)  # paused: none
    unflagged = HandoffFactory(status="pending", due_at=ny(7, 9))
    rows = Handoff.objects.annotate(
        defined_at=metrics.outcome_at(NOW),
        defined_met=Case(
            When(metrics.met_q(), then=Value(True)), default=Value(False),
            output_field=BooleanField(),
        ),
    )  # fmt: skip
    checked = outcomes = 0
    for h in rows:
        if h.pk == unflagged.pk:
            assert h.defined_at == h.due_at and h.sla_outcome_at is None
            continue
        assert (h.sla_outcome_at, h.sla_met) == (h.defined_at, h.defined_met), h.pk
        checked += 1
        outcomes += h.sla_outcome_at is not None
    # h1-h5, h7, h9, h10, the late reassignment and the late return
    assert checked == Handoff.objects.count() - 1 and outcomes == 10

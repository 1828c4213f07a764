"""leads.scoring: pure scoring from rules held as data (no database)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.models import EmployeeBand, EventKind, FitRule, Seniority
from leads.scoring import (
    EngagementRuleSpec,
    EventFact,
    FitRuleSpec,
    ScoringRules,
    decay_weight,
    fit_rule_matches,
    score_lead,
)

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
F = FitRule.Field
Op = FitRule.Operator


def lead(**fields):
    base = {
        "industry": "",
        "employee_band": "",
        "seniority": "",
        "country": "",
        "title": "",
        "domain": "",
        "source": "other",
    }
    return SimpleNamespace(**{**base, **fields})


def rule(field, operator, value, points=10, name="r"):
    return FitRuleSpec(name=name, field=field, operator=operator, value=value, points=points)


# --- each operator, as a table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "operator", "value", "lead_value", "matches"),
    [
        # eq: case and surrounding spaces do not matter
        (F.INDUSTRY, Op.EQUALS, "software", "Software", True),
        (F.INDUSTRY, Op.EQUALS, " software ", "software", True),
        (F.INDUSTRY, Op.EQUALS, "software", "fintech", False),
        (F.COUNTRY, Op.EQUALS, "US", "us", True),
        (F.INDUSTRY, Op.EQUALS, "software", "", False),
        # in
        (F.INDUSTRY, Op.IN, ["software", "fintech"], "fintech", True),
        (F.INDUSTRY, Op.IN, ["software", "fintech"], "FinTech", True),
        (F.INDUSTRY, Op.IN, ["software", "fintech"], "retail", False),
        (F.SENIORITY, Op.IN, ["vp", "c_level"], Seniority.C_LEVEL, True),
        (F.SENIORITY, Op.IN, ["vp", "c_level"], Seniority.DIRECTOR, False),
        # gte / lte on the employee band: the band's lower bound against a number or a band
        (F.EMPLOYEE_BAND, Op.GTE, 200, EmployeeBand.B201_500, True),
        (F.EMPLOYEE_BAND, Op.GTE, 200, EmployeeBand.B51_200, False),
        (F.EMPLOYEE_BAND, Op.GTE, 200, EmployeeBand.B5001_PLUS, True),
        (F.EMPLOYEE_BAND, Op.GTE, "201-500", EmployeeBand.B201_500, True),
        (F.EMPLOYEE_BAND, Op.GTE, "201-500", EmployeeBand.B51_200, False),
        (F.EMPLOYEE_BAND, Op.LTE, 10, EmployeeBand.B1_10, True),
        (F.EMPLOYEE_BAND, Op.LTE, 10, EmployeeBand.B11_50, False),
        (F.EMPLOYEE_BAND, Op.GTE, 0, EmployeeBand.UNKNOWN, False),  # unknown never matches
        (F.EMPLOYEE_BAND, Op.LTE, 50, EmployeeBand.UNKNOWN, False),
        # gte on seniority ranks
        (F.SENIORITY, Op.GTE, "vp", Seniority.VP, True),
        (F.SENIORITY, Op.GTE, "vp", Seniority.C_LEVEL, True),
        (F.SENIORITY, Op.GTE, "vp", Seniority.DIRECTOR, False),
        (F.SENIORITY, Op.LTE, "manager", Seniority.INDIVIDUAL, True),
        (F.SENIORITY, Op.GTE, "vp", Seniority.UNKNOWN, False),
        # contains: a string or any of a list
        (F.TITLE, Op.CONTAINS, "marketing", "VP Marketing Operations", True),
        (F.TITLE, Op.CONTAINS, ["cmo", "growth"], "Head of Growth", True),
        (F.TITLE, Op.CONTAINS, ["cmo", "growth"], "Engineer", False),
        # free-mail domains, with extra domains from the rule's value
        (F.DOMAIN, Op.FREE_MAIL, [], "gmail.com", True),
        (F.DOMAIN, Op.FREE_MAIL, [], "GMAIL.COM", True),
        (F.DOMAIN, Op.FREE_MAIL, [], "acme.com", False),
        (F.DOMAIN, Op.FREE_MAIL, ["mailinator.com"], "mailinator.com", True),
        (F.DOMAIN, Op.FREE_MAIL, None, "", False),
    ],
)
def test_each_fit_operator_matches_as_documented(field, operator, value, lead_value, matches):
    assert fit_rule_matches(rule(field, operator, value), lead_value) is matches


def test_why_is_this_an_mql_is_answered_item_by_item():
    rules = ScoringRules(
        fit=(
            rule(F.INDUSTRY, Op.IN, ["software"], 15, name="Target industry"),
            rule(F.EMPLOYEE_BAND, Op.GTE, 200, 10, name="200+ employees"),
            rule(F.SENIORITY, Op.IN, ["vp", "c_level"], 20, name="Senior buyer"),
            rule(F.DOMAIN, Op.FREE_MAIL, [], -20, name="Free mail"),
        ),
        engagement={
            EventKind.DEMO_REQUEST: EngagementRuleSpec(
                EventKind.DEMO_REQUEST, 10, max_events=3, intent_points=25, intent_window_days=14
            ),
            EventKind.PAGE_VIEW: EngagementRuleSpec(EventKind.PAGE_VIEW, 1, max_events=10),
        },
        threshold=60,
        half_life_days=30,
    )
    subject = lead(industry="software", employee_band="201-500", seniority="vp", domain="acme.com")
    events = [
        EventFact(EventKind.DEMO_REQUEST, NOW - dt.timedelta(days=1)),
        EventFact(EventKind.PAGE_VIEW, NOW),
        EventFact(EventKind.PAGE_VIEW, NOW - dt.timedelta(days=30)),
    ]

    result = score_lead(lead=subject, events=events, rules=rules, now=NOW)

    by_rule = {item.rule: item for item in result.items}
    assert by_rule["Target industry"].points == 15
    assert by_rule["200+ employees"].points == 10
    assert by_rule["Senior buyer"].points == 20
    assert "Free mail" not in by_rule
    assert by_rule["engagement:demo_request"].points == 10  # 10 * 0.5**(1/30) = 9.77 -> 10
    assert by_rule["engagement:page_view"].points == 2  # 1 + 0.5 -> 1.5 -> 2 (half to even)
    assert by_rule["intent:demo_request"].points == 25
    assert (result.fit, result.engagement, result.intent) == (45, 12, 25)
    assert result.total == 82
    assert result.over_threshold
    breakdown = result.as_breakdown()
    assert breakdown["total"] == sum(item["points"] for item in breakdown["items"])
    assert breakdown["threshold"] == 60


def test_a_free_mail_address_costs_points():
    rules = ScoringRules(fit=(rule(F.DOMAIN, Op.FREE_MAIL, [], -20, name="Free mail"),))
    result = score_lead(lead=lead(domain="gmail.com"), events=[], rules=rules, now=NOW)
    assert result.total == -20
    assert result.items[0].label == "Email domain is a free-mail domain"


def test_only_the_newest_max_events_of_a_kind_count():
    rules = ScoringRules(
        engagement={"email_click": EngagementRuleSpec("email_click", 5, max_events=2)},
        half_life_days=1000,
    )
    events = [EventFact("email_click", NOW - dt.timedelta(minutes=i)) for i in range(10)]
    assert score_lead(lead=lead(), events=events, rules=rules, now=NOW).total == 10


def test_events_older_than_the_window_count_nothing():
    rules = ScoringRules(
        engagement={"page_view": EngagementRuleSpec("page_view", 10)}, window_days=90
    )
    old = [EventFact("page_view", NOW - dt.timedelta(days=91))]
    assert score_lead(lead=lead(), events=old, rules=rules, now=NOW).total == 0


def test_intent_points_expire_after_their_window():
    rules = ScoringRules(
        engagement={
            "trial_signup": EngagementRuleSpec(
                "trial_signup", 0, intent_points=30, intent_window_days=14
            )
        }
    )
    events = [EventFact("trial_signup", NOW - dt.timedelta(days=10))]
    assert score_lead(lead=lead(), events=events, rules=rules, now=NOW).intent == 30
    later = NOW + dt.timedelta(days=5)
    assert score_lead(lead=lead(), events=events, rules=rules, now=later).intent == 0


def test_a_penalty_does_not_fade_with_time():
    rules = ScoringRules(
        engagement={"unsubscribe": EngagementRuleSpec("unsubscribe", -40, max_events=1)},
        window_days=30,
    )
    events = [EventFact("unsubscribe", NOW - dt.timedelta(days=400))]
    assert score_lead(lead=lead(), events=events, rules=rules, now=NOW).total == -40


def test_an_event_dated_in_the_future_counts_as_happening_now():
    rules = ScoringRules(engagement={"page_view": EngagementRuleSpec("page_view", 8)})
    events = [EventFact("page_view", NOW + dt.timedelta(minutes=5))]
    assert score_lead(lead=lead(), events=events, rules=rules, now=NOW).total == 8


def test_decay_halves_the_weight_every_half_life():
    half_life = 30
    assert decay_weight(dt.timedelta(0), half_life_days=half_life, window_days=180) == 1
    assert decay_weight(
        dt.timedelta(days=30), half_life_days=half_life, window_days=180
    ) == pytest.approx(0.5)
    assert decay_weight(
        dt.timedelta(days=60), half_life_days=half_life, window_days=180
    ) == pytest.approx(0.25)
    assert decay_weight(dt.timedelta(days=181), half_life_days=half_life, window_days=180) == 0


# --- properties -----------------------------------------------------------------------------

fit_rules = st.one_of(
    st.builds(
        rule,
        field=st.just(F.INDUSTRY),
        operator=st.sampled_from([Op.EQUALS, Op.CONTAINS]),
        value=st.sampled_from(["software", "fintech", "retail"]),
        points=st.integers(-50, 50),
        name=st.text(min_size=1, max_size=8),
    ),
    st.builds(
        rule,
        field=st.just(F.EMPLOYEE_BAND),
        operator=st.sampled_from([Op.GTE, Op.LTE]),
        value=st.integers(0, 6000),
        points=st.integers(-50, 50),
        name=st.text(min_size=1, max_size=8),
    ),
    st.builds(
        rule,
        field=st.just(F.SENIORITY),
        operator=st.sampled_from([Op.GTE, Op.IN]),
        value=st.sampled_from(["vp", "director", ["vp", "c_level"]]),
        points=st.integers(-50, 50),
        name=st.text(min_size=1, max_size=8),
    ),
    st.builds(
        rule,
        field=st.just(F.DOMAIN),
        operator=st.just(Op.FREE_MAIL),
        value=st.just([]),
        points=st.integers(-50, 50),
        name=st.text(min_size=1, max_size=8),
    ),
)
kinds = st.sampled_from(sorted(EventKind.values))
engagement_rules = st.dictionaries(
    kinds,
    st.tuples(st.integers(-30, 30), st.integers(0, 10), st.integers(-20, 40), st.integers(0, 60)),
    max_size=6,
).map(
    lambda d: {
        k: EngagementRuleSpec(k, pts, max_events=mx, intent_points=ip, intent_window_days=iw)
        for k, (pts, mx, ip, iw) in d.items()
    }
)
scoring_rules = st.builds(
    ScoringRules,
    fit=st.lists(fit_rules, max_size=6).map(tuple),
    engagement=engagement_rules,
    threshold=st.integers(0, 150),
    half_life_days=st.floats(0.5, 365),
    window_days=st.integers(1, 400),
)
leads = st.builds(
    lead,
    industry=st.sampled_from(["", "software", "Fintech", "retail"]),
    employee_band=st.sampled_from(list(EmployeeBand.values)),
    seniority=st.sampled_from(list(Seniority.values)),
    domain=st.sampled_from(["", "gmail.com", "acme.com"]),
)
events = st.lists(
    st.builds(
        EventFact,
        kind=kinds,
        occurred_at=st.integers(-86400 * 2, 86400 * 500).map(
            lambda s: NOW - dt.timedelta(seconds=s)
        ),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(subject=leads, history=events, rules=scoring_rules)
def test_the_total_always_equals_the_sum_of_the_breakdown(subject, history, rules):
    result = score_lead(lead=subject, events=history, rules=rules, now=NOW)
    breakdown = result.as_breakdown()
    assert breakdown["total"] == sum(item["points"] for item in breakdown["items"])
    assert breakdown["total"] == breakdown["fit"] + breakdown["engagement"] + breakdown["intent"]


@settings(max_examples=300, deadline=None)
@given(
    subject=leads,
    history=events,
    rules=scoring_rules,
    later=st.lists(st.integers(0, 86400 * 400), min_size=1, max_size=5),
)
def test_decay_never_increases_a_score_as_time_passes(subject, history, rules, later):
    moments = [NOW + dt.timedelta(seconds=s) for s in sorted(later)]
    scores = [
        score_lead(lead=subject, events=history, rules=rules, now=moment).total
        for moment in [NOW, *moments]
    ]
    assert scores == sorted(scores, reverse=True)

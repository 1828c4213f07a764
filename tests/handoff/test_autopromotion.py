"""Auto-promotion: a lead meeting an active rule reaches a rep the moment its event arrives,
through the same promotion service and guards as a marketer's promotion."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client

from handoff import services
from handoff.autopromotion import auto_promotions_release
from handoff.models import AutoPromotion, AutoPromotionRule, Handoff, Notification
from leads import services as lead_services
from leads.models import EventKind, FitRule, Source, Stage
from tests.factories import CampaignFactory
from tests.handoff.world import NY, TUESDAY_10, make_world


@pytest.fixture
def world(db, marketer, rep, other_rep, manager):
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def make_rule(**fields: Any) -> AutoPromotionRule:
    values: dict[str, Any] = {
        "name": "Demo request",
        "event_kinds": [EventKind.DEMO_REQUEST],
        "within_minutes": 60,
    }
    values.update(fields)
    rule = AutoPromotionRule.objects.create(**{k: v for k, v in values.items() if k != "fit"})
    if "fit" in fields:
        rule.fit_rules.set(fields["fit"])
    return rule


def demo(lead: Any, *, now: dt.datetime = TUESDAY_10, ago: float = 40, kind: str = "") -> Any:
    return lead_services.event_record(
        lead=lead,
        kind=kind or EventKind.DEMO_REQUEST,
        occurred_at=now - dt.timedelta(seconds=ago),
        now=now,
    )


def firings(lead: Any) -> list[str]:
    return list(
        AutoPromotion.objects.filter(lead=lead).order_by("id").values_list("outcome", flat=True)
    )


def test_a_demo_request_posted_through_the_api_puts_a_handoff_in_the_reps_queue_at_once(
    world, client_for, rep
):
    rule = make_rule()
    lead = world.lead(title="VP Finance", seniority="vp", industry="fintech")
    with time_machine.travel(TUESDAY_10, tick=False):
        lead_services.event_record(
            lead=lead,
            kind=EventKind.PRICING_PAGE_VIEW,
            occurred_at=TUESDAY_10 - dt.timedelta(days=2),
            now=TUESDAY_10,
        )
        lead_services.event_record(
            lead=lead,
            kind=EventKind.PRICING_PAGE_VIEW,
            occurred_at=TUESDAY_10 - dt.timedelta(days=1),
            now=TUESDAY_10,
        )
        answer = client_for(world.marketer).post(
            f"/api/leads/{lead.pk}/events/",
            {"kind": "demo_request", "occurred_at": "2025-03-04T14:59:20Z"},
            format="json",
        )
        assert answer.status_code == 201, answer.content
        handoff = Handoff.objects.get(lead=lead)
        detail = client_for(rep).get(f"/api/handoffs/{handoff.pk}/").json()

    assert handoff.assigned_to == rep and handoff.promoted_by is None
    assert detail["auto_promotion"] == {"id": rule.pk, "name": "Demo request"}
    note = detail["context_note"]
    assert note.startswith("Requested a demo 40 s ago; pricing page twice this week; fit: VP")
    assert "201-500" in note and "fintech" in note and len(note.strip()) >= 20
    assert handoff.signal_at == dt.datetime(2025, 3, 4, 14, 59, 20, tzinfo=dt.UTC)
    assert handoff.signal_received_at == TUESDAY_10
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert firings(lead) == [AutoPromotion.Outcome.PROMOTED]
    told = Notification.objects.get(handoff=handoff)
    assert (told.kind, told.recipient) == (Notification.Kind.ASSIGNED, rep)
    assert 'Promoted automatically (rule "Demo request")' in told.body
    assert "Requested a demo 40 s ago" in told.body
    browser = Client()
    browser.force_login(rep)
    page = browser.get(f"/handoffs/{handoff.pk}/").content.decode()
    assert 'automatically, by the rule "Demo request"' in page
    assert "Requested a demo 40 s ago" in page


def test_a_marketers_list_shows_which_handoffs_were_promoted_automatically(world, client_for):
    make_rule()
    auto_lead, manual_lead = world.lead(), world.lead()
    demo(auto_lead)
    world.promote(manual_lead, note="Met at the booth, wants pricing.")
    rows = client_for(world.marketer).get("/api/handoffs/").json()["results"]
    by_lead = {row["lead"]["id"]: row["auto_promotion"] for row in rows}
    assert by_lead[auto_lead.pk]["name"] == "Demo request"
    assert by_lead[manual_lead.pk] is None


def test_bulk_events_promote_each_matching_lead_once(world):
    make_rule()
    first, second, quiet = world.lead(), world.lead(), world.lead()
    at = (TUESDAY_10 - dt.timedelta(seconds=30)).isoformat()
    outcome = lead_services.events_bulk_record(
        rows=[
            {"lead_id": first.pk, "kind": "demo_request", "occurred_at": at},
            {"lead_id": first.pk, "kind": "demo_request", "occurred_at": at},
            {"email": second.email, "kind": "demo_request", "occurred_at": at},
            {"lead_id": quiet.pk, "kind": "webinar_attended", "occurred_at": at},
        ],
        now=TUESDAY_10,
    )
    assert outcome.events == 4
    assert Handoff.objects.filter(lead=first).count() == 1
    assert Handoff.objects.filter(lead=second).count() == 1
    assert not Handoff.objects.filter(lead=quiet).exists()
    assert firings(first) == [AutoPromotion.Outcome.PROMOTED]


def test_a_second_signal_while_the_handoff_is_open_is_recorded_as_already_promoted(world):
    make_rule()
    lead = world.lead()
    demo(lead)
    demo(lead, now=TUESDAY_10 + dt.timedelta(minutes=5))
    assert Handoff.objects.filter(lead=lead).count() == 1
    assert firings(lead) == [AutoPromotion.Outcome.PROMOTED, AutoPromotion.Outcome.ALREADY]
    assert (
        AutoPromotion.objects.filter(lead=lead).order_by("id").last().code == "open_handoff_exists"
    )


def test_a_disqualified_lead_is_not_promoted(world):
    make_rule()
    lead = world.lead(stage=Stage.DISQUALIFIED)
    demo(lead)
    assert not Handoff.objects.filter(lead=lead).exists()
    assert firings(lead) == [AutoPromotion.Outcome.BLOCKED]
    assert AutoPromotion.objects.get(lead=lead).code == "lead_disqualified"


def test_a_lead_in_cooldown_without_new_intent_is_not_promoted(world):
    make_rule(event_kinds=[EventKind.WEBINAR_ATTENDED])
    lead = world.lead(
        stage=Stage.RECYCLED,
        recycled_at=TUESDAY_10 - dt.timedelta(days=1),
        recycle_until=TUESDAY_10 + dt.timedelta(days=29),
    )
    demo(lead, kind=EventKind.WEBINAR_ATTENDED)
    assert not Handoff.objects.filter(lead=lead).exists()
    assert AutoPromotion.objects.get(lead=lead).code == "lead_in_cooldown"


def test_a_demo_request_lifts_the_cooldown_as_it_does_for_a_marketer(world):
    make_rule()
    lead = world.lead(
        stage=Stage.RECYCLED,
        recycled_at=TUESDAY_10 - dt.timedelta(days=1),
        recycle_until=TUESDAY_10 + dt.timedelta(days=29),
    )
    demo(lead)
    assert Handoff.objects.filter(lead=lead).count() == 1


def test_a_rule_turned_off_stops_firing_at_once(world, client_for):
    rule = make_rule()
    answer = client_for(world.marketer).patch(
        f"/api/scoring/auto-promotion/{rule.pk}/", {"active": False}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["active"] is False
    lead = world.lead()
    demo(lead)
    assert not Handoff.objects.filter(lead=lead).exists()
    assert firings(lead) == []


def test_conditions_on_score_source_campaign_fit_and_age_must_all_hold(world):
    campaign = CampaignFactory(name="Pricing guide")
    vp = FitRule.objects.create(
        name="VP or above", field="seniority", operator="gte", value="vp", points=10
    )
    make_rule(
        min_score=0,
        sources=[Source.PAID_SEARCH],
        within_minutes=10,
        fit=[vp],
    ).campaigns.set([campaign])
    good = world.lead(seniority="vp", campaign=campaign)
    wrong_source = world.lead(seniority="vp", campaign=campaign, source=Source.EMAIL)
    no_campaign = world.lead(seniority="vp")
    junior = world.lead(seniority="manager", campaign=campaign)
    stale = world.lead(seniority="vp", campaign=campaign)
    for lead in (good, wrong_source, no_campaign, junior):
        demo(lead)
    demo(stale, ago=11 * 60)
    promoted = set(Handoff.objects.values_list("lead_id", flat=True))
    assert promoted == {good.pk}


def test_a_score_below_the_rules_minimum_waits_for_a_marketer(world):
    make_rule(min_score=50)
    lead = world.lead()
    demo(lead)  # no scoring rules: the rescored lead has 0 points
    assert not Handoff.objects.filter(lead=lead).exists()


def test_outside_working_hours_a_holding_rule_waits_for_the_window_to_open(world):
    make_rule(hold_outside_hours=True)
    lead = world.lead()
    evening = dt.datetime(2025, 3, 4, 20, 0, tzinfo=NY)
    demo(lead, now=evening)
    held = AutoPromotion.objects.get(lead=lead)
    opening = dt.datetime(2025, 3, 5, 9, 0, tzinfo=NY)
    assert held.outcome == AutoPromotion.Outcome.HELD
    assert opening <= held.release_at < opening + dt.timedelta(seconds=1)
    demo(lead, now=evening + dt.timedelta(minutes=5))
    assert not Handoff.objects.filter(lead=lead).exists()
    assert auto_promotions_release(now=opening - dt.timedelta(minutes=1)) == 0

    assert auto_promotions_release(now=opening + dt.timedelta(seconds=30)) == 1
    handoff = Handoff.objects.get(lead=lead)
    held.refresh_from_db()
    assert (held.outcome, held.handoff) == (AutoPromotion.Outcome.PROMOTED, handoff)
    assert handoff.created_at == opening + dt.timedelta(seconds=30)
    # The SLA clock starts when the window opens: 240 business minutes from 09:00.
    assert handoff.due_at == dt.datetime(2025, 3, 5, 13, 0, 30, tzinfo=NY)
    assert handoff.signal_at == evening - dt.timedelta(seconds=40)
    assert "working hours" in handoff.context_note
    assert auto_promotions_release(now=opening + dt.timedelta(minutes=1)) == 0


def test_a_held_promotion_whose_rule_was_turned_off_waits_for_a_marketer(world):
    rule = make_rule(hold_outside_hours=True)
    lead = world.lead()
    demo(lead, now=dt.datetime(2025, 3, 4, 20, 0, tzinfo=NY))
    rule.active = False
    rule.save()
    assert auto_promotions_release(now=dt.datetime(2025, 3, 5, 9, 1, tzinfo=NY)) == 1
    held = AutoPromotion.objects.get(lead=lead)
    assert (held.outcome, held.code) == (AutoPromotion.Outcome.BLOCKED, "rule_off")
    assert not Handoff.objects.filter(lead=lead).exists()


def test_held_promotions_released_together_keep_to_the_hourly_ceiling(world):
    make_rule(hold_outside_hours=True, max_per_hour=2)
    night = dt.datetime(2025, 3, 4, 22, 0, tzinfo=NY)
    leads = [world.lead() for _ in range(3)]
    for i, lead in enumerate(leads):
        demo(lead, now=night + dt.timedelta(minutes=i))
    assert auto_promotions_release(now=dt.datetime(2025, 3, 5, 9, 1, tzinfo=NY)) == 3
    outcomes = [AutoPromotion.objects.get(lead=lead).outcome for lead in leads]
    assert outcomes == ["promoted", "promoted", "over_ceiling"]
    assert Handoff.objects.count() == 2


def test_inside_working_hours_a_holding_rule_promotes_at_once(world):
    make_rule(hold_outside_hours=True)
    lead = world.lead()
    demo(lead)
    assert Handoff.objects.filter(lead=lead).count() == 1


def test_past_the_hourly_ceiling_the_lead_waits_for_a_marketer_flagged(world):
    make_rule(max_per_hour=2)
    leads = [world.lead() for _ in range(3)]
    for i, lead in enumerate(leads):
        demo(lead, now=TUESDAY_10 + dt.timedelta(minutes=i))
    assert Handoff.objects.count() == 2
    flagged = AutoPromotion.objects.get(lead=leads[2])
    assert (flagged.outcome, flagged.code) == (AutoPromotion.Outcome.OVER_CEILING, "over_ceiling")
    browser = Client()
    browser.force_login(world.marketer)
    with time_machine.travel(TUESDAY_10 + dt.timedelta(minutes=3), tick=False):
        listing = browser.get("/leads/").content.decode()
    assert listing.count("Auto-promotion waits for you") == 1
    # The marketer can still promote it by hand.
    handoff = world.promote(leads[2], now=TUESDAY_10 + dt.timedelta(minutes=3))
    assert handoff.auto_promotion is None
    # An hour after the first promotion the rule fires again.
    later = world.lead()
    demo(later, now=TUESDAY_10 + dt.timedelta(minutes=61))
    assert Handoff.objects.filter(lead=later).count() == 1


def test_a_lead_no_team_takes_is_logged_as_not_routable_and_the_event_stands(world):
    make_rule()
    lead = world.lead(country="FR")  # AMER only takes the Americas
    demo(lead)
    assert lead.events.count() == 1
    assert AutoPromotion.objects.get(lead=lead).code == "no_matching_team"


def test_a_marketers_promotion_records_the_leads_latest_high_intent_signal(world):
    lead = world.lead()
    demo(lead, ago=600)
    handoff = world.promote(lead)
    assert handoff.signal_at == TUESDAY_10 - dt.timedelta(seconds=600)
    assert handoff.auto_promotion is None


def test_a_reassigned_attempt_keeps_the_rule_and_the_signal(world, manager):
    make_rule()
    lead = world.lead()
    demo(lead)
    first = Handoff.objects.get(lead=lead)
    second = services.handoff_reassign(
        handoff=first, actor=manager, now=TUESDAY_10 + dt.timedelta(minutes=1)
    )
    assert second.auto_promotion == first.auto_promotion
    assert second.signal_at == first.signal_at


def test_generated_notes_are_always_longer_than_twenty_characters(world):
    make_rule(event_kinds=[k for k in EventKind.values])
    for kind in EventKind.values:
        lead = world.lead(seniority="", employee_band="", industry="", country="US")
        demo(lead, kind=kind)
        handoff = Handoff.objects.filter(lead=lead).first()
        if handoff is not None:
            assert len(handoff.context_note.strip()) >= 20, handoff.context_note


# --- the rules API ----------------------------------------------------------------------------


def test_marketing_creates_a_rule_and_everyone_reads_it(world, client_for, rep):
    answer = client_for(world.marketer).post(
        "/api/scoring/auto-promotion/",
        {"name": "Trial", "event_kinds": ["trial_signup"], "min_score": 40, "max_per_hour": 20},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["active"] is True
    listed = client_for(rep).get("/api/scoring/auto-promotion/").json()
    assert [r["name"] for r in listed] == ["Trial"]


def test_a_rule_without_event_kinds_is_refused_naming_the_field(world, client_for):
    for kinds in ([], ["nope"], "demo_request"):
        answer = client_for(world.marketer).post(
            "/api/scoring/auto-promotion/", {"name": "Bad", "event_kinds": kinds}, format="json"
        )
        assert answer.status_code == 400
        assert "event_kinds" in answer.json()["errors"]
    assert not AutoPromotionRule.objects.exists()


def test_reps_cannot_change_rules(world, client_for, rep):
    rule = make_rule()
    answer = client_for(rep).patch(
        f"/api/scoring/auto-promotion/{rule.pk}/", {"active": False}, format="json"
    )
    assert answer.status_code == 403
    rule.refresh_from_db()
    assert rule.active


# --- the admin --------------------------------------------------------------------------------


def test_a_marketer_adds_a_rule_in_the_admin_and_a_bad_kind_is_named(world):
    world.marketer.is_staff = True  # marketers are staff in the demo
    world.marketer.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(world.marketer)
    form = {
        "name": "Pricing twice",
        "active": "on",
        "event_kinds": '["pricing_page_view"]',
        "within_minutes": "30",
        "sources": "[]",
        "order": "5",
    }
    bad = browser.post("/admin/handoff/autopromotionrule/add/", {**form, "event_kinds": '["x"]'})
    assert bad.status_code == 200 and "Unknown event kinds" in bad.content.decode()
    assert not AutoPromotionRule.objects.exists()
    good = browser.post("/admin/handoff/autopromotionrule/add/", form)
    assert good.status_code == 302, good.content.decode()[:2000]
    rule = AutoPromotionRule.objects.get()
    assert (rule.name, rule.event_kinds, rule.active) == (
        "Pricing twice",
        ["pricing_page_view"],
        True,
    )
    log = browser.get("/admin/handoff/autopromotion/")
    assert log.status_code == 200


@pytest.mark.parametrize("size", [2, 20])
def test_the_rules_list_costs_the_same_queries_with_2_or_20_rules(
    world, client_for, size, django_assert_max_num_queries
):
    campaign = CampaignFactory(name="Spring")
    fit = FitRule.objects.create(name="VP", field="seniority", operator="gte", value="vp", points=1)
    for n in range(size):
        make_rule(name=f"Rule {n}", fit=[fit]).campaigns.set([campaign])
    client = client_for(world.marketer)
    client.get("/api/scoring/auto-promotion/")
    # auth (token, user, groups), the rules, their campaigns, their fit rules
    with django_assert_max_num_queries(6):
        rows = client.get("/api/scoring/auto-promotion/").json()
    assert len(rows) == size and rows[0]["campaigns"] == [campaign.pk]


@pytest.mark.parametrize("size", [5, 50])
def test_the_firing_log_in_the_admin_costs_the_same_queries_at_5_or_50_rows(
    world, size, django_assert_max_num_queries
):
    make_rule()
    for n in range(size):
        demo(world.lead(), now=TUESDAY_10 + dt.timedelta(seconds=n))
    world.marketer.is_staff = True
    world.marketer.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(world.marketer)
    browser.get("/admin/handoff/autopromotion/")
    with django_assert_max_num_queries(12):
        page = browser.get("/admin/handoff/autopromotion/")
    assert page.status_code == 200 and page.content.decode().count("Promoted") >= size


def test_a_rule_for_product_qualified_leads_promotes_a_pql_and_leaves_the_others(world):
    from leads.models import PqlCriterion

    PqlCriterion.objects.create(name="Trial in a week", kind="trial", within_days=7)
    make_rule(name="PQLs straight to sales", requires_pql=True)
    trial = world.lead(email="trial.user@example.com")
    lead_services.event_record(
        lead=trial,
        kind=EventKind.TRIAL_SIGNUP,
        occurred_at=TUESDAY_10 - dt.timedelta(days=1),
        now=TUESDAY_10 - dt.timedelta(days=1),
    )
    trial.refresh_from_db()
    assert trial.pql
    other = world.lead(email="no.trial@example.com")

    demo(trial)
    demo(other)

    handoff = Handoff.objects.get(lead=trial)
    assert handoff.auto_promotion["name"] == "PQLs straight to sales"
    assert not Handoff.objects.filter(lead=other).exists()

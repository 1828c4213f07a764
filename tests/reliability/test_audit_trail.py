"""Audit trail: every transition writes exactly one HandoffEvent, in sequence (its id), and the
database refuses to UPDATE or DELETE event rows; only the erasure service may scrub their free
text, inside its own transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.roles import MARKETING, SALES, SALES_MANAGER
from feedback import services as feedback_services
from feedback.models import RejectionReason
from handoff import autopromotion, services, time_off
from handoff.erasure import audit_unlocked
from handoff.models import AutoPromotionRule, Handoff, HandoffEvent, Team, TimeOff
from handoff.states import ALLOWED_MOVES, Status
from handoff.sweep import sla_sweep
from leads import services as lead_services
from leads.models import FitRule, ImportMapping, Lead, ScoringConfig, SourceAlias, UserProfile
from pipeline.models import LostReason
from tests.factories import (
    BusinessCalendarFactory,
    LeadFactory,
    SlaPolicyFactory,
    TeamFactory,
    UserFactory,
)
from tests.reliability.security_world import SecurityWorld, make_security_world

REFUSED = "append-only"


@pytest.fixture
def world(db) -> SecurityWorld:
    return make_security_world(handoffs=False)


def _reach(world: SecurityWorld, status: str) -> Handoff:
    return {
        Status.PENDING: lambda: world.promote("rep"),
        Status.WAITING: lambda: world.waiting("rep"),
        Status.ACCEPTED: lambda: world.accepted("rep"),
    }[status]()


def _do(world: SecurityWorld, handoff: Handoff, to_status: str) -> None:
    rep, marketer, manager = (world.users[k] for k in ("rep", "marketer", "manager"))
    actions: dict[tuple[str, str], Callable[[], Any]] = {
        (Status.PENDING, Status.ACCEPTED): lambda: services.handoff_accept(
            handoff=handoff, actor=rep
        ),
        (Status.PENDING, Status.WAITING): lambda: services.handoff_request_info(
            handoff=handoff, actor=rep, question="Budget?"
        ),
        (Status.PENDING, Status.RETURNED): lambda: feedback_services.feedback_return_handoff(
            handoff=handoff, actor=rep, reason="not-ready"
        ),
        (Status.PENDING, Status.REASSIGNED): lambda: services.handoff_reassign(
            handoff=handoff, actor=manager, to_rep=world.users["rep_mate"], reason="Holiday"
        ),
        (Status.WAITING, Status.PENDING): lambda: services.handoff_provide_info(
            handoff=handoff, actor=marketer, answer="The enterprise plan."
        ),
        (Status.ACCEPTED, Status.QUALIFIED): lambda: services.handoff_qualify(
            handoff=handoff,
            actor=rep,
            bant={"budget": "Yes", "authority": "CFO", "need": "Clear", "timeline": "Q3"},
        ),
        (Status.ACCEPTED, Status.RETURNED): lambda: feedback_services.feedback_return_handoff(
            handoff=handoff, actor=rep, reason="not-ready"
        ),
    }
    actions[(handoff.status, to_status)]()


MOVES = sorted((a, b) for a, targets in ALLOWED_MOVES.items() for b in targets)


@pytest.mark.parametrize(("from_status", "to_status"), MOVES)
def test_every_transition_writes_exactly_one_event_in_sequence(world, from_status, to_status):
    handoff = _reach(world, from_status)
    before = list(HandoffEvent.objects.filter(handoff=handoff).order_by("id"))
    last_id = HandoffEvent.objects.order_by("-id").values_list("id", flat=True).first()
    _do(world, handoff, to_status)
    new = list(HandoffEvent.objects.filter(handoff=handoff, id__gt=before[-1].id))
    assert len(new) == 1
    event = new[0]
    assert (event.from_status, event.to_status) == (from_status, to_status)
    assert event.id > last_id  # the sequence: later than every event written before it
    assert event.at >= before[-1].at
    Handoff.objects.get(pk=handoff.pk, status=to_status)


def test_the_whole_story_of_a_handoff_reads_in_order_one_event_per_step(world):
    handoff = world.promote("rep")
    handoff = services.handoff_request_info(handoff=handoff, actor=world.users["rep"], question="?")
    handoff = services.handoff_provide_info(
        handoff=handoff, actor=world.users["marketer"], answer="!"
    )
    handoff = services.handoff_accept(handoff=handoff, actor=world.users["rep"])
    handoff = services.handoff_log_first_touch(
        handoff=handoff, actor=world.users["rep"], channel="call"
    )
    services.handoff_qualify(
        handoff=handoff,
        actor=world.users["rep"],
        bant={"budget": "a", "authority": "b", "need": "c", "timeline": "d"},
    )
    events = list(HandoffEvent.objects.filter(handoff=handoff).order_by("id"))
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("created", "", "pending"),
        ("transition", "pending", "waiting"),
        ("transition", "waiting", "pending"),
        ("transition", "pending", "accepted"),
        ("first_touch", "accepted", "accepted"),
        ("transition", "accepted", "qualified"),
    ]
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_a_breach_flagged_by_the_sweep_is_one_event(world):
    handoff = world.promote("rep")
    later = timezone.now() + dt.timedelta(hours=3)
    sla_sweep(now=later)
    sla_sweep(now=later + dt.timedelta(minutes=1))
    assert HandoffEvent.objects.filter(handoff=handoff, kind="breached").count() == 1


# --- the database refuses changes --------------------------------------------------------------


def _an_event(world: SecurityWorld) -> HandoffEvent:
    return HandoffEvent.objects.filter(handoff=world.promote("rep")).get()


def test_the_application_cannot_update_an_event(world):
    event = _an_event(world)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).update(note="rewritten history")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        event.to_status = "accepted"
        event.save()
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE handoff_handoffevent SET at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=1), event.pk],
        )
    event.refresh_from_db()
    assert (event.note, event.to_status) == ("Hot lead: asked for a demo this week.", "pending")


@pytest.mark.postgres
def test_the_application_cannot_delete_an_event(world):
    event = _an_event(world)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).delete()
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM handoff_handoffevent")
    # Nor by deleting the handoff (its events would cascade).
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        Handoff.objects.filter(pk=event.handoff_id).delete()
    assert HandoffEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="documents the SQLite side; PostgreSQL refuses"
)
def test_on_sqlite_delete_is_not_guarded_because_the_test_flush_uses_delete(world):
    """Django flushes SQLite databases with DELETE; a DELETE trigger would break every
    transactional test. PostgreSQL (production, CI) refuses DELETE: see the test above."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = {row[0] for row in cursor.fetchall()}
    assert "handoff_event_append_only" in triggers


def test_the_erasure_switch_lets_free_text_be_scrubbed_and_nothing_else(world):
    event = _an_event(world)
    with transaction.atomic(), audit_unlocked():
        HandoffEvent.objects.filter(pk=event.pk).update(
            note="[erased]", reason="", payload={"team": None}
        )
    event.refresh_from_db()
    assert event.note == "[erased]"
    for change in ({"kind": "breached"}, {"to_status": "returned"}, {"at": timezone.now()}):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), audit_unlocked():
            HandoffEvent.objects.filter(pk=event.pk).update(**change)


@pytest.mark.postgres
def test_the_erasure_switch_does_not_allow_delete(world):
    event = _an_event(world)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), audit_unlocked():
        HandoffEvent.objects.filter(pk=event.pk).delete()


def test_the_erasure_switch_ends_with_the_erasure(world):
    event = _an_event(world)
    with transaction.atomic(), audit_unlocked():
        pass
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        HandoffEvent.objects.filter(pk=event.pk).update(note="sneaky")


def test_the_erasure_switch_needs_a_transaction():
    # No database fixture: outside any transaction, the switch refuses before any query.
    assert not connection.in_atomic_block
    with pytest.raises(RuntimeError), audit_unlocked():
        pass


def test_deleting_an_account_keeps_its_events_without_an_actor(world):
    leaver = UserFactory(username="leaver")
    event = _an_event(world)
    # No switch needed: the trigger allows exactly the foreign key's SET NULL.
    HandoffEvent.objects.create(
        handoff=event.handoff, kind="escalated", actor=leaver, at=timezone.now()
    )
    leaver.delete()
    kept = HandoffEvent.objects.get(handoff=event.handoff, kind="escalated")
    assert kept.actor_id is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_flush_of_the_database_still_works():
    """Test databases are emptied with TRUNCATE, which fires no row trigger."""
    world = make_security_world(handoffs=False)
    world.promote("rep")
    assert HandoffEvent.objects.exists()
    call_command("flush", interactive=False, verbosity=0)
    assert not HandoffEvent.objects.exists()


# --- configuration and lead edits: the audit rows (django-simple-history) ---------------------


def _changes(record: Any) -> dict[str, tuple[Any, Any]]:
    """The before -> after values of one audit row, against the row before it."""
    previous = record.prev_record
    assert previous is not None, "no audit row before this one"
    delta = record.diff_against(previous)
    return {c.field: (c.old, c.new) for c in delta.changes}


@pytest.fixture
def boss(db) -> Any:
    return UserFactory(username="ada.boss", role=SALES_MANAGER, is_staff=True)


@pytest.fixture
def mia(db) -> Any:
    return UserFactory(username="mia.marketer", role=MARKETING)


def test_an_sla_policy_edit_names_its_actor_and_the_values_before_and_after(boss):
    policy = SlaPolicyFactory(name="Hot leads", accept_within_minutes=60)
    policy.accept_within_minutes = 30
    services.sla_policy_save(policy=policy, actor=boss)

    record = policy.history.first()
    assert (record.history_type, record.history_user) == ("~", boss)
    assert _changes(record) == {"accept_within_minutes": (60, 30), "version": (1, 2)}
    assert record.history_date <= timezone.now()


def test_a_scoring_rule_change_and_removal_are_audited_with_the_actor(boss):
    rule = FitRule(name="Big company", field="employee_band", operator="gte", value=200, points=10)
    lead_services.scoring_rule_save(rule=rule, actor=boss)
    rule.points = 15
    lead_services.scoring_rule_save(rule=rule, actor=boss)
    config = ScoringConfig.objects.get()
    config.mql_threshold = 70
    lead_services.scoring_rule_save(rule=config, actor=boss)
    rule_id = rule.pk
    lead_services.scoring_rule_delete(rule=rule, actor=boss)

    rows = list(FitRule.history.filter(id=rule_id).order_by("history_id"))
    assert [(r.history_type, r.history_user) for r in rows] == [
        ("+", boss),
        ("~", boss),
        ("-", boss),
    ]
    assert _changes(rows[1]) == {"points": (10, 15)}
    assert _changes(config.history.first()) == {"mql_threshold": (60, 70)}


def test_a_lead_edit_and_an_owner_change_through_the_api_are_audited(boss, mia):
    lead = LeadFactory(company="Old Co", owner=None)
    client = Client()
    client.force_login(boss)
    answer = client.patch(
        f"/api/leads/{lead.pk}/",
        json.dumps({"company": "New Co", "owner": mia.pk}),
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content

    record = lead.history.first()
    assert (record.history_type, record.history_user) == ("~", boss)
    assert _changes(record) == {"company": ("Old Co", "New Co"), "owner": (None, mia.pk)}


def test_bulk_upserts_write_one_audit_row_per_created_or_changed_lead_in_one_insert(mia):
    LeadFactory(email="kept@acme.example", company="Same")
    LeadFactory(email="moved@acme.example", company="Before")
    rows = [
        {"email": "kept@acme.example", "company": "Same"},
        {"email": "moved@acme.example", "company": "After"},
        *({"email": f"new{i}@acme.example", "company": "Fresh"} for i in range(5)),
    ]
    with CaptureQueriesContext(connection) as queries:
        outcome = lead_services.leads_bulk_upsert(rows=rows, actor=mia)
    assert (outcome.created, outcome.updated) == (5, 2)
    history_inserts = [
        q for q in queries if q["sql"].startswith('INSERT INTO "leads_historicallead"')
    ]
    assert len(history_inserts) == 1  # the created and the changed together

    history = Lead.history.filter(history_user=mia)
    assert history.filter(history_type="+").count() == 5
    changed = history.get(history_type="~")
    assert changed.email == "moved@acme.example"
    assert _changes(changed) == {"company": ("Before", "After")}
    assert not history.filter(email="kept@acme.example").exists()  # nothing changed


def test_admin_edits_name_the_signed_in_person_and_the_history_page_shows_the_change(boss):
    calendar = BusinessCalendarFactory()
    team = TeamFactory(name="EMEA", calendar=calendar, priority=100)
    client = Client()
    client.force_login(boss)
    page = client.get(f"/admin/handoff/team/{team.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/handoff/team/{team.pk}/history/".encode() in page.content

    form = {
        "name": "EMEA North",
        "calendar": calendar.pk,
        "priority": 50,
        "match_regions": "[]",
        "match_countries": "[]",
        "match_industries": "[]",
        "match_employee_bands": "[]",
        "active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    saved = client.post(f"/admin/handoff/team/{team.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]

    record = Team.history.filter(id=team.pk).first()
    assert record.history_user == boss
    assert _changes(record) == {"name": ("EMEA", "EMEA North"), "priority": (100, 50)}
    history = client.get(f"/admin/handoff/team/{team.pk}/history/")
    assert history.status_code == 200
    html = " ".join(history.content.decode().split())
    assert "ada.boss" in html and "EMEA North" in html
    assert "<strong>Priority:</strong> 100 &nbsp;&rarr;&nbsp;&nbsp;50" in html


@pytest.mark.parametrize(
    "url",
    [
        "/admin/handoff/slapolicy/{policy}/history/",
        "/admin/leads/lead/{lead}/history/",
        "/admin/leads/scoringconfig/{config}/history/",
        "/admin/feedback/rejectionreason/{reason}/history/",
        "/admin/pipeline/lostreason/{lost}/history/",
        "/admin/handoff/businesscalendar/{calendar}/history/",
        "/admin/handoff/autopromotionrule/{rule}/history/",
        "/admin/handoff/timeoff/{time_off}/history/",
        "/admin/leads/sourcealias/{alias}/history/",
        "/admin/leads/importmapping/{mapping}/history/",
    ],
)
def test_every_audited_model_has_a_history_page_in_the_admin(boss, url):
    ids = {
        "policy": SlaPolicyFactory().pk,
        "lead": LeadFactory().pk,
        "config": ScoringConfig.objects.get_or_create()[0].pk,
        "reason": RejectionReason.objects.first().pk,
        "lost": LostReason.objects.get_or_create(
            code="price-x", defaults={"label": "Price", "category": "price"}
        )[0].pk,
        "calendar": BusinessCalendarFactory().pk,
        "rule": AutoPromotionRule.objects.create(
            name="Demo requests", event_kinds=["demo_request"]
        ).pk,
        "time_off": TimeOff.objects.create(
            rep=UserFactory(role=SALES),
            starts_on=dt.date(2026, 12, 24),
            ends_on=dt.date(2026, 12, 26),
        ).pk,
        "alias": SourceAlias.objects.create(name="Expo 2027", key="expo2027", source="event").pk,
        "mapping": ImportMapping.objects.create(name="HubSpot", updated_at=timezone.now()).pk,
    }
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(url.format(**ids))
    assert page.status_code == 200
    assert b"change-history" in page.content
    # Read only: reverting would skip the version bumps and the rescoring of the services.
    assert b"View history:" in page.content


def test_a_time_zone_change_is_audited_with_who_set_it(boss, mia):
    lead_services.user_time_zone_set(user=mia, time_zone="Europe/Paris", actor=boss)
    lead_services.user_time_zone_set(user=mia, time_zone="Asia/Tokyo", actor=mia)
    rows = list(UserProfile.history.order_by("history_id"))
    assert [(r.time_zone, r.history_user) for r in rows] == [
        ("Europe/Paris", boss),
        ("Asia/Tokyo", mia),
    ]


def test_auto_promotion_rules_and_time_off_are_audited_with_the_actor(boss, mia):
    rule = AutoPromotionRule(name="Demo requests", event_kinds=["demo_request"], within_minutes=60)
    autopromotion.auto_promotion_rule_save(rule=rule, actor=mia)
    rule.within_minutes = 15
    autopromotion.auto_promotion_rule_save(rule=rule, actor=boss)
    rule_id = rule.pk
    autopromotion.auto_promotion_rule_delete(rule=rule, actor=boss)
    rows = list(AutoPromotionRule.history.filter(id=rule_id).order_by("history_id"))
    assert [(r.history_type, r.history_user) for r in rows] == [
        ("+", mia),
        ("~", boss),
        ("-", boss),
    ]
    assert _changes(rows[1]) == {"within_minutes": (60, 15)}

    rep = UserFactory(username="rae.rep", role=SALES)
    days = time_off.time_off_create(
        actor=boss, rep=rep, starts_on=dt.date(2026, 12, 24), ends_on=dt.date(2026, 12, 26)
    )
    time_off.time_off_delete(actor=rep, time_off_id=days.pk)
    rows = list(TimeOff.history.filter(id=days.pk).order_by("history_id"))
    assert [(r.history_type, r.history_user, r.rep_id) for r in rows] == [
        ("+", boss, rep.pk),
        ("-", rep, rep.pk),
    ]

"""The demo seed: handoffs in every state, made through the services, consistent in time."""

from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from config.management.commands.seed_demo import seed_users
from handoff import demo
from handoff.models import Handoff, HandoffEvent, Notification, SlaPolicy, Team
from handoff.states import Status
from leads import demo as leads_demo

# One worker takes the whole module, so the seed below is made once.
pytestmark = pytest.mark.xdist_group("handoff-demo")


@pytest.fixture(scope="module")
def seeded_once(django_db_setup, django_db_blocker):
    """The demo, seeded once for the module in a transaction rolled back at its end; each test
    runs in a savepoint inside it (its `db`), so what one test changes the next does not see."""
    with django_db_blocker.unblock(), transaction.atomic():
        now = timezone.now()
        users = seed_users()
        rng = random.Random(7)
        context = {"rng": rng, "now": now, "users": users, "lead_count": 150}
        leads_demo.seed(**context, stdout=io.StringIO())
        out = io.StringIO()
        demo.seed(**context, stdout=out)
        yield now, users, context, out.getvalue(), rng.getstate()
        transaction.set_rollback(True)


@pytest.fixture
def seeded(seeded_once, db):
    now, users, context, said, rng_state = seeded_once
    rng = random.Random()
    rng.setstate(rng_state)  # each test goes on from where the seed left the generator
    return now, users, {**context, "rng": rng}, said


def test_the_demo_has_handoffs_in_every_state(seeded):
    *_, said = seeded
    statuses = set(Handoff.objects.values_list("status", flat=True))
    assert statuses == set(Status.values)
    assert 38 <= Handoff.objects.filter(attempt=1).count() <= 42
    assert "Handoffs:" in said
    assert Team.objects.filter(name__in=["AMER", "EMEA", "Global"]).count() == 3
    assert SlaPolicy.objects.get(name="Hot: demo or pricing request").accept_within_minutes == 15
    assert Handoff.objects.filter(return_reason_code__in=demo.RETURNS).count() >= 5


def test_the_demo_history_is_consistent_in_time(seeded):
    now, *_ = seeded
    assert not HandoffEvent.objects.filter(at__gt=now).exists()
    for h in Handoff.objects.prefetch_related("events"):
        times = [e.at for e in h.events.all()]
        assert times == sorted(times), h
        assert h.created_at <= now
        if h.breached_at is not None:
            assert h.breached_at == h.due_at  # dated at the deadline, as the sweep does
        if h.accepted_at and h.due_at:
            assert h.accepted_late == (h.accepted_at > h.due_at)
    # What happened in the story was sent back then; nothing old waits in the outbox.
    assert not Notification.objects.filter(sent_at__isnull=True).exists()


def test_the_demo_seed_is_idempotent(seeded):
    _, _, context, _ = seeded
    before = (Handoff.objects.count(), HandoffEvent.objects.count(), Team.objects.count())
    out = io.StringIO()
    demo.seed(**{**context, "now": context["now"] + dt.timedelta(minutes=5)}, stdout=out)
    assert (Handoff.objects.count(), HandoffEvent.objects.count(), Team.objects.count()) == before
    assert "already there" in out.getvalue()


def test_the_demo_ships_one_active_auto_promotion_rule_that_puts_a_demo_request_with_a_rep(
    seeded,
):
    from handoff.models import AutoPromotion, AutoPromotionRule
    from leads import services as lead_services
    from leads.models import Lead

    now, *_ = seeded
    rule = AutoPromotionRule.objects.get(active=True)
    assert "demo_request" in rule.event_kinds
    # A fresh lead in the demo's catch-all reach asks for a demo: it is with a rep at once.
    lead = Lead.objects.create(email="hot.buyer@fresh-example.com", country="US", stage="lead")
    lead_services.event_record(
        lead=lead, kind="demo_request", occurred_at=now - dt.timedelta(seconds=30), now=now
    )
    firing = AutoPromotion.objects.get(lead=lead)
    assert firing.outcome == "promoted", (firing.code, firing.detail)
    assert firing.handoff.auto_promotion == {"id": rule.pk, "name": rule.name}
    assert firing.handoff.assigned_to is not None or firing.handoff.routing["queue"] == "manager"
    demo.seed(**{**seeded[2], "now": now}, stdout=io.StringIO())
    assert AutoPromotionRule.objects.count() == 1


def test_the_demo_has_a_rep_on_time_off_this_week(seeded):
    from handoff.time_off import reps_off_on

    now, _users, _context, _out = seeded
    off = reps_off_on(timezone.localdate(now))
    assert [t.rep.username for t in off] == ["tom"]
    assert off[0].note == "Sales conference"


def test_the_demo_has_accounts_with_several_leads_and_owners(seeded):
    from leads.models import Account

    biggest = Account.objects.annotate(n=Count("leads")).order_by("-n").first()
    assert biggest.n >= 3
    assert biggest.owner is not None
    assert Team.objects.filter(route_to_account_owner=True).exists()


def test_the_demo_has_a_pql_and_a_re_engaged_lead(seeded):
    from leads.models import Lead

    assert Lead.objects.filter(pql=True).exists()
    re_engaged = Lead.objects.get(ready_reason="re_engaged")
    assert re_engaged.stage == "recycled" and re_engaged.ready_for_sales

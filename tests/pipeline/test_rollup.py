"""The revenue rollup kept in step by the services equals a rebuild from the raw rows, and the
opportunity events are append-only."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from handoff import services as handoff_services
from handoff.erasure import audit_unlocked
from handoff.models import Handoff
from pipeline import metrics, rollup, services
from pipeline.models import Opportunity, OpportunityEvent, RevenueDuration, RevenueRollup
from tests.pipeline.conftest import BANT

REFUSED = "append-only"


def _state() -> tuple[Counter, Counter]:
    """The rollup's rows summed by key (a refresh may split nothing, but compare by key)."""
    counts: Counter = Counter()
    for row in RevenueRollup.objects.values():
        key = tuple(row[k] for k in (*rollup.KEYS, "currency"))
        for name in rollup.COUNTS:
            if row[name]:
                counts[(*key, name)] += Decimal(row[name])
    durations: Counter = Counter()
    for row in RevenueDuration.objects.values():
        durations[(*(row[k] for k in rollup.KEYS), row["metric"], row["hours"])] += row["n"]
    return +counts, +durations


def test_after_a_random_mix_of_operations_the_rollup_equals_a_rebuild(pw):
    rng = random.Random(12)
    users = pw.users
    manager = users["manager"]
    start = timezone.now()
    ops = Counter()
    handoffs: list[Handoff] = []
    open_deals: list[Opportunity] = []
    for step in range(30):
        now = start + dt.timedelta(hours=7 * step)
        choice = rng.choice(
            ["promote", "qualify", "return", "reassign", "open", "amount", "win", "lose", "sync"]
        )
        rep = rng.choice(["rep", "rep_mate", "rep_other"])
        if choice == "promote":
            handoffs.append(pw.world.promote(rep))
        elif choice == "qualify":
            handoffs.append(pw.qualified(rep))
        elif choice == "return":
            handoffs.append(pw.world.returned(rep))
        elif choice == "reassign":
            handoff = pw.world.promote("rep")
            handoffs.append(
                handoff_services.handoff_reassign(
                    handoff=handoff, actor=manager, to_rep=users["rep_mate"], now=now
                )
            )
        elif choice == "open":
            handoff = pw.qualified(rep, pql=True, pql_criteria=[{"kind": "trial_activated"}])
            currency = rng.choice(["USD", "USD", "EUR"])
            open_deals.append(
                services.opportunity_open(
                    handoff=handoff,
                    actor=manager,
                    amount=str(rng.randint(100, 9000)),
                    currency=currency,
                    expected_close_date=now.date(),
                    now=now,
                )
            )
        elif choice == "amount" and open_deals:
            services.opportunity_update(
                opportunity=rng.choice(open_deals), actor=manager, amount="4321.09", now=now
            )
        elif choice == "win" and open_deals:
            deal = open_deals.pop(rng.randrange(len(open_deals)))
            services.opportunity_win(opportunity=deal, actor=manager, amount="5000", now=now)
        elif choice == "lose" and open_deals:
            deal = open_deals.pop(rng.randrange(len(open_deals)))
            services.opportunity_lose(opportunity=deal, actor=manager, reason="price", now=now)
        elif choice == "sync":
            handoff = pw.qualified(rep)
            outcome = services.opportunities_sync(
                rows=[
                    {
                        "external_id": f"crm-{step}",
                        "email": handoff.lead.email,
                        "amount": "700",
                        "currency": "USD",
                        "stage": rng.choice(["open", "won"]),
                    },
                ],
                actor=manager,
                now=now,
            )
            assert outcome.failed == 0, outcome.results
        ops[choice] += 1
    assert Opportunity.objects.exists() and RevenueRollup.objects.exists()
    kept = _state()
    rollup.rebuild()
    assert kept == _state()
    # And the metrics read it: every MQL of the cohort is there.
    every_day = metrics.RevenueFilters(dt.date(2000, 1, 1), dt.date(2100, 1, 1))
    total = metrics.by_dimension("totals", every_day)[0]
    assert total["mqls"] == Handoff.objects.exclude(status="reassigned").count()


def test_the_rebuild_command_rewrites_a_rollup_left_stale_by_sql(pw):
    handoff = pw.qualified("rep")
    services.opportunity_open(
        handoff=handoff,
        actor=pw.users["manager"],
        amount="100",
        expected_close_date=timezone.localdate(),
    )
    kept = _state()
    RevenueRollup.objects.all().delete()
    RevenueDuration.objects.all().delete()
    out = io.StringIO()
    call_command("rebuild_revenue_rollup", stdout=out)
    assert _state() == kept
    assert "Revenue rollup rebuilt" in out.getvalue()


def test_the_handoff_rollup_follows_a_promotion_in_its_own_transaction(pw):
    filters = metrics.RevenueFilters.from_params({})
    before = metrics.by_dimension("totals", filters, durations=False)[0]["mqls"]
    pw.world.promote("rep")
    handoff = pw.qualified("rep_other")
    after = metrics.by_dimension("totals", filters)[0]
    assert after["mqls"] == before + 2
    assert after["sqls"] == 1
    assert handoff.qualified_at is not None and after["days_to_sql_median"] is not None
    assert BANT  # the world qualifies with a BANT


# --- opportunity events are append-only -----------------------------------------------------


def _an_event(pw) -> OpportunityEvent:
    deal = services.opportunity_open(
        handoff=pw.qualified("rep"), actor=pw.users["manager"], amount="100",
        expected_close_date=timezone.localdate(),
    )  # fmt: skip
    return deal.events.get()


def test_an_opportunity_event_cannot_be_rewritten(pw):
    event = _an_event(pw)
    for change in ({"kind": "won"}, {"amount_after": Decimal("1")}, {"at": timezone.now()}):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            OpportunityEvent.objects.filter(pk=event.pk).update(**change)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        OpportunityEvent.objects.filter(pk=event.pk).update(payload={"note": "rewritten"})


@pytest.mark.postgres
def test_an_opportunity_event_cannot_be_deleted_on_postgresql(pw):
    event = _an_event(pw)
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        OpportunityEvent.objects.filter(pk=event.pk).delete()
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM pipeline_opportunityevent")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), audit_unlocked():
        OpportunityEvent.objects.filter(pk=event.pk).delete()
    assert OpportunityEvent.objects.filter(pk=event.pk).exists()


def test_only_the_erasure_may_scrub_an_opportunity_event_payload(pw):
    event = _an_event(pw)
    with transaction.atomic(), audit_unlocked():
        OpportunityEvent.objects.filter(pk=event.pk).update(payload={"note": "[erased]"})
    event.refresh_from_db()
    assert event.payload == {"note": "[erased]"}
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), audit_unlocked():
        OpportunityEvent.objects.filter(pk=event.pk).update(kind="lost")

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
from pipeline.models import (
    Opportunity,
    OpportunityEvent,
    RevenueDirtyDay,
    RevenueDuration,
    RevenueRollup,
    RevenueScore,
    RevenueSlice,
    RevenueSliceDuration,
)
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
    # The slices (every dimension on its own) too.
    for row in RevenueSlice.objects.values():
        key = ("slice", row["day"], row["team_id"], row["dimension"], row["value"], row["currency"])
        for name in rollup.COUNTS:
            if row[name]:
                counts[(*key, name)] += Decimal(row[name])
    for row in RevenueScore.objects.values():  # the threshold advisor's rollup
        key = ("score", row["day"], row["team_id"], row["score"])
        for name in ("sent", "accepted", "qualified", "returned", "won", "won_amount"):
            if row[name]:
                counts[(*key, name)] += Decimal(row[name])
    for row in RevenueSliceDuration.objects.values():
        key = (row["day"], row["team_id"], row["dimension"], row["value"], row["metric"])
        durations[("slice", *key, row["hours"])] += row["n"]
    return +counts, +durations


def test_after_a_random_mix_of_operations_a_refresh_equals_a_rebuild(pw):
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
    assert Opportunity.objects.exists() and RevenueDirtyDay.objects.exists()
    days = rollup.refresh_dirty()
    assert days and not RevenueDirtyDay.objects.exists()
    assert rollup.refresh_dirty() == []  # nothing left dirty: a second run recounts nothing
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
    out = io.StringIO()
    call_command("rebuild_revenue_rollup", "--dirty", stdout=out)
    assert "1 dirty day(s) recounted" in out.getvalue()
    kept = _state()
    RevenueRollup.objects.all().delete()
    RevenueDuration.objects.all().delete()
    out = io.StringIO()
    call_command("rebuild_revenue_rollup", stdout=out)
    assert _state() == kept
    assert "Revenue rollup rebuilt" in out.getvalue()
    assert metrics.as_of() is not None


def test_a_promotion_marks_its_day_and_the_refresh_counts_it(pw):
    filters = metrics.RevenueFilters.from_params({})
    rollup.refresh_dirty()
    before = metrics.by_dimension("totals", filters, durations=False)[0]["mqls"]
    pw.world.promote("rep")
    handoff = pw.qualified("rep_other")
    # Until the refresh, the figures are as of the last one.
    assert metrics.by_dimension("totals", filters, durations=False)[0]["mqls"] == before
    assert list(RevenueDirtyDay.objects.values_list("day", flat=True).distinct()) == [
        rollup.day_of(handoff.created_at)
    ]
    rollup.refresh_dirty()
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


# --- off the request path: a change only marks its promotion day ------------------------------


def _dirty_marks(queries) -> int:
    table = RevenueDirtyDay._meta.db_table
    return sum(1 for q in queries if table in q["sql"] and q["sql"].lstrip().startswith("INSERT"))


def test_an_accept_or_a_return_writes_one_dirty_mark_and_no_recount(pw, client_for):
    """The mark is written by the database trigger on the event's insert (migration
    pipeline.0008): no statement of the request's own, and exactly one mark of the day."""
    from django.test.utils import CaptureQueriesContext

    rep = client_for(pw.users["rep"])
    accepted = pw.world.promote("rep")
    returned = pw.world.promote("rep")
    qualified = pw.world.promote("rep")
    rollup_table = RevenueRollup._meta.db_table
    for handoff, calls in (
        (accepted, [("accept", {})]),
        (returned, [("return", {"reason": "not-ready"})]),
        (qualified, [("accept", {}), ("qualify", {"bant": BANT})]),
    ):
        for action, body in calls:
            RevenueDirtyDay.objects.all().delete()
            with CaptureQueriesContext(connection) as ctx:
                response = rep.post(f"/api/handoffs/{handoff.pk}/{action}/", body, format="json")
            assert response.status_code == 200, response.content
            # Each writes one mark (the threshold advisor counts accepts and returns), never a
            # recount, and the request itself runs no statement for it.
            marks = list(RevenueDirtyDay.objects.values_list("day", flat=True))
            assert marks == [rollup.day_of(handoff.created_at)]
            assert _dirty_marks(ctx.captured_queries) == 0
            assert not any(rollup_table in q["sql"] for q in ctx.captured_queries)


def test_a_first_touch_a_breach_or_a_pause_marks_nothing_an_accept_marks_its_day(pw):
    from handoff.models import HandoffEvent

    handoff = pw.world.promote("rep")
    RevenueDirtyDay.objects.all().delete()
    for kind in (HandoffEvent.Kind.FIRST_TOUCH, HandoffEvent.Kind.BREACHED):
        HandoffEvent.objects.create(handoff=handoff, kind=kind, at=timezone.now())
    HandoffEvent.objects.create(  # a pause: waiting and back, no status the figures read
        handoff=handoff, kind="transition", at=timezone.now(), from_status="pending",
        to_status="waiting",
    )  # fmt: skip
    assert not RevenueDirtyDay.objects.exists()
    HandoffEvent.objects.create(
        handoff=handoff,
        kind=HandoffEvent.Kind.TRANSITION,
        at=timezone.now(),
        from_status="pending",
        to_status="accepted",
    )
    assert list(RevenueDirtyDay.objects.values_list("day", flat=True)) == [
        rollup.day_of(handoff.created_at)
    ]


def test_a_deal_change_marks_its_promotion_day_once_and_the_refresh_is_idempotent(pw):
    from django.test.utils import CaptureQueriesContext

    handoff = pw.qualified("rep")
    rollup.refresh_dirty()
    with CaptureQueriesContext(connection) as ctx:
        deal = services.opportunity_open(
            handoff=handoff,
            actor=pw.users["manager"],
            amount="250",
            expected_close_date=timezone.localdate(),
        )
    assert _dirty_marks(ctx.captured_queries) == 1
    assert not any(RevenueRollup._meta.db_table in q["sql"] for q in ctx.captured_queries)
    services.opportunity_win(opportunity=deal, actor=pw.users["manager"])
    assert rollup.refresh_dirty() == [rollup.day_of(handoff.created_at)]
    once = _state()
    # A day recounted again (a mark left by a retried transaction) gives the same rows.
    rollup.mark_dirty(rollup.day_of(handoff.created_at))
    rollup.refresh_dirty()
    assert _state() == once
    total = metrics.by_dimension("totals", metrics.RevenueFilters.from_params({}))[0]
    assert (total["won"], total["won_amount"]) == (1, "250.00")


def test_the_beat_task_recounts_the_dirty_days(pw):
    from pipeline.tasks import revenue_rollup_refresh

    pw.world.promote("rep")
    assert revenue_rollup_refresh() == 1
    assert revenue_rollup_refresh() == 0
    assert not RevenueDirtyDay.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_refresh_returns_at_once_while_one_runs(pw):
    """Two workers never recount together: the second finds the advisory lock taken."""
    import threading

    from django.db import connections

    pw.world.promote("rep")
    holding, release = threading.Event(), threading.Event()

    def first_worker() -> None:
        try:
            with transaction.atomic():
                assert rollup._try_refresh_lock()
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    worker = threading.Thread(target=first_worker)
    worker.start()
    try:
        assert holding.wait(10)
        assert rollup.refresh_dirty() is None  # did not wait, counted nothing
        assert RevenueDirtyDay.objects.exists()
    finally:
        release.set()
        worker.join()
    assert rollup.refresh_dirty()  # the lock is free again: the day is recounted
    assert not RevenueDirtyDay.objects.exists()

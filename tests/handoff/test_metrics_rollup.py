"""The dashboard's daily rollup (handoff.rollup): after random operations through the services,
with reads in between (each bringing it up to date), it equals a recount from the raw handoffs,
and the figures read from it equal the figures read from the handoffs; what a read costs; the
rebuild command."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from feedback.services import feedback_return_handoff
from handoff import metrics, rollup, rollup_accepts, services
from handoff.metrics import cohort, outcomes
from handoff.metrics.accepts import accept_rows, accept_times_from, raw_accept_rows
from handoff.metrics.durations import has_percentile_cont
from handoff.metrics.groups import groups_from
from handoff.metrics.open_lists import open_counts
from handoff.models import DashboardDay, Handoff
from handoff.states import Status
from handoff.sweep import sla_sweep
from leads.models import Source
from tests.factories import LeadFactory
from tests.handoff.metrics_fixture import BANT, NOW, MetricsWorld, build, ny

ZONES = ("America/New_York", "UTC", "Asia/Kolkata")
FIELDS = ("mql", "sal", "sql", "returned", "open", "attempts", "attempts_accepted", "due", "met")


@pytest.fixture
def world(db, manager, marketer) -> MetricsWorld:
    return build(manager=manager, marketer=marketer)


def _rows(zone: str) -> Counter:
    """The zone's rollup as {key and count name: value}, zero counts left out."""
    state: Counter = Counter()
    for row in DashboardDay.objects.filter(zone=zone).values():
        key = tuple(row[k] for k in ("day", "part", "team_id", "rep_id", "source", "pql"))
        for name in FIELDS:
            if row[name]:
                state[(*key, name)] += row[name]
    return state


def _accept_weeks(zone: str) -> list[tuple[Any, ...]]:
    """Time to accept's rows of the zone (PostgreSQL; none elsewhere), sorted."""
    if not rollup_accepts.enabled():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT week, team_id, rep_id, wall, business FROM {rollup_accepts.TABLE} "
            "WHERE zone = %s ORDER BY week, team_id, rep_id",
            [zone],
        )
        return cursor.fetchall()


def _raw_figures(filters: metrics.SlaFilters, now: dt.datetime) -> dict[str, Any]:
    """The figures from the handoffs themselves (the reads the rollup replaced)."""
    rows = cohort.cohort_rows(filters)
    outcome = outcomes.outcome_rows(filters, now=now)
    # PostgreSQL: percentile_cont over the accepts (the rollup's figures must equal it)
    accepts = raw_accept_rows(filters) if has_percentile_cont() else accept_rows(filters)
    open_rows = open_counts(now=now, team=filters.team)
    return {
        "funnel": cohort.funnel_from(rows),
        "compliance": outcomes.compliance_from(outcome),
        "weekly": outcomes.weekly_from(outcome, filters),
        "time_to_accept": accept_times_from(accepts),
        "by_team": groups_from("team", rows, outcome, accepts, open_rows),
        "by_rep": groups_from("rep", rows, outcome, accepts, open_rows),
        "by_source": cohort.sources_from(rows),
        "funnel_by_kind": cohort.kinds_from(cohort.kind_rows(filters)),
    }


def _operate(world: MetricsWorld, rng: random.Random, at: dt.datetime) -> str:
    """One random operation through the services at `at`."""
    pending = list(Handoff.objects.filter(status=Status.PENDING).order_by("pk"))
    accepted = list(Handoff.objects.filter(status=Status.ACCEPTED).order_by("pk"))
    choice = rng.choice(["promote", "promote", "accept", "return", "qualify", "reassign", "sweep"])
    if choice == "promote" or (choice in ("accept", "return", "reassign") and not pending):
        team = rng.choice([world.amer, world.emea])
        pql = rng.random() < 0.3  # a PQL's criteria are frozen on its handoff
        lead = LeadFactory(
            stage="lead",
            score=70,
            owner=world.marketer,
            source=rng.choice(Source.values),
            pql=pql,
            pql_criteria=[{"kind": "trial_activated"}] if pql else [],
        )
        services.handoff_promote(
            lead=lead, actor=world.marketer, team=team, now=at, note="Asked for a demo today."
        )
        return "promote"
    if choice == "accept":
        handoff = rng.choice(pending)
        services.handoff_accept(handoff=handoff, actor=handoff.assigned_to, now=at)
    elif choice == "return":
        handoff = rng.choice(pending)
        feedback_return_handoff(
            handoff=handoff, actor=handoff.assigned_to, reason="no-budget", now=at
        )
    elif choice == "reassign":
        handoff = rng.choice(pending)
        to_rep = world.olga if handoff.assigned_to_id == world.rob.pk else world.rob
        services.handoff_reassign(handoff=handoff, actor=world.manager, to_rep=to_rep, now=at)
    elif choice == "qualify" and accepted:
        handoff = rng.choice(accepted)
        services.handoff_qualify(handoff=handoff, actor=handoff.assigned_to, bant=BANT, now=at)
    elif choice == "sweep":
        sla_sweep(now=at.astimezone(dt.UTC))
    return choice


@pytest.mark.parametrize("seed", [3, 17])
def test_after_random_operations_the_rollup_equals_a_recount_and_the_raw_figures(world, seed):
    rng = random.Random(seed)
    done: Counter = Counter()
    at = ny(10, 13)
    for step in range(36):
        at += dt.timedelta(minutes=rng.choice([7, 45, 180, 600, 1500]))
        # The services stamp updated_at with their `now`, and the clock shows the same time,
        # as in production.
        with time_machine.travel(at, tick=False):
            done[_operate(world, rng, at)] += 1
            if step % 5 == 0:  # a manager reads in between, in some zone
                with timezone.override(rng.choice(ZONES)):
                    metrics.sla_metrics(metrics.SlaFilters.default(now=at), now=at)
    assert done["promote"] and done["accept"] + done["return"] + done["reassign"]
    for zone in ZONES:
        now = at + dt.timedelta(minutes=1)
        with timezone.override(zone), time_machine.travel(now, tick=False):
            for filters in (
                metrics.SlaFilters(start=dt.date(2025, 1, 27), end=dt.date(2025, 3, 31)),
                metrics.SlaFilters(start=dt.date(2025, 2, 10), end=dt.date(2025, 2, 12)),
                metrics.SlaFilters(
                    start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 1), team=world.emea.pk
                ),
            ):
                figures = metrics.sla_metrics(filters, now=now)  # brings the rollup up to date
                raw = _raw_figures(filters, now)
                for name, value in raw.items():
                    assert figures[name] == value, (zone, filters, name)
            kept, accept_weeks = _rows(zone), _accept_weeks(zone)
            assert kept  # the zone was read, so it has rows
            assert accept_weeks or not rollup_accepts.enabled()
            rollup.recount(zone, None)  # a recount of every day from the raw rows
            assert _rows(zone) == kept, zone
            assert _accept_weeks(zone) == accept_weeks, zone


def test_a_quiet_read_costs_two_queries_for_the_rollup_and_writes_nothing(
    world, django_assert_max_num_queries
):
    filters = metrics.SlaFilters(start=dt.date(2025, 2, 3), end=dt.date(2025, 2, 10))
    metrics.sla_metrics(filters, now=NOW)  # builds the zone
    later = timezone.now() + rollup.MARGIN + dt.timedelta(seconds=5)
    with time_machine.travel(later, tick=False):
        metrics.sla_metrics(filters, now=NOW)  # the writes are older than MARGIN: caught up
        # the refresh (its state, the handoffs written since: none; no lock, nothing written),
        # the two rollup reads (promotions; attempts and outcomes) and the unflagged breaches,
        # the accepts, the open counts and the two lists, the team and rep names
        with django_assert_max_num_queries(11) as captured:
            data = metrics.sla_metrics(filters, now=NOW)
    assert data["compliance"]["compliance"] == 0.75
    written = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SELECT")]
    assert written == []


def test_a_write_after_a_read_shows_in_the_next_read(world):
    filters = metrics.SlaFilters(start=dt.date(2025, 2, 3), end=dt.date(2025, 2, 10))
    before = metrics.sla_metrics(filters, now=NOW)["funnel"]["sal"]
    pending = world.h["h6"]
    services.handoff_accept(handoff=pending, actor=pending.assigned_to, now=NOW)
    assert metrics.sla_metrics(filters, now=NOW)["funnel"]["sal"] == before + 1


def test_the_rebuild_command_rewrites_rows_changed_behind_its_back(world):
    filters = metrics.SlaFilters(start=dt.date(2025, 2, 3), end=dt.date(2025, 2, 10))
    with timezone.override("America/New_York"):
        right = metrics.funnel(filters)
        DashboardDay.objects.filter(part=DashboardDay.Part.PROMOTIONS).update(mql=0)
        out = io.StringIO()
        call_command("rebuild_dashboard_rollup", "--zone", "Europe/Paris", stdout=out)
        assert "America/New_York:" in out.getvalue() and "Europe/Paris:" in out.getvalue()
        assert metrics.funnel(filters) == right


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-01-27", "2025-02-09"),  # Monday to Sunday: week rows only
        ("2025-01-29", "2025-02-12"),  # edges on both sides of a full week
        ("2025-02-04", "2025-02-08"),  # inside one week: day rows only
        ("2025-02-03", "2025-02-16"),  # this week whole in the range (a week row counts it)
        ("2025-01-01", "2025-02-10"),  # the default end: this week read as days
    ],
)
def test_week_rows_and_edge_days_give_the_figures_of_the_raw_rows(world, start, end):
    for team in (None, world.amer.pk):
        filters = metrics.SlaFilters(
            start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end), team=team
        )
        figures = metrics.sla_metrics(filters, now=NOW)
        for name, value in _raw_figures(filters, NOW).items():
            assert figures[name] == value, (start, end, team, name)
    weeks = DashboardDay.objects.filter(part=DashboardDay.Part.REPS_WEEK)
    assert weeks and all(row.day.weekday() == 0 for row in weeks)

"""The feedback rollup (feedback.rollup): after random operations through the services (promote,
accept, return with reasons, qualify, reassign, dispute) and direct writes, with reads and
compactions in between, every figure of the metrics payload equals the same figure read from
the raw handoffs, for date ranges cutting months and for team, source and campaign filters; the
rollup equals a recount; the rebuild command."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from feedback import rollup
from feedback.models import FeedbackRollup, ReturnFeedback
from feedback.selectors import (
    MetricsFilters,
    feedback_metrics,
    outcome_totals,
    outcomes_by,
    raw_reason_mix,
    reason_mix,
    threshold_advisor,
)
from feedback.services import (
    feedback_acknowledge,
    feedback_resolve_dispute,
    feedback_return_handoff,
)
from handoff import services
from handoff.models import Handoff
from handoff.states import Status
from leads.models import Source
from tests.factories import CampaignFactory, HandoffFactory, LeadFactory
from tests.handoff.metrics_fixture import BANT, MetricsWorld, build, ny

pytestmark = pytest.mark.django_db

REASONS = ("no-budget", "not-icp", "not-ready", "duplicate")
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")


@pytest.fixture
def world(db, manager, marketer) -> MetricsWorld:
    return build(manager=manager, marketer=marketer)


def _state() -> Counter:
    """The rollup's sums by month and key, zero sums left out."""
    state: Counter = Counter()
    for row in FeedbackRollup.objects.values():
        key = tuple(row[k] for k in ("period", "kind", *rollup.KEYS))
        for name in rollup.COUNTS:
            state[(*key, name)] += row[name]
    return +state


def _raw_payload(filters: MetricsFilters) -> dict[str, Any]:
    """The payload's figures computed from the raw handoffs, one query per figure."""
    return {
        "totals": outcome_totals(filters),
        "reason_mix": raw_reason_mix(filters),
        **{
            f"by_{dim}": outcomes_by(dim, filters)
            for dim in ("source", "campaign", "score_band", "team", "rep", "qualification")
        },
        "threshold_advisor": threshold_advisor(filters, bucket_rows=_raw_buckets(filters)),
    }


def _raw_buckets(filters: MetricsFilters) -> list[dict[str, Any]]:
    from feedback.selectors import _raw_buckets
    from feedback.selectors.advisor import _thresholds

    return list(_raw_buckets(filters, _thresholds()).values())


def _operate(world: MetricsWorld, rng: random.Random, at: dt.datetime, campaigns: list) -> str:
    pending = list(Handoff.objects.filter(status=Status.PENDING).order_by("pk"))
    accepted = list(Handoff.objects.filter(status=Status.ACCEPTED).order_by("pk"))
    choice = rng.choice(
        ["promote", "promote", "accept", "return", "qualify", "reassign", "dispute", "edit"]
    )
    if choice == "promote" or (choice in ("accept", "return", "reassign") and not pending):
        pql = rng.random() < 0.3
        lead = LeadFactory(
            stage="lead",
            score=rng.choice([25, 39, 40, 55, 61, 80, 99, 104]),
            owner=world.marketer,
            source=rng.choice(Source.values),
            campaign=rng.choice(campaigns),
            pql=pql,
            pql_criteria=[{"kind": "trial_activated"}] if pql else [],
        )
        services.handoff_promote(
            lead=lead,
            actor=world.marketer,
            team=rng.choice([world.amer, world.emea]),
            now=at,
            note="Asked for a demo today.",
        )
        return "promote"
    if choice == "accept":
        handoff = rng.choice(pending)
        services.handoff_accept(handoff=handoff, actor=handoff.assigned_to, now=at)
    elif choice == "return":
        handoff = rng.choice(rng.choice([pending, accepted]) or pending)
        feedback_return_handoff(
            handoff=handoff,
            actor=handoff.assigned_to,
            reason=rng.choice(REASONS),
            note="Checked the account.",
            now=at,
        )
    elif choice == "reassign":
        handoff = rng.choice(pending)
        to_rep = world.olga if handoff.assigned_to_id == world.rob.pk else world.rob
        services.handoff_reassign(handoff=handoff, actor=world.manager, to_rep=to_rep, now=at)
    elif choice == "qualify" and accepted:
        handoff = rng.choice(accepted)
        services.handoff_qualify(handoff=handoff, actor=handoff.assigned_to, bant=BANT, now=at)
    elif choice == "dispute":
        feedback = ReturnFeedback.objects.filter(acknowledged_at__isnull=True).first()
        if feedback is None:
            return "none"
        feedback_acknowledge(
            feedback=feedback,
            actor=world.marketer,
            reply="It fits the profile.",
            follow_up="dispute",
            now=at,
        )
        feedback_resolve_dispute(
            feedback=feedback,
            actor=world.manager,
            upheld=rng.random() < 0.5,
            resolution="Checked the account.",
            now=at,
        )
    elif choice == "edit":  # direct writes: the triggers see every statement, not only services
        handoff = Handoff.objects.order_by("?").first()
        assert handoff is not None
        Handoff.objects.filter(pk=handoff.pk).update(
            score_snapshot=rng.choice([10, 45, 70, 95]),
            lead_campaign=rng.choice(campaigns),
            created_at=handoff.created_at - dt.timedelta(days=rng.choice([0, 3, 20])),
        )
    return choice


def _filters(world: MetricsWorld, campaigns: list) -> list[MetricsFilters]:
    return [
        MetricsFilters(),
        MetricsFilters(date_from=dt.date(2025, 3, 1)),
        MetricsFilters(date_to=dt.date(2025, 4, 30)),
        MetricsFilters(date_from=dt.date(2025, 3, 1), date_to=dt.date(2025, 4, 30)),
        MetricsFilters(date_from=dt.date(2025, 2, 20), date_to=dt.date(2025, 5, 12)),
        MetricsFilters(date_from=dt.date(2025, 3, 10), date_to=dt.date(2025, 3, 20)),
        MetricsFilters(date_from=dt.date(2025, 2, 28), date_to=dt.date(2025, 4, 1)),
        MetricsFilters(date_from=dt.date(2025, 3, 3), team=world.amer.pk),
        MetricsFilters(team=world.emea.pk, date_to=dt.date(2025, 4, 2)),
        MetricsFilters(source=Source.values[0]),
        MetricsFilters(campaign=campaigns[0].pk, date_from=dt.date(2025, 4, 1)),
    ]


@pytest.mark.parametrize("seed", [5, 23])
def test_after_random_operations_every_payload_figure_equals_the_raw_handoffs(world, seed):
    rng = random.Random(seed)
    campaigns = [CampaignFactory(name="Spring"), CampaignFactory(name="Webinar"), None]
    done: Counter = Counter()
    at = ny(10, 13)  # after the world's own history: time only moves on
    for step in range(45):
        at += dt.timedelta(minutes=rng.choice([30, 240, 1500, 4000, 9000]))
        with time_machine.travel(at, tick=False):
            done[_operate(world, rng, at, campaigns)] += 1
            if step % 7 == 0:  # a read in between folds the delta rows, or not
                rollup.compact(after=rng.choice([0, 5, 1000]))
                with timezone.override(rng.choice(ZONES)):
                    feedback_metrics(MetricsFilters(date_from=dt.date(2025, 3, 1)))
    assert done["promote"] and done["return"] and done["accept"] and done["dispute"]
    assert FeedbackRollup.objects.filter(delta=True).exists()
    assert len({p.month for p in FeedbackRollup.objects.values_list("period", flat=True)}) >= 3
    for zone in ZONES:  # the report page reads in the viewer's zone: months cut by instants
        with timezone.override(zone):
            for filters in _filters(world, campaigns):
                whole = feedback_metrics(filters)
                for name, value in _raw_payload(filters).items():
                    assert whole[name] == value, (zone, filters, name)
                assert reason_mix(filters) == whole["reason_mix"]
    before = _state()
    assert rollup.compact(after=0)
    assert not FeedbackRollup.objects.filter(delta=True).exists()
    assert _state() == before
    rollup.rebuild()
    assert _state() == before


def test_a_status_change_moves_one_handoff_between_counts_in_the_same_transaction(world):
    handoff = world.h["h6"]  # pending
    key = {"period": dt.date(2025, 2, 1), "assigned_to_id": handoff.assigned_to_id}

    def counts() -> dict[str, int]:
        rows = FeedbackRollup.objects.filter(**key).values_list(*rollup.COUNTS)
        return dict(zip(rollup.COUNTS, map(sum, zip(*rows, strict=True)), strict=True))

    before = counts()
    with time_machine.travel(ny(10, 13), tick=False):
        feedback_return_handoff(
            handoff=handoff,
            actor=handoff.assigned_to,
            reason="no-budget",
            note="No budget this year.",
            now=ny(10, 13),
        )
    after = counts()
    assert after["handoffs"] == before["handoffs"]
    assert (after["open"], after["returned"]) == (before["open"] - 1, before["returned"] + 1)


def test_a_reassigned_handoff_leaves_the_counts_and_its_next_attempt_enters(world):
    handoff = world.h["h8b"]
    total = FeedbackRollup.objects.filter(kind=rollup.BY_KEYS).values_list("handoffs", flat=True)
    before = sum(total)
    with time_machine.travel(ny(10, 13), tick=False):
        services.handoff_reassign(
            handoff=handoff, actor=world.manager, to_rep=world.rob, now=ny(10, 13)
        )
    assert sum(total) == before
    assert sum(total) == Handoff.objects.exclude(status=Status.REASSIGNED).count()


def test_a_changed_band_or_threshold_setting_reads_the_same_rollup_right(world, settings):
    settings.FEEDBACK_SCORE_BANDS = [0, 50, 75]
    settings.FEEDBACK_THRESHOLD_CANDIDATES = [35, 50, 65, 85]
    filters = MetricsFilters(date_from=dt.date(2025, 2, 4))
    whole = feedback_metrics(filters)
    assert [row["label"] for row in whole["by_score_band"]] == [
        row["label"] for row in outcomes_by("score_band", filters)
    ]
    for name, value in _raw_payload(filters).items():
        assert whole[name] == value, name


def test_deleting_a_handoff_takes_it_out_of_the_counts(world):
    def total() -> int:
        return sum(
            FeedbackRollup.objects.filter(kind=rollup.BY_SCORE).values_list("handoffs", flat=True)
        )

    # A handoff without events (they are append-only on PostgreSQL), as a load by SQL leaves.
    extra = HandoffFactory(created_at=ny(12, 9), score_snapshot=61)
    before = total()
    Handoff.objects.filter(pk=extra.pk).delete()
    assert total() == before - 1


@override_settings(TIME_ZONE="Asia/Kolkata")
def test_the_rebuild_command_recounts_in_the_site_zone(world):
    out = io.StringIO()
    call_command("rebuild_feedback_rollup", stdout=out)
    assert "rows" in out.getvalue()
    # Midnight UTC on 1 March is 05:30 in Kolkata: still March there, February in UTC.
    periods = set(FeedbackRollup.objects.values_list("period", flat=True))
    assert periods == {dt.date(2025, 2, 1)}
    filters = MetricsFilters(date_from=dt.date(2025, 2, 5), date_to=dt.date(2025, 2, 28))
    whole = feedback_metrics(filters)
    for name, value in _raw_payload(filters).items():
        assert whole[name] == value, name


def test_the_payload_reads_the_rollup_not_every_handoff(world, django_assert_max_num_queries):
    rollup.compact(after=0)
    with django_assert_max_num_queries(10):
        feedback_metrics(MetricsFilters(date_from=dt.date(2025, 2, 4)))
    with django_assert_max_num_queries(3):
        reason_mix(MetricsFilters(team=world.amer.pk))


def test_beat_folds_the_correction_rows_without_changing_a_figure(world, settings):
    from feedback.tasks import feedback_rollup_compact

    assert "feedback-rollup-compact" in settings.CELERY_BEAT_SCHEDULE
    handoff = world.h["h6"]  # pending: returning it writes correction rows
    before = feedback_metrics(MetricsFilters())
    with time_machine.travel(ny(10, 13), tick=False):
        feedback_return_handoff(
            handoff=handoff,
            actor=handoff.assigned_to,
            reason="no-budget",
            note="No budget this year.",
            now=ny(10, 13),
        )
    after = feedback_metrics(MetricsFilters())
    assert after["totals"]["returned"] == before["totals"]["returned"] + 1
    assert FeedbackRollup.objects.filter(delta=True).exists()
    assert feedback_rollup_compact() > 0
    assert not FeedbackRollup.objects.filter(delta=True).exists()
    assert feedback_metrics(MetricsFilters()) == after
    assert feedback_rollup_compact() == 0

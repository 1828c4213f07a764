"""The feedback demo: a taxonomy, decided history the analytics can show, marketing's answers;
safe to run twice."""

from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from django.utils import timezone

from config.management.commands.seed_demo import seed_users
from feedback import demo as feedback_demo
from feedback.models import RejectionReason, ReturnFeedback
from feedback.selectors import feedback_metrics
from handoff.models import Handoff, Notification
from handoff.states import Status
from leads import demo as leads_demo
from tests.factories import SlaPolicyFactory, TeamFactory, TeamMembershipFactory

pytestmark = pytest.mark.django_db


def run(seeders, now):
    users = seed_users()
    out = io.StringIO()
    for seeder in seeders:
        seeder.seed(rng=random.Random(7), now=now, users=users, lead_count=150, stdout=out)
    return out.getvalue()


def desk():
    """What handoff.demo sets up: a catch-all team with the demo reps, and a policy."""
    from django.contrib.auth.models import User

    team = TeamFactory(name="Demo team")
    for position, name in enumerate(["sam", "rita", "raj"]):
        TeamMembershipFactory(team=team, rep=User.objects.get(username=name), position=position)
    SlaPolicyFactory(name="Demo default", precedence=1000, accept_within_minutes=240)


def test_the_demo_fills_the_loop_and_adds_nothing_the_second_time():
    now = timezone.now().replace(microsecond=0)
    seed_users()
    desk()
    output = run([leads_demo, feedback_demo], now)
    assert "Feedback:" in output
    codes = set(RejectionReason.objects.values_list("code", flat=True))
    assert {"not-icp", "no-budget", "not-ready", "bad-data", "duplicate", "student"} <= codes
    assert RejectionReason.objects.get(code="bad-data").note_required
    assert RejectionReason.objects.get(code="not-ready").recycle_days == 60

    returned = Handoff.objects.filter(status=Status.RETURNED)
    assert returned.count() >= 10
    assert ReturnFeedback.objects.count() == returned.count()
    assert Handoff.objects.filter(status__in=[Status.ACCEPTED, Status.QUALIFIED]).count() >= 5
    assert ReturnFeedback.objects.filter(acknowledged_at__isnull=False).exclude(reply="").exists()
    assert ReturnFeedback.objects.filter(dispute_status="open").count() == 1
    assert ReturnFeedback.objects.filter(acknowledged_at__isnull=True).exists()
    # Historical notifications are not sent again today.
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    metrics = feedback_metrics()
    assert metrics["totals"]["decided"] >= 20
    assert metrics["reason_mix"]

    counts = (
        Handoff.objects.count(),
        ReturnFeedback.objects.count(),
        RejectionReason.objects.count(),
    )
    run([leads_demo, feedback_demo], now + dt.timedelta(minutes=5))
    assert (
        Handoff.objects.count(),
        ReturnFeedback.objects.count(),
        RejectionReason.objects.count(),
    ) == counts


def test_returned_handoffs_without_feedback_get_a_row_from_their_reason_code():
    from tests.factories import HandoffFactory

    now = timezone.now()
    handoff = HandoffFactory(
        status=Status.RETURNED,
        return_reason_code="duplicate",
        return_note="Same as Acme's other contact",
        returned_at=now,
        lead__stage="disqualified",
    )
    run([feedback_demo], now)
    feedback = ReturnFeedback.objects.get(handoff=handoff)
    assert (feedback.reason.code, feedback.note, feedback.lead_effect) == (
        "duplicate",
        "Same as Acme's other contact",
        "disqualify",
    )


def test_the_demo_shows_a_contradicted_rule_and_last_weeks_digest():
    from feedback import contradictions, digest

    now = timezone.now().replace(microsecond=0)
    seed_users()
    desk()
    run([leads_demo, feedback_demo], now)
    assert any(r["returns"] for r in contradictions.contradicted_rules())
    week = digest.last_week(timezone.localdate(now))
    built = digest.digest_build(week)
    assert built["week"] == week.label
    assert built["this"]["mqls"] + built["this"]["pqls"] > 0


def test_the_demo_records_the_digest_each_recipient_last_got_and_beat_resends_none():
    from django.core import mail

    from feedback import digest
    from feedback.models import DigestDelivery
    from leads.models import UserProfile

    # Tuesday 1 Dec 2026 10:00 UTC: everyone's Monday morning has passed (Auckland's too).
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    users = seed_users()
    UserProfile.objects.create(user=users["maria"], time_zone="Pacific/Auckland")
    desk()
    run([leads_demo, feedback_demo], now)
    weeks = dict(DigestDelivery.objects.values_list("recipient__username", "week"))
    assert weeks["maria"] == weeks["nina"] == "2026-W48"
    assert not DigestDelivery.objects.filter(sent_at__isnull=True).exists()
    mail.outbox.clear()
    assert digest.digest_send_due(now=now)["sent"] == 0 and not mail.outbox
    # The next Monday morning in Auckland (Sunday 19:00 UTC) Maria gets 2026-W49, live.
    assert digest.digest_send_due(now=dt.datetime(2026, 12, 6, 19, 5, tzinfo=dt.UTC))["sent"] == 1
    assert [m.to for m in mail.outbox] == [["maria@demo.handoff.test"]]

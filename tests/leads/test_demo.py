"""leads.demo: a realistic pipeline, seeded once."""

from __future__ import annotations

import random
from io import StringIO

from django.contrib.auth.models import User
from django.db.models import Count
from django.utils import timezone

from leads import demo
from leads.models import Campaign, EngagementEvent, FitRule, Lead
from tests.factories import UserFactory


def seed(users, count=150):
    out = StringIO()
    demo.seed(rng=random.Random(7), now=timezone.now(), users=users, lead_count=count, stdout=out)
    return out.getvalue()


def test_the_demo_seeds_scored_leads_across_sources_and_campaigns_owned_by_marketers(db):
    users = {name: UserFactory(username=name, role="Marketing") for name in ("maria", "mark")}

    seed(users)

    assert Lead.objects.count() == 150
    assert Lead.objects.values("source").distinct().count() >= 8
    assert Campaign.objects.count() == len(demo.CAMPAIGNS)
    assert FitRule.objects.exists()
    assert set(Lead.objects.exclude(owner=None).values_list("owner__username", flat=True)) == {
        "maria",
        "mark",
    }
    assert EngagementEvent.objects.count() > 150
    oldest = timezone.now() - Lead.objects.order_by("created_at").first().created_at
    assert 30 < oldest.days <= 61
    assert Lead.objects.filter(ready_for_sales=True).exists()
    assert Lead.objects.filter(ready_for_sales=False).exists()
    assert all(lead.score_breakdown["total"] == lead.score for lead in Lead.objects.all())
    assert User.objects.get(username="maria").is_staff


def test_a_second_run_adds_nothing(db):
    users = {"maria": UserFactory(username="maria", role="Marketing")}
    seed(users)
    before = (
        Lead.objects.count(),
        EngagementEvent.objects.count(),
        Campaign.objects.count(),
        FitRule.objects.count(),
    )

    out = seed(users)

    after = (
        Lead.objects.count(),
        EngagementEvent.objects.count(),
        Campaign.objects.count(),
        FitRule.objects.count(),
    )
    assert after == before
    assert "0 created (150 already there)" in out
    assert not Lead.objects.values("email").annotate(n=Count("id")).filter(n__gt=1).exists()

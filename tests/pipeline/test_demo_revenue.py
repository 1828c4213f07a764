"""The demo's revenue section is alive at first start: seed_demo counts its story into the
revenue rollups, so the first page agrees with a recomputation before beat's first refresh."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from pipeline import rollup
from pipeline.metrics import RevenueFilters, revenue_metrics
from pipeline.models import RevenueDirtyDay

pytestmark = pytest.mark.django_db


def test_the_demo_revenue_shows_at_once_and_equals_a_rebuild():
    call_command("seed_demo", "--leads", "150", stdout=io.StringIO())
    filters = RevenueFilters.from_params({})

    first = revenue_metrics(filters)

    assert first["totals"]["won"] > 0 and first["totals"]["opportunities"] > 0
    assert first["by_source"] and first["totals"]["other_currencies"]
    assert not RevenueDirtyDay.objects.exists()
    rollup.rebuild()
    again = revenue_metrics(filters)
    for table in ("totals", "by_source", "by_campaign", "by_score_band", "by_team", "by_rep"):
        assert first[table] == again[table], table

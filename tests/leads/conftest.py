"""Fixtures for the leads tests."""

from __future__ import annotations

import pytest

from leads import services


@pytest.fixture
def default_rules(db):
    """The rules a fresh install starts with (leads.scoring.DEFAULT_*), threshold 60."""
    services.scoring_rules_install_defaults()

"""Reads of the leads app: who sees which leads, the scoring rules in force, event windows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet

from core import roles
from core.bulksql import fast_cursor
from core.types import Visitor
from leads.models import EngagementEvent, EngagementRule, FitRule, Lead, ScoringConfig
from leads.scoring import EventFact, ScoringRules, rules_from_rows


def scoring_config() -> ScoringConfig:
    """The one row of scoring settings (created with the defaults on first use)."""
    config, _ = ScoringConfig.objects.get_or_create(pk=1)
    return config


# The rules last read, per database, keyed by their fingerprint (see _rules_fingerprint).
_RULES_SEEN: dict[str, tuple[tuple[Any, ...], ScoringRules]] = {}

_FINGERPRINT_SQL = (
    "SELECT c.version, c.mql_threshold, c.engagement_half_life_days, c.engagement_window_days,"
    " (SELECT md5(coalesce(string_agg(f::text, '|' ORDER BY f.id), '')) FROM leads_fitrule f"
    " WHERE f.active),"
    " (SELECT md5(coalesce(string_agg(e::text, '|' ORDER BY e.id), '')) FROM leads_engagementrule e"
    " WHERE e.active)"
    " FROM leads_scoringconfig c WHERE c.id = 1"
)


def _rules_fingerprint() -> tuple[Any, ...] | None:
    """The settings row and a digest of every active rule's whole row, in one statement
    (PostgreSQL): equal fingerprints mean equal rules, whoever changed them and however
    (the admin, the API, a migration, a rolled-back transaction). None where it cannot tell."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(_FINGERPRINT_SQL)
        row = cursor.fetchone()
    return tuple(row) if row else None


def scoring_rules(*, config: ScoringConfig | None = None) -> ScoringRules:
    """The rules in force, as plain data for leads.scoring.

    On PostgreSQL one query when the rules did not change since this process last read them
    (their fingerprint: the settings row and a digest of every active rule row), three when
    they did; elsewhere three."""
    if config is None:
        fingerprint = _rules_fingerprint()
        if fingerprint is not None:
            seen = _RULES_SEEN.get(connection.alias)
            if seen is not None and seen[0] == fingerprint:
                return seen[1]
            rules = _read_rules(scoring_config())
            # Kept only if nothing changed while they were read (the reads are separate
            # statements): the next request then reads them again.
            if _rules_fingerprint() == fingerprint:
                _RULES_SEEN[connection.alias] = (fingerprint, rules)
            return rules
    return _read_rules(config or scoring_config())


def _read_rules(config: ScoringConfig) -> ScoringRules:
    return rules_from_rows(
        fit_rows=list(FitRule.objects.filter(active=True)),
        engagement_rows=list(EngagementRule.objects.filter(active=True)),
        threshold=config.mql_threshold,
        half_life_days=config.engagement_half_life_days,
        window_days=config.engagement_window_days,
        version=config.version,
    )


def events_for_scoring(
    *, lead_ids: Iterable[int], rules: ScoringRules, now: dt.datetime
) -> dict[int, list[EventFact]]:
    """The events that can still count for each lead, in one query: those inside the window,
    plus every event of a penalty kind (penalties never fade, see leads.scoring)."""
    ids = list(lead_ids)
    found: dict[int, list[EventFact]] = defaultdict(list)
    if not ids:
        return found
    since = now - dt.timedelta(days=rules.window_days)
    penalties = sorted(rules.penalty_kinds)
    rows: Iterable[tuple[int, str, dt.datetime]]
    if connection.vendor == "postgresql":
        # One array parameter instead of an IN list of up to 1,000 (see bulksql.fast_cursor).
        with fast_cursor() as cursor:
            cursor.execute(
                "SELECT lead_id, kind, occurred_at FROM leads_engagementevent "
                "WHERE lead_id = ANY(%b) AND kind = ANY(%b) "
                "AND (occurred_at >= %s OR kind = ANY(%b))",
                [ids, list(rules.engagement), since, penalties],
            )
            rows = cursor.fetchall()
    else:
        recent = Q(occurred_at__gte=since)
        wanted = recent | Q(kind__in=penalties) if penalties else recent
        rows = (
            EngagementEvent.objects.filter(lead_id__in=ids, kind__in=list(rules.engagement))
            .filter(wanted)
            .order_by()
            .values_list("lead_id", "kind", "occurred_at")
        )
    for lead_id, kind, occurred_at in rows:
        found[lead_id].append(EventFact(kind, occurred_at))
    return found


def leads_visible_to(user: Visitor) -> QuerySet[Lead]:
    """The leads a user may read.

    Marketers, managers and superusers read every lead. A sales rep reads the leads that were
    ever handed off to them (any handoff assigned to them, open or closed), so that a rep keeps
    the history of what they worked but never browses marketing's pipeline or a colleague's
    queue. Anybody else reads nothing.
    """
    qs = Lead.objects.all()
    if roles.is_marketer(user) or roles.is_manager(user):
        return qs
    if roles.is_rep(user):
        # The handoff app sits above leads: reach its table through the reverse relation
        # instead of importing it, so the dependency keeps pointing one way.
        handoff_model = Lead._meta.get_field("handoffs").related_model
        assert handoff_model is not None and not isinstance(handoff_model, str)
        return qs.filter(
            pk__in=handoff_model._default_manager.filter(assigned_to=user).values("lead_id")
        )
    return qs.none()


def lead_list(*, user: Visitor) -> QuerySet[Lead]:
    """The API and page list: one query for the page whatever its size (FKs joined)."""
    return leads_visible_to(user).select_related("campaign", "owner")


def lead_events(*, lead: Lead) -> QuerySet[EngagementEvent]:
    return EngagementEvent.objects.filter(lead=lead).order_by("-occurred_at", "-id")


def score_bands() -> list[tuple[int, str]]:
    """(lower bound, label) of each band, from FEEDBACK_SCORE_BANDS (lower bounds; a
    (bound, label) pair is read for its bound). The labels say what the bands hold: the first
    takes every score below the second's bound ("under 40", penalties can go below zero) and the
    last every score from its bound up ("100+": scores have no ceiling)."""
    lows = sorted(
        {int(b[0] if isinstance(b, list | tuple) else b) for b in settings.FEEDBACK_SCORE_BANDS}
    )
    if len(lows) == 1:
        return [(lows[0], "all scores")]
    bands = [(lows[0], f"under {lows[1]}")]
    bands += [(low, f"{low}-{high - 1}") for low, high in pairwise(lows[1:])]
    bands.append((lows[-1], f"{lows[-1]}+"))
    return bands

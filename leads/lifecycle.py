"""Qualification beside the score: product-qualified leads (PQL) and the re-MQL of a recycled
lead that shows new high intent in its cooldown.

Called on every scoring path (an event, a bulk batch, the periodic rescore), so it reads in
bulk: `context_for(lead_ids, now)` costs one query for the active criteria and, when there are
some, one for the product events of all those leads; `qualify(...)` is pure.

PQL: a lead meeting any active criterion (`PqlCriterion`: product used on N distinct days within
D days, a named feature used, a trial activated) is flagged `pql`, with the criteria it met
(`pql_criteria`, each with a detail), and is ready for sales whatever its score.

Re-MQL: a recycled lead still in its cooldown whose newest high-intent event is later than its
return is ready for sales again, reason `re_engaged` ("re-engaged after return"). Its return
count is kept, so the recycle cap still holds: a return past it disqualifies the lead.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models.fields.json import KT

from leads.models import EngagementEvent, EventKind, PqlCriterion, Stage

READY_SCORE, READY_PQL, READY_RE_ENGAGED = "score", "pql", "re_engaged"
READY_REASON_LABELS = {
    READY_SCORE: "score over the MQL threshold",
    READY_PQL: "product-qualified (PQL)",
    READY_RE_ENGAGED: "re-engaged after return",
}
PRODUCT_KINDS = (EventKind.PRODUCT_USAGE, EventKind.TRIAL_SIGNUP)


@dataclass(frozen=True)
class Criterion:
    id: int
    name: str
    kind: str
    min_days: int
    feature: str
    within_days: int


@dataclass(frozen=True)
class ProductFact:
    kind: str
    occurred_at: dt.datetime
    feature: str = ""


@dataclass
class Context:
    criteria: list[Criterion]
    facts: dict[int, list[ProductFact]] = field(default_factory=dict)


def active_criteria() -> list[Criterion]:
    return [
        Criterion(
            c.pk, c.name, c.kind, c.min_days, (c.feature or "").strip().lower(), c.within_days
        )
        for c in PqlCriterion.objects.filter(active=True).order_by("order", "id")
    ]


def context_for(lead_ids: Iterable[int], now: dt.datetime) -> Context:
    """The criteria in force and the stored product events of these leads that they can read."""
    criteria = active_criteria()
    context = Context(criteria=criteria)
    ids = [i for i in lead_ids if i is not None]
    if not criteria or not ids:
        return context
    since = now - dt.timedelta(days=max(c.within_days for c in criteria))
    rows = (
        EngagementEvent.objects.filter(
            lead_id__in=ids, kind__in=PRODUCT_KINDS, occurred_at__gte=since
        )
        .order_by()
        .values_list("lead_id", "kind", "occurred_at", KT("payload__feature"))
    )
    found: dict[int, list[ProductFact]] = defaultdict(list)
    for lead_id, kind, occurred_at, feature in rows:
        found[lead_id].append(ProductFact(kind, occurred_at, str(feature or "").lower()))
    context.facts = found
    return context


def fact_of(kind: str, occurred_at: dt.datetime, payload: Any) -> ProductFact | None:
    """A new event as a product fact (None when it is not a product event)."""
    if kind not in PRODUCT_KINDS:
        return None
    feature = payload.get("feature") if isinstance(payload, dict) else None
    return ProductFact(kind, occurred_at, str(feature or "").lower())


def matched_criteria(
    facts: Sequence[ProductFact], criteria: Sequence[Criterion], now: dt.datetime
) -> list[dict[str, Any]]:
    """The criteria the facts meet, each with what met it."""
    matched = []
    for c in criteria:
        since = now - dt.timedelta(days=c.within_days)
        recent = [f for f in facts if since <= f.occurred_at <= now]
        detail = ""
        if c.kind == PqlCriterion.Kind.USAGE_DAYS:
            days = {f.occurred_at.date() for f in recent if f.kind == EventKind.PRODUCT_USAGE}
            if len(days) >= c.min_days:
                detail = f"product used on {len(days)} days in the last {c.within_days}"
        elif c.kind == PqlCriterion.Kind.FEATURE:
            uses = [
                f for f in recent if f.kind == EventKind.PRODUCT_USAGE and f.feature == c.feature
            ]
            if uses:
                detail = f"used {c.feature} {len(uses)} time(s) in the last {c.within_days} days"
        elif c.kind == PqlCriterion.Kind.TRIAL:
            trials = [f for f in recent if f.kind == EventKind.TRIAL_SIGNUP]
            if trials:
                newest = max(f.occurred_at for f in trials)
                detail = f"trial activated {newest:%Y-%m-%d}"
        if detail:
            matched.append({"id": c.id, "name": c.name, "kind": c.kind, "detail": detail})
    return matched


def qualify(
    *,
    values: Any,
    facts: Sequence[ProductFact],
    criteria: Sequence[Criterion],
    over_threshold: bool,
    now: dt.datetime,
) -> dict[str, Any]:
    """The qualification columns of a lead (values: a Lead or a namespace of its fields):
    pql, pql_since, pql_criteria, and why it is ready (`ready_reason`, "" when not ready)."""
    matched = matched_criteria(facts, criteria, now) if criteria else []
    pql = bool(matched)
    in_cooldown = (
        values.stage == Stage.RECYCLED
        and values.recycle_until is not None
        and values.recycle_until > now
    )
    re_engaged = (
        in_cooldown
        and values.last_high_intent_at is not None
        and values.recycled_at is not None
        and values.last_high_intent_at > values.recycled_at
    )
    if values.stage not in (Stage.LEAD, Stage.RECYCLED):
        reason = ""
    elif re_engaged:
        reason = READY_RE_ENGAGED
    elif in_cooldown:
        reason = ""
    elif pql:
        reason = READY_PQL
    elif over_threshold:
        reason = READY_SCORE
    else:
        reason = ""
    return {
        "pql": pql,
        "pql_since": (values.pql_since if values.pql and values.pql_since else now)
        if pql
        else None,
        "pql_criteria": matched,
        "ready_reason": reason,
    }

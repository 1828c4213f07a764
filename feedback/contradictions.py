"""The rules sales contradicts: return reasons that name the fit rule they say was wrong
(`RejectionReason.contradicts_rule`), read three ways:

- the return form tells the rep which of this lead's matched rules a reason contradicts;
- the feedback report ranks the rules most contradicted by sales: returns with such a reason
  of leads the rule scored, over the handoffs the rule scored (its promoted leads), the won
  revenue of those handoffs' deals (company currency), with a suggested change in points;
- a marketer applies a suggestion in one step: a rule change through the scoring service
  (versioned; every lead is re-scored in the background).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Sum

from core import roles
from core.errors import Forbidden, ValidationFailed
from feedback.models import RejectionReason
from feedback.selectors import MetricsFilters, handoffs_for_metrics
from handoff.models import Handoff
from handoff.states import Status
from leads.models import FitRule
from leads.services import scoring_rule_save
from pipeline.metrics import money
from pipeline.models import Opportunity
from pipeline.states import Stage

# No suggestion below this many contradicting returns: a couple of returns are anecdotes.
MIN_RETURNS = 3
MAX_POINTS = 1000


def fit_rule_names(breakdown: dict[str, Any] | None) -> set[str]:
    return {
        item.get("rule", "")
        for item in (breakdown or {}).get("items", [])
        if item.get("category") == "fit"
    }


def reasons_contradicting(handoff: Handoff) -> list[dict[str, Any]]:
    """The active reasons that contradict a fit rule which scored this handoff's lead."""
    matched = {
        item.get("rule"): item
        for item in (handoff.score_breakdown or {}).get("items", [])
        if item.get("category") == "fit"
    }
    if not matched:
        return []
    rows = RejectionReason.objects.filter(
        active=True, contradicts_rule__name__in=list(matched)
    ).select_related("contradicts_rule")
    return [
        {
            "code": r.code,
            "label": r.label,
            "rule": r.contradicts_rule.name,  # type: ignore[union-attr]
            "points": matched[r.contradicts_rule.name]["points"],  # type: ignore[union-attr]
        }
        for r in rows.order_by("display_order", "label")
    ]


def suggested_points(points: int, share: float | None, returns: int) -> int | None:
    """Lower (a bonus) or deepen (a penalty) nothing until MIN_RETURNS; then take the share of
    the rule's promoted leads that sales contradicted off its points: a rule contradicted on
    half its leads is worth half as much."""
    if share is None or returns < MIN_RETURNS or points == 0:
        return None
    suggestion = round(points * (1 - share))
    return suggestion if suggestion != points else None


def contradicted_rules(filters: MetricsFilters | None = None) -> list[dict[str, Any]]:
    """Fit rules named by return reasons, most contradicted first: contradicting returns (of
    leads the rule scored), handoffs the rule scored, the share, the won deals and won revenue
    (company currency) of the handoffs it scored, and a suggested points change. Four queries,
    whatever the number of rules."""
    filters = filters or MetricsFilters()
    codes_by_rule: dict[int, list[str]] = defaultdict(list)
    rules: dict[int, FitRule] = {}
    for reason in RejectionReason.objects.filter(contradicts_rule__isnull=False).select_related(
        "contradicts_rule"
    ):
        rule = reason.contradicts_rule
        assert rule is not None
        codes_by_rule[rule.pk].append(reason.code)
        rules[rule.pk] = rule
    if not rules:
        return []
    handoffs = handoffs_for_metrics(filters)
    every_code = [c for codes in codes_by_rule.values() for c in codes]
    contradicting: dict[int, int] = defaultdict(int)
    for code, breakdown in handoffs.filter(
        status=Status.RETURNED, return_reason_code__in=every_code
    ).values_list("return_reason_code", "score_breakdown"):
        scored = fit_rule_names(breakdown)
        for rule_id, codes in codes_by_rule.items():
            if code in codes and rules[rule_id].name in scored:
                contradicting[rule_id] += 1
    promoted = _promoted_counts(handoffs, rules)
    won = _won_revenue(handoffs, rules)
    rows = []
    for rule_id, rule in rules.items():
        returns, promoted_count = contradicting[rule_id], promoted.get(rule_id, 0)
        share = round(returns / promoted_count, 4) if promoted_count else None
        suggestion = suggested_points(rule.points, share, returns)
        rows.append(
            {
                "rule_id": rule_id,
                "rule": rule.name,
                "points": rule.points,
                "active": rule.active,
                "reasons": sorted(codes_by_rule[rule_id]),
                "returns": returns,
                "promoted": promoted_count,
                "share": share,
                "won": won.get(rule_id, (0, Decimal(0)))[0],
                "won_amount": money(won.get(rule_id, (0, Decimal(0)))[1]),
                "suggested_points": suggestion,
                "change": (suggestion - rule.points) if suggestion is not None else None,
            }
        )
    return sorted(rows, key=lambda r: (-r["returns"], -(r["share"] or 0), r["rule"]))


def _promoted_counts(handoffs: Any, rules: dict[int, FitRule]) -> dict[int, int]:
    if connection.vendor == "postgresql":
        # JSON containment per rule, all in one aggregate.
        aggregates = {
            f"r{rule_id}": Count(
                "id",
                filter=Q(score_breakdown__contains={"items": [{"rule": rule.name}]}),
            )
            for rule_id, rule in rules.items()
        }
        row = handoffs.order_by().aggregate(**aggregates)
        return {rule_id: row[f"r{rule_id}"] for rule_id in rules}
    counts: dict[int, int] = defaultdict(int)
    by_name = {rule.name: rule_id for rule_id, rule in rules.items()}
    for breakdown in handoffs.values_list("score_breakdown", flat=True).iterator():
        for name in fit_rule_names(breakdown):
            if name in by_name:
                counts[by_name[name]] += 1
    return counts


def _won_revenue(handoffs: Any, rules: dict[int, FitRule]) -> dict[int, tuple[int, Decimal]]:
    """Won deals (company currency) grown from the handoffs each rule scored: one query."""
    deals = Opportunity.objects.filter(
        stage=Stage.WON,
        currency=settings.DEFAULT_CURRENCY,
        handoff__in=handoffs.order_by().values("pk"),
    ).order_by()
    if connection.vendor == "postgresql":
        aggregates: dict[str, Any] = {}
        for rule_id, rule in rules.items():
            scored = Q(handoff__score_breakdown__contains={"items": [{"rule": rule.name}]})
            aggregates[f"n{rule_id}"] = Count("id", filter=scored)
            aggregates[f"a{rule_id}"] = Sum("amount", filter=scored)
        row = deals.aggregate(**aggregates)
        return {
            rule_id: (row[f"n{rule_id}"], row[f"a{rule_id}"] or Decimal(0)) for rule_id in rules
        }
    by_name = {rule.name: rule_id for rule_id, rule in rules.items()}
    totals: dict[int, tuple[int, Decimal]] = {}
    for amount, breakdown in deals.values_list("amount", "handoff__score_breakdown").iterator():
        for name in fit_rule_names(breakdown):
            if name in by_name:
                n, total = totals.get(by_name[name], (0, Decimal(0)))
                totals[by_name[name]] = (n + 1, total + (amount or Decimal(0)))
    return totals


def contradicted_rule_apply(*, rule_id: Any, points: Any, actor: Any) -> FitRule:
    """Set a contradicted rule's points (the report's suggestion, or the marketer's own figure)
    through the scoring service: versioned, and every lead re-scored in the background."""
    if not roles.can_edit_scoring(actor):
        raise Forbidden("Only marketing and sales managers change the scoring rules.")
    if isinstance(rule_id, bool) or not isinstance(rule_id, int):
        raise ValidationFailed("Give the rule's id.", field="rule")
    if isinstance(points, bool) or not isinstance(points, int) or abs(points) > MAX_POINTS:
        raise ValidationFailed(
            f"Give whole points between -{MAX_POINTS} and {MAX_POINTS}.", field="points"
        )
    rule = FitRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise ValidationFailed(f"No fit rule #{rule_id}.", field="rule")
    rule.points = points
    scoring_rule_save(rule=rule, actor=actor)
    return rule

"""Scoring applied to leads: rescoring one lead, a locked batch or every lead, and the writes to
the scoring rules and settings (each bumps the rules' version and queues the rescore of all)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import roles
from core.bulksql import update_rows
from core.errors import Forbidden
from core.outbox import enqueue_task
from core.types import Actor
from leads import hooks, lifecycle, selectors
from leads.history import audited
from leads.models import EngagementRule, FitRule, Lead, PqlCriterion, ScoringConfig
from leads.scoring import ScoreResult, ScoringRules, score_lead

logger = logging.getLogger(__name__)

# The lead columns a rescore writes.
SCORE_COLUMNS = (
    "score",
    "score_breakdown",
    "scored_at",
    "ready_for_sales",
    "ready_since",
    "ready_reason",
    "pql",
    "pql_since",
    "pql_criteria",
    "last_engaged_at",
    "last_high_intent_at",
    "updated_at",
)


def score_fields(
    values: Any,
    result: ScoreResult,
    now: dt.datetime,
    *,
    facts: Sequence[lifecycle.ProductFact] = (),
    criteria: Sequence[lifecycle.Criterion] = (),
) -> dict[str, Any]:
    """The lead columns that follow from a score and the lead's product events (values: a Lead
    or a namespace of its fields): readiness by score, as a PQL, or re-engaged after a return."""
    qualified = lifecycle.qualify(
        values=values,
        facts=facts,
        criteria=criteria,
        over_threshold=result.over_threshold,
        now=now,
    )
    ready = bool(qualified["ready_reason"])
    since = (
        (values.ready_since if values.ready_for_sales and values.ready_since else now)
        if ready
        else None
    )
    return {
        "score": result.total,
        "score_breakdown": result.as_breakdown(),
        "scored_at": now,
        "ready_for_sales": ready,
        "ready_since": since,
        **qualified,
    }


def notify_re_engaged(
    before: dict[int, str], after: Iterable[tuple[int, str]], *, now: dt.datetime
) -> None:
    """Tell the owners of leads that just became ready as re-engaged after a return: through
    the hooks (handoff's notification outbox, in this transaction), so a rolled-back rescore
    tells nobody, a failing mail server is retried, and the demo's history counts as sent."""
    lead_ids = [
        lead_id
        for lead_id, reason in after
        if reason == lifecycle.READY_RE_ENGAGED and before.get(lead_id) != reason
    ]
    hooks.leads_re_engaged(lead_ids=lead_ids, now=now)


def lead_rescore(
    *, lead: Lead, now: dt.datetime | None = None, rules: ScoringRules | None = None
) -> ScoreResult:
    """Score the lead from its stored events and the rules in force, and store the result."""
    now = now or timezone.now()
    rules = rules or selectors.scoring_rules()
    events = selectors.events_for_scoring(lead_ids=[lead.pk], rules=rules, now=now)
    result = score_lead(lead=lead, events=events.get(lead.pk, []), rules=rules, now=now)
    context = lifecycle.context_for([lead.pk], now)
    before = {lead.pk: lead.ready_reason}
    fields = {
        **score_fields(
            lead, result, now, facts=context.facts.get(lead.pk, []), criteria=context.criteria
        ),
        "updated_at": now,
    }
    notify_re_engaged(before, [(lead.pk, fields["ready_reason"])], now=now)
    for name, value in fields.items():
        setattr(lead, name, value)
    Lead.objects.filter(pk=lead.pk).update(**fields)
    return result


def _unchanged(lead: Lead, fields: dict[str, Any], rules: ScoringRules) -> bool:
    """Whether a rescore left the lead's score, readiness and breakdown as stored."""
    old = lead.score_breakdown or {}
    return (
        lead.score == fields["score"]
        and lead.ready_for_sales == fields["ready_for_sales"]
        and lead.ready_reason == fields["ready_reason"]
        and lead.pql_criteria == fields["pql_criteria"]
        and old.get("version") == rules.version
        and old.get("threshold") == rules.threshold
        and old.get("items") == fields["score_breakdown"]["items"]
    )


def _score_rows(
    batch: Sequence[Lead], rules: ScoringRules, now: dt.datetime, *, changed_only: bool
) -> list[dict[str, Any]]:
    """The score columns of each lead of `batch` (locked), rescored from its stored events:
    every lead's, or with `changed_only` those whose score or readiness changed."""
    lead_ids = [lead.pk for lead in batch]
    events = selectors.events_for_scoring(lead_ids=lead_ids, rules=rules, now=now)
    context = lifecycle.context_for(lead_ids, now)
    rows = []
    for lead in batch:
        result = score_lead(lead=lead, events=events.get(lead.pk, []), rules=rules, now=now)
        fields = score_fields(
            lead, result, now, facts=context.facts.get(lead.pk, []), criteria=context.criteria
        )
        if changed_only and _unchanged(lead, fields, rules):
            continue
        rows.append(
            {
                "id": lead.pk,
                **fields,
                "last_engaged_at": lead.last_engaged_at,
                "last_high_intent_at": lead.last_high_intent_at,
                "updated_at": now,
            }
        )
    return rows


def leads_rescore_all(
    *, version: int | None = None, batch_size: int = 1000, now: dt.datetime | None = None
) -> int:
    """Rescore every lead in batches (after a rule change, and periodically because scores decay).

    Each batch is its own short transaction holding its rows' locks, so event arrivals wait at
    most one batch. Only leads whose score or readiness changed are written. When `version` is
    given and the rules changed again meanwhile, stop: the newer change queued its own run.
    Returns how many leads were written.
    """
    written = 0
    last_id = 0
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            rules = selectors.scoring_rules()
            if version is not None and rules.version != version:
                logger.info("rescore for v%s stopped: rules are now v%s", version, rules.version)
                return written
            batch = list(
                Lead.objects.select_for_update()
                .filter(pk__gt=last_id, erased_at__isnull=True)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return written
            last_id = batch[-1].pk
            changed = _score_rows(batch, rules, moment, changed_only=True)
            update_rows(Lead, changed, columns=SCORE_COLUMNS)
            notify_re_engaged(
                {lead.pk: lead.ready_reason for lead in batch},
                [(row["id"], row["ready_reason"]) for row in changed],
                now=moment,
            )
            written += len(changed)


def leads_rescore(*, leads: Iterable[Lead], now: dt.datetime | None = None) -> None:
    """Rescore leads (locked by the caller) from their stored events, in one UPDATE."""
    now = now or timezone.now()
    batch = list(leads)
    rows = _score_rows(batch, selectors.scoring_rules(), now, changed_only=False)
    update_rows(Lead, rows, columns=SCORE_COLUMNS)
    notify_re_engaged(
        {lead.pk: lead.ready_reason for lead in batch},
        [(row["id"], row["ready_reason"]) for row in rows],
        now=now,
    )


def lead_re_engaged_notify(*, lead_id: int, now: dt.datetime | None = None) -> bool:
    """Tell a re-engaged lead's owner through the hooks (the notification outbox), if the lead
    is still re-engaged. Rescoring does this itself; this serves `leads.tasks.
    lead_re_engaged_notify` messages queued before re-engagement went through the outbox."""
    lead = Lead.objects.filter(pk=lead_id).only("ready_reason").first()
    if lead is None or lead.ready_reason != lifecycle.READY_RE_ENGAGED:
        return False
    with transaction.atomic():
        hooks.leads_re_engaged(lead_ids=[lead_id], now=now or timezone.now())
    return True


# --- scoring rules -------------------------------------------------------------------------


def _check_can_edit_scoring(actor: Actor | None) -> None:
    if actor is not None and not roles.can_edit_scoring(actor):
        raise Forbidden("Only marketing and sales managers can change the scoring rules.")


def scoring_rules_changed(*, actor: Actor | None = None, now: dt.datetime | None = None) -> int:
    """Bump the rules' version and queue the batch rescore of every lead (after commit).

    Returns the new version. Called after any save or delete of a rule or of the settings.
    """
    _check_can_edit_scoring(actor)
    config = selectors.scoring_config()
    ScoringConfig.objects.filter(pk=config.pk).update(version=F("version") + 1)
    config.refresh_from_db(fields=["version"])
    enqueue_task("leads.tasks.leads_rescore_all", version=config.version)
    return config.version


def scoring_rule_save(
    *,
    rule: FitRule | EngagementRule | PqlCriterion | ScoringConfig,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Save a fit rule, an engagement rule or the scoring settings; returns the new version."""
    _check_can_edit_scoring(actor)
    with transaction.atomic():
        rule.full_clean()
        audited(rule, actor=actor).save()
        return scoring_rules_changed(actor=actor, now=now)


def scoring_rule_delete(
    *,
    rule: FitRule | EngagementRule | PqlCriterion,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> int:
    _check_can_edit_scoring(actor)
    with transaction.atomic():
        audited(rule, actor=actor).delete()
        return scoring_rules_changed(actor=actor, now=now)


def scoring_rules_install_defaults(*, now: dt.datetime | None = None) -> bool:
    """Give a fresh install the default rules (leads.scoring.DEFAULT_*), once: nothing happens
    when any rule exists. Returns whether it installed them."""
    from leads.scoring import DEFAULT_ENGAGEMENT_RULES, DEFAULT_FIT_RULES

    with transaction.atomic():
        selectors.scoring_config()
        if FitRule.objects.exists() or EngagementRule.objects.exists():
            return False
        FitRule.objects.bulk_create(
            FitRule(
                name=spec.name,
                field=spec.field,
                operator=spec.operator,
                value=spec.value,
                points=spec.points,
                order=i,
            )
            for i, spec in enumerate(DEFAULT_FIT_RULES)
        )
        EngagementRule.objects.bulk_create(
            EngagementRule(
                kind=spec.kind,
                points=spec.points,
                max_events=spec.max_events,
                intent_points=spec.intent_points,
                intent_window_days=spec.intent_window_days,
            )
            for spec in DEFAULT_ENGAGEMENT_RULES
        )
        scoring_rules_changed(now=now)
    return True

"""Auto-promotion: a lead meeting an active rule is promoted by the system the moment the
qualifying event arrives, through `handoff_promote` (routing, SLA policy, packet and every
guard apply unchanged).

It runs inside the transaction that recorded the event (`leads.hooks`, registered in
HandoffConfig.ready): the leads are already row-locked there, so twenty events for one lead
arriving at once are serialised on the lead row and exactly one of them promotes; the others
find the open handoff and are logged as already promoted. And when the API answers, the
handoff exists and the rep's notification is in the outbox, queued to send on commit.

Every firing is an `AutoPromotion` row (promoted, already promoted, blocked by a guard, held
until working hours, over the hourly ceiling, not routable): what marketers read.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from core import roles
from core.errors import DomainError, Forbidden, ValidationFailed
from core.types import Actor
from handoff import sla
from handoff.assignment import match_team
from handoff.models import AutoPromotion, AutoPromotionRule, Handoff
from handoff.selectors import calendar_for
from handoff.services import handoff_promote, promotion_block
from handoff.states import HandoffConflict
from leads.history import audited
from leads.hooks import RecordedEvent
from leads.models import (
    EMPLOYEE_BAND_MIN,
    EngagementEvent,
    EventKind,
    FitRule,
    Lead,
    Seniority,
    Source,
)
from leads.scoring import FitRuleSpec, fit_rule_matches

logger = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
WEEK = dt.timedelta(days=7)
# One microsecond of business time: add_business_minutes(now, this) is when the next window
# opens (plus a microsecond) for a moment outside working hours.
_OPENING = 1 / 60_000_000

TRIGGER_PHRASES: dict[str, str] = {
    EventKind.DEMO_REQUEST: "Requested a demo",
    EventKind.PRICING_PAGE_VIEW: "Viewed the pricing page",
    EventKind.TRIAL_SIGNUP: "Started a trial",
    EventKind.CONTACT_FORM: "Sent the contact form",
}
RECENT_NOUNS: dict[str, str] = {
    EventKind.DEMO_REQUEST: "demo request",
    EventKind.PRICING_PAGE_VIEW: "pricing page",
    EventKind.TRIAL_SIGNUP: "trial sign-up",
    EventKind.CONTACT_FORM: "contact form",
}


# --- rules as data ------------------------------------------------------------------------


def rule_problem(
    *, event_kinds: Any, sources: Any, within_minutes: Any = 1
) -> tuple[str, str] | None:
    """(field, message) for a rule that cannot work, or None. Admin and API share it."""
    if not isinstance(event_kinds, list) or not event_kinds:
        return "event_kinds", 'Give a non-empty list of event kinds, e.g. ["demo_request"].'
    unknown = [k for k in event_kinds if not isinstance(k, str) or k not in EventKind.values]
    if unknown:
        return "event_kinds", f"Unknown event kinds: {unknown!r}; use {EventKind.values}."
    if not isinstance(sources, list):
        return "sources", "Give a list of sources (empty: any source)."
    bad = [s for s in sources if not isinstance(s, str) or s not in Source.values]
    if bad:
        return "sources", f"Unknown sources: {bad!r}; use {Source.values}."
    if within_minutes is not None and within_minutes < 1:
        return "within_minutes", "Give at least 1 minute."
    return None


def auto_promotion_rule_save(
    *,
    rule: AutoPromotionRule,
    actor: Actor,
    campaigns: Sequence[Any] | None = None,
    fit_rules: Sequence[Any] | None = None,
) -> AutoPromotionRule:
    """Create or change a rule. Takes effect for the next event (rules are read per event:
    a rule turned off stops firing at once)."""
    if not roles.can_edit_scoring(actor):
        raise Forbidden("Only marketing and sales managers can change auto-promotion rules.")
    problem = rule_problem(
        event_kinds=rule.event_kinds, sources=rule.sources, within_minutes=rule.within_minutes
    )
    if problem:
        raise ValidationFailed(problem[1], field=problem[0])
    with transaction.atomic():
        audited(rule, actor=actor).save()
        if campaigns is not None:
            rule.campaigns.set(campaigns)
        if fit_rules is not None:
            rule.fit_rules.set(fit_rules)
    return rule


def auto_promotion_rule_delete(*, rule: AutoPromotionRule, actor: Actor) -> None:
    if not roles.can_edit_scoring(actor):
        raise Forbidden("Only marketing and sales managers can change auto-promotion rules.")
    audited(rule, actor=actor).delete()


def active_rules() -> list[AutoPromotionRule]:
    """The rules in force now (read per event: no cache, so switching one off is immediate)."""
    return list(
        AutoPromotionRule.objects.filter(active=True).prefetch_related("campaigns", "fit_rules")
    )


def _fit_spec(row: FitRule) -> FitRuleSpec:
    return FitRuleSpec(str(row.name), str(row.field), str(row.operator), row.value, row.points)


def rule_matches(rule: AutoPromotionRule, *, lead: Lead, event: RecordedEvent) -> bool:
    if event.kind not in rule.event_kinds:
        return False
    if event.occurred_at < event.received_at - dt.timedelta(minutes=rule.within_minutes):
        return False
    if rule.min_score is not None and lead.score < rule.min_score:
        return False
    if rule.requires_pql and not lead.pql:
        return False
    if rule.sources and lead.source not in rule.sources:
        return False
    campaign_ids = {c.pk for c in rule.campaigns.all()}
    if campaign_ids and lead.campaign_id not in campaign_ids:
        return False
    return all(
        fit_rule_matches(_fit_spec(fit), getattr(lead, fit.field, ""))
        for fit in rule.fit_rules.all()
    )


# --- the context note ---------------------------------------------------------------------


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def context_note(
    *,
    rule: AutoPromotionRule,
    lead: Lead,
    kind: str,
    signal_at: dt.datetime,
    now: dt.datetime,
    recent: Counter[str],
    held_until: dt.datetime | None = None,
) -> str:
    """What triggered the promotion, in words a rep reads at a glance:
    "Requested a demo 40 s ago; pricing page twice this week; fit: VP, 201-500, fintech"."""
    phrase = TRIGGER_PHRASES.get(kind) or f"{EventKind(kind).label}"
    parts = [f"{phrase} {_ago((now - signal_at).total_seconds())} ago"]
    recent = Counter(recent)
    recent[kind] -= 1  # the trigger itself
    for other, count in sorted(recent.items()):
        if count > 0:
            parts.append(f"{RECENT_NOUNS.get(other, other)} {_times(count)} this week")
    fit = [
        Seniority(lead.seniority).label if lead.seniority else "",
        lead.employee_band if lead.employee_band in EMPLOYEE_BAND_MIN else "",
        lead.industry,
        lead.country,
    ]
    fit = [f for f in fit if f]
    if fit:
        parts.append("fit: " + ", ".join(fit))
    parts.append(f"score {lead.score}")
    note = "; ".join(parts)
    suffix = f'Promoted automatically by rule "{rule.name}"'
    if held_until is not None:
        suffix += " after waiting for the team's working hours"
    return f"{note}. {suffix}."


def _recent_high_intent(lead_ids: Sequence[int], now: dt.datetime) -> dict[int, Counter[str]]:
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    rows = EngagementEvent.objects.filter(
        lead_id__in=lead_ids,
        is_high_intent=True,
        occurred_at__gte=now - WEEK,
        occurred_at__lte=now,
    ).values_list("lead_id", "kind")
    for lead_id, kind in rows:
        counts[lead_id][kind] += 1
    return counts


# --- firing -------------------------------------------------------------------------------


def _log(
    *,
    rule: AutoPromotionRule,
    lead: Lead,
    event: RecordedEvent,
    now: dt.datetime,
    outcome: str,
    code: str = "",
    detail: str = "",
    handoff: Handoff | None = None,
    release_at: dt.datetime | None = None,
) -> AutoPromotion:
    return AutoPromotion.objects.create(
        rule=rule,
        rule_name=rule.name,
        lead=lead,
        event_kind=event.kind,
        signal_at=event.occurred_at,
        received_at=event.received_at,
        created_at=now,
        outcome=outcome,
        code=code[:50],
        detail=detail[:300],
        handoff=handoff,
        release_at=release_at,
        resolved_at=None if outcome == AutoPromotion.Outcome.HELD else now,
    )


def _next_opening(lead: Lead, now: dt.datetime) -> dt.datetime | None:
    """When the team that would take the lead next starts work, or None when it works now."""
    team, _ = match_team(lead=lead)
    calendar = calendar_for(team.calendar)
    if sla.is_business_time(now, calendar):
        return None
    return sla.add_business_minutes(now, _OPENING, calendar)


def _over_ceiling(rule: AutoPromotionRule, now: dt.datetime) -> bool:
    if rule.max_per_hour is None:
        return False
    # The rule row is the ceiling's lock: two transactions firing the same rule take turns,
    # so neither counts past the other's promotion.
    AutoPromotionRule.objects.select_for_update().filter(pk=rule.pk).exists()
    # Dated by when it was promoted (resolved_at): a held one counts in the hour it went out.
    done = AutoPromotion.objects.filter(
        rule=rule, outcome=AutoPromotion.Outcome.PROMOTED, resolved_at__gt=now - HOUR
    ).count()
    return done >= rule.max_per_hour


def _promote(
    *,
    rule: AutoPromotionRule,
    lead: Lead,
    event: RecordedEvent,
    now: dt.datetime,
    recent: Counter[str],
    held_until: dt.datetime | None = None,
) -> tuple[str, str, str, Handoff | None]:
    """(outcome, code, detail, handoff) of one promotion attempt through the one service."""
    note = context_note(
        rule=rule,
        lead=lead,
        kind=event.kind,
        signal_at=event.occurred_at,
        now=now,
        recent=recent,
        held_until=held_until,
    )
    try:
        # A savepoint: a refused promotion leaves the recorded events standing.
        with transaction.atomic():
            handoff = handoff_promote(
                lead=lead,
                actor=None,
                note=note,
                now=now,
                auto_rule=rule,
                signal=(event.occurred_at, event.received_at),
            )
    except HandoffConflict as exc:
        return AutoPromotion.Outcome.ALREADY, exc.code, exc.message, None
    except DomainError as exc:
        outcome = AutoPromotion.Outcome.BLOCKED
        if exc.code in ("no_matching_team", "no_sla_policy"):
            outcome = AutoPromotion.Outcome.FAILED
        return outcome, exc.code, exc.message, None
    except DatabaseError as exc:
        # A deadlock with a marketer promoting the same lead at that instant: theirs stands.
        logger.warning("auto-promotion of lead %s lost a race: %s", lead.pk, exc)
        detail = "Lost a race with another write to this lead (a marketer promoting it)."
        return AutoPromotion.Outcome.ALREADY, "conflict", detail, None
    return AutoPromotion.Outcome.PROMOTED, "", "", handoff


def _fire(
    *,
    rule: AutoPromotionRule,
    lead: Lead,
    event: RecordedEvent,
    now: dt.datetime,
    recent: Counter[str],
) -> AutoPromotion:
    log = partial(_log, rule=rule, lead=lead, event=event, now=now)
    blocked = promotion_block(lead=lead, now=now)
    if blocked is not None:
        verdict = (
            AutoPromotion.Outcome.ALREADY
            if blocked.code in ("open_handoff_exists", "lead_with_sales")
            else AutoPromotion.Outcome.BLOCKED
        )
        return log(outcome=verdict, code=blocked.code, detail=blocked.message)
    held = AutoPromotion.objects.filter(
        lead=lead, outcome=AutoPromotion.Outcome.HELD, resolved_at__isnull=True
    ).first()
    if held is not None:
        return log(
            outcome=AutoPromotion.Outcome.ALREADY,
            code="held",
            detail=f"Already held until {held.release_at:%Y-%m-%d %H:%M} UTC.",
        )
    if rule.hold_outside_hours:
        try:
            opening = _next_opening(lead, now)
        except DomainError as exc:
            failed = AutoPromotion.Outcome.FAILED
            return log(outcome=failed, code=exc.code, detail=exc.message)
        if opening is not None:
            return log(
                outcome=AutoPromotion.Outcome.HELD,
                detail=f"Outside the team's working hours; promoted at {opening:%Y-%m-%d %H:%M} UTC.",
                release_at=opening,
            )
    if _over_ceiling(rule, now):
        return log(
            outcome=AutoPromotion.Outcome.OVER_CEILING,
            code="over_ceiling",
            detail=f"More than {rule.max_per_hour} promotions by this rule in the last hour; "
            "a marketer decides.",
        )
    outcome, code, detail, handoff = _promote(
        rule=rule, lead=lead, event=event, now=now, recent=recent
    )
    return log(outcome=outcome, code=code, detail=detail, handoff=handoff)


def auto_promote_on_events(
    *, events: Sequence[RecordedEvent], now: dt.datetime
) -> list[AutoPromotion]:
    """The hook: promote every lead whose new events meet an active rule. Runs inside the
    transaction that recorded the events, with their leads row-locked."""
    rules = active_rules()
    if not rules:
        return []
    wanted = {k for r in rules for k in r.event_kinds}
    # The newest qualifying event of each lead is its signal.
    newest: dict[int, RecordedEvent] = {}
    for event in events:
        if event.kind in wanted:
            seen = newest.get(event.lead_id)
            if seen is None or event.occurred_at > seen.occurred_at:
                newest[event.lead_id] = event
    if not newest:
        return []
    leads = Lead.objects.filter(pk__in=list(newest)).order_by("pk")
    fired = []
    recent: dict[int, Counter[str]] | None = None
    for lead in leads:
        event = newest[lead.pk]
        rule = next((r for r in rules if rule_matches(r, lead=lead, event=event)), None)
        if rule is None:
            continue
        if recent is None:
            recent = _recent_high_intent(list(newest), now)
        fired.append(_fire(rule=rule, lead=lead, event=event, now=now, recent=recent[lead.pk]))
    return fired


# --- held promotions ----------------------------------------------------------------------


def auto_promotions_release(*, now: dt.datetime | None = None, batch_size: int = 100) -> int:
    """Promote the held leads whose team's working window has opened (beat runs this every
    sweep interval). One transaction per batch, each promotion in a savepoint; held rows are
    claimed with SKIP LOCKED, so two runs never release the same one."""
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            held = list(
                AutoPromotion.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    outcome=AutoPromotion.Outcome.HELD,
                    resolved_at__isnull=True,
                    release_at__lte=now,
                )
                .select_related("rule", "lead")
                .order_by("release_at", "id")[:batch_size]
            )
            for row in held:
                _release(row, now)
                released += 1
        if len(held) < batch_size:
            return released


def _release(row: AutoPromotion, now: dt.datetime) -> None:
    event = RecordedEvent(row.lead_id, row.event_kind, row.signal_at, row.received_at)
    rule = row.rule
    outcome: str
    handoff: Handoff | None
    if rule is None or not rule.active:
        outcome, code, detail, handoff = (
            AutoPromotion.Outcome.BLOCKED,
            "rule_off",
            "The rule was turned off while the promotion waited; a marketer decides.",
            None,
        )
    elif _over_ceiling(rule, now):
        outcome, code, detail, handoff = (
            AutoPromotion.Outcome.OVER_CEILING,
            "over_ceiling",
            f"More than {rule.max_per_hour} promotions by this rule in the last hour when the "
            "window opened; a marketer decides.",
            None,
        )
    else:
        lead = Lead.objects.get(pk=row.lead_id)
        recent = _recent_high_intent([lead.pk], now)[lead.pk]
        outcome, code, detail, handoff = _promote(
            rule=rule, lead=lead, event=event, now=now, recent=recent, held_until=row.release_at
        )
    AutoPromotion.objects.filter(pk=row.pk).update(
        outcome=outcome, code=code, detail=detail[:300], handoff=handoff, resolved_at=now
    )

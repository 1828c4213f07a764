"""Demo opportunities: open, won and lost, a few in another currency, over the last two quarters,
so that the dashboard's revenue section and the feedback report's revenue tables are alive at
first start. Runs after the feedback demo (whose history qualifies handoffs); idempotent.

Every write goes through the services with a `now` in the past: the events, the lead's stage
history and the frozen attribution are what a real quarter would have left.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F

from core.errors import DomainError
from handoff.models import Handoff, Notification
from handoff.services import handoff_accept, handoff_promote, handoff_qualify
from handoff.states import Status
from leads.models import Lead, Stage
from pipeline import services
from pipeline.models import LostReason, Opportunity
from pipeline.taxonomy import ensure_default_lost_reasons

EARLIER_NOTE = "Demo history: promoted last quarter."
EARLIER_COUNT = 45
BANT = {"budget": "Approved", "authority": "VP", "need": "Faster handoffs", "timeline": "Q+1"}
OTHER_CURRENCIES = ("EUR", "GBP")


def _weekday_moment(day: dt.datetime, rng: random.Random) -> dt.datetime:
    moment = day.replace(hour=14 + rng.randrange(0, 3), minute=rng.randrange(0, 60), second=0)
    while moment.weekday() >= 5:
        moment += dt.timedelta(days=1)
    return moment


def _earlier_cohort(*, rng: random.Random, now: dt.datetime, users: dict[str, Any]) -> int:
    """Qualified handoffs promoted 60 to 180 days ago (the feedback history covers the last
    two months), from leads that were never handed over."""
    marketer, manager = users.get("maria"), users.get("nina")
    if marketer is None or manager is None:
        return 0
    leads = list(
        Lead.objects.filter(
            stage=Stage.LEAD, erased_at__isnull=True, handoffs__isnull=True
        ).order_by("-score", "id")[: EARLIER_COUNT * 2]
    )
    rng.shuffle(leads)
    made = 0
    for lead in leads[:EARLIER_COUNT]:
        promoted = _weekday_moment(now - dt.timedelta(days=rng.randint(60, 180)), rng)
        # The lead's story starts before its promotion.
        Lead.objects.filter(pk=lead.pk).update(created_at=promoted - dt.timedelta(days=3))
        try:
            with transaction.atomic():
                handoff = handoff_promote(
                    lead=lead, actor=marketer, note=EARLIER_NOTE, now=promoted
                )
                rep = handoff.assigned_to or manager
                accepted = promoted + dt.timedelta(minutes=rng.randint(10, 180))
                handoff_accept(handoff=handoff, actor=rep, now=accepted)
                handoff_qualify(
                    handoff=handoff,
                    actor=rep,
                    bant=BANT,
                    now=accepted + dt.timedelta(days=rng.randint(1, 6)),
                )
        except DomainError:
            continue
        made += 1
    Notification.objects.filter(handoff__context_note=EARLIER_NOTE, sent_at__isnull=True).update(
        sent_at=F("created_at")
    )
    return made


def _amount(score: int, rng: random.Random) -> Decimal:
    base = 4000 + score * rng.uniform(150, 700)
    return Decimal(round(base, -2)).quantize(Decimal("0.01"))


def _raised(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"))


def seed(
    *, rng: random.Random, now: dt.datetime, users: dict[str, Any], stdout: Any, **_: Any
) -> None:
    ensure_default_lost_reasons(LostReason)
    if Opportunity.objects.exists():
        stdout.write("Pipeline: demo opportunities already present.")
        return
    earlier = _earlier_cohort(rng=rng, now=now, users=users)
    reasons = list(LostReason.objects.filter(active=True))
    manager = users.get("nina")
    qualified = (
        Handoff.objects.filter(status=Status.QUALIFIED, lead__stage=Stage.SQL)
        .select_related("assigned_to")
        .order_by("qualified_at", "id")
    )
    counts = {"open": 0, "won": 0, "lost": 0, "other currency": 0}
    for handoff in qualified:
        if handoff.qualified_at is None or rng.random() > 0.8:
            continue  # some SQLs never become opportunities
        actor = handoff.assigned_to or manager
        opened = handoff.qualified_at + dt.timedelta(
            days=rng.randint(1, 7), hours=rng.randint(0, 6)
        )
        if opened >= now:
            opened = now - dt.timedelta(minutes=5)
        currency = rng.choice(OTHER_CURRENCIES) if rng.random() < 0.12 else ""
        try:
            with transaction.atomic():
                opportunity = services.opportunity_open(
                    handoff=handoff,
                    actor=actor,
                    amount=_amount(handoff.score_snapshot, rng),
                    currency=currency,
                    expected_close_date=(opened + dt.timedelta(days=rng.randint(20, 75))).date(),
                    now=opened,
                )
                if currency:
                    counts["other currency"] += 1
                age = (now - opened).days
                closed = opened + dt.timedelta(days=rng.randint(7, max(8, min(age, 70))))
                # Higher scores win more often, so the advisor's revenue column tells a story.
                p_win = 0.25 + handoff.score_snapshot / 250
                roll = rng.random()
                if age < 10 or closed >= now or roll > 0.85:
                    counts["open"] += 1
                    if rng.random() < 0.3:
                        services.opportunity_update(
                            opportunity=opportunity,
                            actor=actor,
                            amount=_raised((opportunity.amount or Decimal(0)) * Decimal("1.15")),
                            now=opened + dt.timedelta(days=2),
                        )
                elif roll < p_win * 0.85:
                    services.opportunity_win(opportunity=opportunity, actor=actor, now=closed)
                    counts["won"] += 1
                else:
                    services.opportunity_lose(
                        opportunity=opportunity,
                        actor=actor,
                        reason=rng.choice(reasons),
                        lead_effect="recycle" if rng.random() < 0.8 else "disqualify",
                        note="",
                        now=closed,
                    )
                    counts["lost"] += 1
        except DomainError as exc:
            stdout.write(f"  pipeline: handoff {handoff.pk} skipped ({exc.message})")
    stdout.write(
        f"Pipeline: {earlier} earlier qualified handoffs; opportunities "
        + ", ".join(f"{n} {label}" for label, n in counts.items())
        + "."
    )

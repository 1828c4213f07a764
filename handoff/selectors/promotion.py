"""Whether a lead can be promoted now: its stage, its cooldown after a return, an open handoff
(the guards a promotion runs, and the reason the lead pages show)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from core.errors import Conflict, DomainError, RuleViolation
from handoff.models import Handoff
from handoff.states import OPEN_STATUSES, HandoffConflict, Status
from leads.models import PROMOTABLE_STAGES, Lead, Stage


def last_return_at(lead: Lead, history: Iterable[Handoff]) -> dt.datetime | None:
    """When the lead was last sent back to nurture (a return, or a manual recycle)."""
    moments = [h.returned_at for h in history if h.returned_at is not None]
    if lead.recycled_at is not None:
        moments.append(lead.recycled_at)
    return max(moments, default=None)


def stage_block(
    lead: Lead, now: dt.datetime, last_return_at: dt.datetime | None
) -> DomainError | None:
    if lead.erased_at is not None:
        return RuleViolation("The lead's personal data was erased.", code="lead_erased")
    if lead.stage == Stage.DISQUALIFIED:
        return RuleViolation(
            "The lead is disqualified; a sales manager must reopen it before it is promoted again.",
            code="lead_disqualified",
        )
    if lead.stage == Stage.RECYCLED:
        new_intent = (
            lead.last_high_intent_at is not None
            and last_return_at is not None
            and lead.last_high_intent_at > last_return_at
        )
        if lead.recycle_until is not None and now < lead.recycle_until and not new_intent:
            return RuleViolation(
                "The lead was returned to nurture and cools down until "
                f"{lead.recycle_until:%Y-%m-%d %H:%M} UTC; a new high-intent event (demo "
                "request, pricing, trial, contact form) lifts the cooldown.",
                code="lead_in_cooldown",
            )
        return None
    if lead.stage not in PROMOTABLE_STAGES:
        return Conflict(
            f"The lead is already with sales (stage {Stage(lead.stage).label}).",
            code="lead_with_sales",
        )
    return None


def history_block(lead: Lead, now: dt.datetime, history: list[Handoff]) -> DomainError | None:
    """The guard refusing a promotion, given the lead's handoffs (lead_history)."""
    blocked = stage_block(lead, now, last_return_at(lead, history))
    if blocked is not None:
        return blocked
    open_handoffs = [h for h in history if h.status in OPEN_STATUSES]
    if open_handoffs:
        current = open_handoffs[-1]
        return HandoffConflict(
            f"The lead already has an open handoff (#{current.pk}, "
            f"{Status(current.status).label.lower()}).",
            code="open_handoff_exists",
        )
    return None


def lead_history(lead: Lead) -> list[Handoff]:
    return list(
        Handoff.objects.filter(lead_id=lead.pk).select_related("assigned_to").order_by("id")
    )


def promotion_block(*, lead: Lead, now: dt.datetime) -> DomainError | None:
    """The guard that refuses promoting the lead now (with its code), or None. One query."""
    return history_block(lead, now, lead_history(lead))


def lead_promotion_block(*, lead: Lead, now: dt.datetime) -> str | None:
    """Why the lead cannot be promoted now, or None when it can. One query."""
    blocked = history_block(lead, now, lead_history(lead))
    return blocked.message if blocked is not None else None

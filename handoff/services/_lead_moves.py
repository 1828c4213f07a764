"""The lead's stage move that follows a handoff transition (SAL on accept, SQL on qualify,
recycled or disqualified on return), made after the handoff claim as the lock order says:
handoff rows, then the team row, then membership rows, then the lead row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.types import Actor
from handoff.models import Handoff
from leads.models import Lead
from leads.services import lead_change_stage, lead_move_stage


def _lock_lead(handoff: Handoff, *, with_owner: bool = False) -> Lead:
    """The handoff's lead, row-locked and fresh (after the handoff claim: see the lock order);
    `with_owner` reads its owner in the same query (only the lead row is locked)."""
    leads = Lead.objects.select_for_update(of=("self",))
    if with_owner:
        leads = leads.select_related("owner")
    lead = leads.get(pk=handoff.lead_id)
    handoff.lead = lead
    return lead


def _move_lead(
    *,
    lead: Lead,
    to_stage: str,
    actor: Actor | None,
    reason: str,
    now: dt.datetime,
    extra_fields: dict[str, Any] | None = None,
) -> None:
    if lead.stage == to_stage and not extra_fields:
        return
    if lead.stage == to_stage:
        # Same stage, new attributes (a second return while recycled is not possible, but a
        # reassigned lead stays an MQL): update in place without a history row.
        Lead.objects.filter(pk=lead.pk).update(**extra_fields, updated_at=now)  # type: ignore[arg-type]
        for name, value in (extra_fields or {}).items():
            setattr(lead, name, value)
        return
    lead_change_stage(
        lead=lead, to_stage=to_stage, actor=actor, reason=reason, now=now, extra_fields=extra_fields
    )


def _lock_and_move_lead(
    handoff: Handoff,
    *,
    to_stage: str,
    actor: Actor | None,
    reason: str,
    now: dt.datetime,
    extra_fields: dict[str, Any] | None = None,
    count_return: bool = False,
    queue_rescore: bool = True,
) -> Lead:
    """Lock the handoff's lead and move it, in one statement (leads.services.lead_move_stage);
    when its stage refuses the move, the long way (lock, read, move) that says why."""
    lead = handoff.lead
    if lead_move_stage(
        lead=lead,
        to_stage=to_stage,
        actor=actor,
        reason=reason,
        now=now,
        extra_fields=extra_fields,
        count_return=count_return,
        queue_rescore=queue_rescore,
    ):
        return lead
    lead = _lock_lead(handoff, with_owner=True)
    extra = dict(extra_fields or {})
    if count_return:
        extra["return_count"] = lead.return_count + 1
    _move_lead(
        lead=lead,
        to_stage=to_stage,
        actor=actor,
        reason=reason,
        now=now,
        extra_fields=extra or None,
    )
    return lead

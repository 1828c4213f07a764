"""Every write to leads: keyword-only functions, atomic, taking `now` where time matters."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from leads.errors import RuleViolation
from leads.models import STAGE_REACHED_FIELD, Lead, LeadStageChange, Stage

logger = logging.getLogger(__name__)

# Lifecycle moves a lead may make. Recycled and disqualified leads come back through marketing
# (re-promotion) or a manager's reopen.
LEAD_STAGE_MOVES: dict[str, frozenset[str]] = {
    Stage.LEAD: frozenset({Stage.MQL, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.MQL: frozenset({Stage.SAL, Stage.RECYCLED, Stage.DISQUALIFIED, Stage.LEAD}),
    Stage.SAL: frozenset({Stage.SQL, Stage.RECYCLED, Stage.DISQUALIFIED, Stage.MQL}),
    Stage.SQL: frozenset({Stage.OPPORTUNITY, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.OPPORTUNITY: frozenset({Stage.CUSTOMER, Stage.RECYCLED, Stage.DISQUALIFIED}),
    Stage.CUSTOMER: frozenset(),
    Stage.RECYCLED: frozenset({Stage.MQL, Stage.LEAD, Stage.DISQUALIFIED}),
    Stage.DISQUALIFIED: frozenset({Stage.LEAD}),
}


def normalise_email(raw: str) -> str:
    return (raw or "").strip().lower()


def lead_change_stage(
    *,
    lead: Lead,
    to_stage: str,
    actor: Any = None,
    reason: str = "",
    now: dt.datetime | None = None,
    extra_fields: dict[str, Any] | None = None,
) -> LeadStageChange:
    """Move a lead to another lifecycle stage and record the change (who, when, from, to, why).

    Callers that are part of a larger transition (a handoff accept, a return) call this inside
    their own transaction, so the lead and the handoff move together or not at all.
    `extra_fields` are set on the lead in the same UPDATE (e.g. recycle_until).
    """
    now = now or timezone.now()
    from_stage = lead.stage
    if to_stage not in LEAD_STAGE_MOVES.get(from_stage, frozenset()):
        raise RuleViolation(
            f"A lead in stage {Stage(from_stage).label} cannot move to {Stage(to_stage).label}.",
            code="invalid_stage_change",
            field="stage",
        )
    with transaction.atomic():
        fields: dict[str, Any] = {"stage": to_stage, "updated_at": now, **(extra_fields or {})}
        reached_field = STAGE_REACHED_FIELD.get(Stage(to_stage))
        if reached_field and getattr(lead, reached_field) is None:
            fields[reached_field] = now
        for name, value in fields.items():
            setattr(lead, name, value)
        Lead.objects.filter(pk=lead.pk).update(**fields)
        return LeadStageChange.objects.create(
            lead=lead, from_stage=from_stage, to_stage=to_stage, actor=actor, at=now, reason=reason
        )


def enqueue_task(task_name: str, **kwargs: Any) -> None:
    """Publish a Celery task once the current transaction commits.

    The single place where the request path talks to the broker: a broker that is down must
    never fail or hang a request. (The reliability work replaces this with a transactional
    outbox relayed by a periodic task; callers do not change.)
    """
    from celery import current_app

    def publish() -> None:
        try:
            current_app.send_task(task_name, kwargs=kwargs, retry=False)
        except Exception:  # the broker being down must not break the request
            logger.warning("could not publish %s now; it will be picked up later", task_name)

    transaction.on_commit(publish)

"""Who may act on a handoff: the services' permission rules, read here so the pages offer
exactly the actions the services accept."""

from __future__ import annotations

from core.roles import is_manager, is_marketer, is_rep
from core.types import Visitor
from handoff.models import Handoff


def can_work_on(handoff: Handoff, actor: Visitor | None) -> bool:
    """Reps act on the handoffs assigned to them; managers on any."""
    if actor is None:
        return False
    if is_manager(actor):
        return True
    return is_rep(actor) and handoff.assigned_to_id == actor.pk


def can_answer(handoff: Handoff, actor: Visitor | None) -> bool:
    """Who answers a rep's question: the marketer who promoted the lead, the lead's owner, or a
    manager."""
    if actor is None:
        return False
    if is_manager(actor):
        return True
    return is_marketer(actor) and actor.pk in (handoff.promoted_by_id, handoff.lead.owner_id)

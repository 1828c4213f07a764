"""Reads of opportunities: who sees which, and the rows lists and pages need."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from core.roles import is_manager, is_marketer, is_rep
from handoff.models import Handoff
from pipeline.models import LostReason, Opportunity, OpportunityEvent

LIST_RELATED = ("lead", "owner", "team", "campaign", "lost_reason")


def opportunities_visible_to(user: Any) -> QuerySet[Opportunity]:
    """Managers and marketers: all (marketers read only). Reps: their own. Anyone else: none."""
    qs = Opportunity.objects.all()
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if is_manager(user) or is_marketer(user):
        return qs
    if is_rep(user):
        return qs.filter(owner=user)
    return qs.none()


def opportunity_list_rows(*, user: Any) -> QuerySet[Opportunity]:
    """A list's rows with everything a row shows, in one query whatever the page size."""
    return opportunities_visible_to(user).select_related(*LIST_RELATED)


def opportunity_detail_queryset(*, user: Any) -> QuerySet[Opportunity]:
    events = Prefetch("events", queryset=OpportunityEvent.objects.select_related("actor"))
    return opportunity_list_rows(user=user).prefetch_related(events)


def opportunity_for_action(*, user: Any, pk: int) -> Opportunity | None:
    rows = opportunity_list_rows(user=user).filter(pk=pk).order_by()[:1]
    return next(iter(rows), None)


def opportunities_of_handoff(*, handoff: Handoff) -> list[Opportunity]:
    """The opportunities grown from a handoff, newest first, with their events (two queries)."""
    events = Prefetch("events", queryset=OpportunityEvent.objects.select_related("actor"))
    return list(
        Opportunity.objects.filter(handoff=handoff)
        .select_related("lost_reason", "owner")
        .prefetch_related(events)
    )


def active_lost_reasons() -> QuerySet[LostReason]:
    return LostReason.objects.filter(active=True)

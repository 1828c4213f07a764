"""Reads for marketing's review queue, the managers' disputes and a lead's earlier returns."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, F, QuerySet, When

from core import roles
from feedback.models import RejectionReason, ReturnFeedback
from handoff.models import Handoff


def active_reasons() -> QuerySet[RejectionReason]:
    """The reasons a rep may pick, in display order."""
    return RejectionReason.objects.filter(active=True).order_by("display_order", "label")


def feedback_queryset() -> QuerySet[ReturnFeedback]:
    """Feedback rows with everything a list shows, in one query (no per-row lookups)."""
    return ReturnFeedback.objects.select_related(
        "reason",
        "lead",
        "lead__campaign",
        "handoff",
        "handoff__team",
        "handoff__assigned_to",
        "returned_by",
        "acknowledged_by",
        "dispute_resolved_by",
    )


def feedback_visible_to(user: Any) -> QuerySet[ReturnFeedback]:
    """Marketers and managers see every return; a rep sees the returns they made."""
    qs = feedback_queryset()
    if roles.is_marketer(user) or roles.is_manager(user):
        return qs
    if roles.is_rep(user):
        return qs.filter(returned_by=user)
    return qs.none()


def feedback_queue(*, user: Any = None) -> QuerySet[ReturnFeedback]:
    """Marketing's "returned to marketing" queue: unacknowledged first, newest return first.

    Served by the feedback_queue_order index (acknowledged_at DESC NULLS FIRST, returned_at DESC).
    """
    qs = feedback_visible_to(user) if user is not None else feedback_queryset()
    return qs.order_by(F("acknowledged_at").desc(nulls_first=True), "-returned_at", "-id")


def feedback_disputes(*, include_resolved: bool = False) -> QuerySet[ReturnFeedback]:
    """Returns that marketing disputed, for the sales managers: open ones, oldest first."""
    qs = feedback_queryset()
    if include_resolved:
        return qs.exclude(dispute_status="").order_by(
            Case(When(dispute_status=ReturnFeedback.DisputeStatus.OPEN, then=0), default=1),
            "returned_at",
            "id",
        )
    return qs.filter(dispute_status=ReturnFeedback.DisputeStatus.OPEN).order_by("returned_at", "id")


def feedback_disputes_resolved() -> QuerySet[ReturnFeedback]:
    """Settled disputes, the latest decision first (the inbox shows the last few)."""
    return (
        feedback_queryset()
        .filter(
            dispute_status__in=(
                ReturnFeedback.DisputeStatus.UPHELD,
                ReturnFeedback.DisputeStatus.OVERTURNED,
            )
        )
        .order_by("-dispute_resolved_at", "-id")
    )


def previous_returns(*, handoff: Handoff) -> list[dict[str, Any]]:
    """Earlier returns of this handoff's lead, newest first, with their reasons: what the rep
    of a re-promoted lead should read before calling (one query)."""
    rows = (
        ReturnFeedback.objects.filter(lead_id=handoff.lead_id, returned_at__lte=handoff.created_at)
        .exclude(handoff_id=handoff.pk)
        .select_related("reason", "returned_by", "handoff")
        .order_by("-returned_at", "-id")
    )
    return [
        {
            "feedback_id": fb.pk,
            "handoff_id": fb.handoff_id,
            "attempt": fb.handoff.attempt,
            "promoted_at": fb.handoff.created_at,
            "returned_at": fb.returned_at,
            "returned_by": _user_label(fb.returned_by),
            "reason": {
                "code": fb.reason.code,
                "label": fb.reason.label,
                "category": fb.reason.category,
            },
            "note": fb.note,
            "lead_effect": fb.lead_effect,
            "effect_note": fb.effect_note,
            "recycle_until": fb.recycle_until,
            "reply": fb.reply,
            "dispute_status": fb.dispute_status,
        }
        for fb in rows
    ]


def _user_label(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username

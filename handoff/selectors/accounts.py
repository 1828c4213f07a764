"""Reads of a lead's account for the promotion preview: its owner and the open handoffs of its
other leads; a user as a short reference."""

from __future__ import annotations

from typing import Any

from core.types import Actor
from handoff.models import Handoff
from handoff.states import OPEN_STATUSES
from leads.models import Account, Lead


def user_ref(user: Actor | None) -> dict[str, Any] | None:
    return {"id": user.pk, "username": user.get_username()} if user is not None else None


def account_preview(lead: Lead) -> dict[str, Any] | None:
    """The lead's account as the preview tells it: its owner, and its open handoffs (another
    colleague of this lead may already be with sales)."""
    if lead.account_id is None:
        return None
    account = Account.objects.select_related("owner").filter(pk=lead.account_id).first()
    if account is None:
        return None
    open_handoffs = (
        Handoff.objects.filter(lead__account_id=account.pk, status__in=OPEN_STATUSES)
        .exclude(lead_id=lead.pk)
        .select_related("assigned_to")
        .order_by("created_at", "id")[:10]
    )
    return {
        "id": account.pk,
        "name": account.name or account.domain,
        "domain": account.domain,
        "owner_id": account.owner_id,
        "owner": user_ref(account.owner),
        "open_handoffs": [
            {"id": h.pk, "lead_id": h.lead_id, "assigned_to": user_ref(h.assigned_to)}
            for h in open_handoffs
        ],
    }

"""The routing record of a new attempt (why this team, this rep, who was skipped), the
rotation's next position, and the first notice of it (the rep, or the manager when nobody could
take it). Shared by promotion and reassignment."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.timefmt import iso
from core.types import Actor
from handoff.assignment import RepChoice, has_recent_high_intent, region_for_country
from handoff.models import Handoff, HandoffEvent, Notification, Team
from handoff.notifications import notify
from handoff.selectors import user_ref as _user_ref
from handoff.services._common import _managers_for
from handoff.webhook_events import publish_handoff_event
from leads.models import Lead


def _routing(
    *,
    team: Team | None,
    rule: str,
    matched: dict[str, Any],
    policy: dict[str, Any],
    choice: RepChoice | None,
    now: dt.datetime,
    lead: Lead,
    chosen_by: Actor | None = None,
    to_rep: Actor | None = None,
) -> dict[str, Any]:
    routing: dict[str, Any] = {
        "decided_at": iso(now),
        "team": {"id": team.pk, "name": team.name} if team else None,
        "rule": rule,
        "matched": matched,
        "lead": {
            "region": region_for_country(lead.country),
            "country": lead.country,
            "industry": lead.industry,
            "employee_band": lead.employee_band,
            "score": lead.score,
            "high_intent": has_recent_high_intent(lead, now),
        },
        "policy": {"id": policy["id"], "name": policy["name"], "version": policy["version"]},
    }
    if choice is not None:
        routing.update(choice.as_routing())
    else:
        routing.update(
            {
                "rotation": None,
                "rep": _user_ref(to_rep),
                "skipped": [],
                "queue": "rep" if to_rep else "manager",
                "chosen_by": _user_ref(chosen_by),
            }
        )
    return routing


def _advance_rotation(team: Team, choice: RepChoice) -> None:
    if choice.position_chosen is not None:
        Team.objects.filter(pk=team.pk).update(rotation_position=choice.position_after)
        team.rotation_position = choice.position_after


def _announce(*, handoff: Handoff, event: HandoffEvent, now: dt.datetime) -> None:
    """Tell the rep at once, or the manager when nobody could take the handoff."""
    routing = handoff.routing or {}
    publish_handoff_event(
        "handoff.assigned" if handoff.assigned_to is not None else "handoff.unassigned",
        handoff=handoff,
        now=now,
        why=routing.get("rule") or "",
    )
    if handoff.assigned_to is not None:
        auto = handoff.auto_promotion
        body = f"Why you: {routing.get('rule') or 'assigned'}."
        if auto:
            body = f'Promoted automatically (rule "{auto["name"]}") the moment it asked. {body}'
        notify(
            kind=Notification.Kind.ASSIGNED,
            handoff=handoff,
            recipients=[handoff.assigned_to],
            event=event,
            now=now,
            body=body,
        )
        return
    skipped = routing.get("skipped") or []
    why = "; ".join(f"{s['username']}: {s['detail']}" for s in skipped) or (
        "nobody is in the team's rotation"
    )
    notify(
        kind=Notification.Kind.UNASSIGNED,
        handoff=handoff,
        recipients=_managers_for(handoff.team),
        event=event,
        now=now,
        body=f"Nobody in {handoff.team or 'any team'} could take it ({why}).",
    )

"""What a promotion would do now (the preview): team, rep, policy, deadline, the lead's account.
Writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from core.errors import RuleViolation
from handoff import sla
from handoff.models import Team
from handoff.selectors.accounts import account_preview, user_ref
from handoff.selectors.calendars import calendar_for
from handoff.selectors.promotion import history_block, lead_history
from leads.models import Lead


def promotion_preview(
    *, lead: Lead, team: Team | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What a promotion would do now: team, rep, policy, deadline. Writes nothing."""
    # handoff.assignment reads its calendars from this module: imported here, not at the top.
    from handoff.assignment import match_policy, match_team, pick_rep

    now = now or timezone.now()
    history = lead_history(lead)
    blocked = history_block(lead, now, history)
    preview: dict[str, Any] = {
        "eligible": blocked is None,
        "block": {"code": blocked.code, "detail": blocked.message} if blocked else None,
        "team": None,
        "rule": "",
        "policy": None,
        "rep": None,
        "skipped": [],
        "queue": None,
        "due_at": None,
        "at_risk_at": None,
        "calendar": None,
        "account": account_preview(lead),
        "account_owner": None,
    }
    try:
        chosen_team, match = match_team(lead=lead, team=team)
        preview["team"] = {"id": chosen_team.pk, "name": chosen_team.name}
        preview["rule"] = match["rule"]
        policy = match_policy(lead=lead, team=chosen_team, now=now)
    except RuleViolation as exc:
        preview["eligible"] = False
        preview["block"] = preview["block"] or {"code": exc.code, "detail": exc.message}
        return preview
    calendar_row = policy.calendar or chosen_team.calendar
    due_at, at_risk_at = sla.deadlines(
        now, policy.accept_within_minutes, policy.at_risk_ratio, calendar_for(calendar_row)
    )
    choice = pick_rep(
        team=chosen_team,
        now=now,
        skip_off_hours=policy.skip_reps_off_hours,
        lock=False,
        account_owner_id=(preview["account"] or {}).get("owner_id"),
    )
    preview.update(
        {
            "policy": {
                "id": policy.pk,
                "name": policy.name,
                "version": policy.version,
                "accept_within_minutes": policy.accept_within_minutes,
                "first_touch_within_minutes": policy.first_touch_within_minutes,
            },
            "rep": user_ref(choice.rep),
            "skipped": choice.skipped,
            "account_owner": choice.account_owner,
            "queue": "rep" if choice.rep else "manager",
            "due_at": due_at,
            "at_risk_at": at_risk_at,
            "calendar": {
                "id": calendar_row.pk,
                "name": calendar_row.name,
                "timezone": calendar_row.timezone,
            },
        }
    )
    return preview

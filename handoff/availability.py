"""Who could take a handoff now, for a manager about to reassign it: what "next in rotation"
would do (`reassign_preview`) and, when nobody can, who could and from when
(`nobody_available_message`, which reassignment also raises). Reads only: nothing is written."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from core.types import Actor
from handoff.assignment import RepChoice, pick_rep, who_could_take_it
from handoff.models import Handoff, Team
from handoff.selectors import user_ref as _user_ref
from handoff.timezones import local_words


def nobody_available_message(*, team: Team, now: dt.datetime, choice: RepChoice) -> str:
    """ "Nobody in Inside Sales can take it now. Rob Rep: outside working hours (US East),
    back Mon 8 Dec 09:00 EST; Olga Rep: marked away." """
    people = who_could_take_it(team=team, now=now, choice=choice)
    parts = []
    for person in people:
        when = f", back {local_words(person['from'])}" if person["from"] else ""
        parts.append(f"{person['username']}: {person['detail']}{when}")
    who = "; ".join(parts) if parts else "the team has nobody in its rotation"
    return (
        f"Nobody in {team.name} can take it now ({who}). Nothing was changed: pick a rep, take "
        "it yourself, or assign it when someone is back."
    )


def reassign_preview(*, handoff: Handoff, now: dt.datetime | None = None) -> dict[str, Any]:
    """Who "next in rotation" would give the handoff to now, as the promotion preview does;
    when nobody, who could take it and from when. Writes nothing."""
    now = now or timezone.now()
    team = handoff.team
    if team is None:
        return {"rep": None, "message": "No team: pick a rep.", "people": []}
    skip_off_hours = bool((handoff.policy_snapshot or {}).get("skip_reps_off_hours"))
    exclude = {handoff.assigned_to_id} if handoff.assigned_to_id else set()
    choice = pick_rep(
        team=team, now=now, skip_off_hours=skip_off_hours, lock=False, exclude_rep_ids=exclude
    )
    if choice.rep is not None:
        return {"rep": _user_ref(choice.rep), "rep_name": _name(choice.rep), "people": []}
    return {
        "rep": None,
        "message": nobody_available_message(team=team, now=now, choice=choice),
        "people": who_could_take_it(team=team, now=now, choice=choice),
    }


def _name(user: Actor) -> str:
    return str(user.get_full_name() or user.get_username())

"""Small pieces every handoff service uses: ISO timestamps for event payloads, the "may this
person work on it" guard, and who hears about a handoff nobody could take."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from core.errors import Forbidden
from core.roles import SALES_MANAGER
from core.types import Actor
from handoff.models import Handoff, Team
from handoff.selectors import can_work_on as _can_work


def _require_worker(handoff: Handoff, actor: Actor | None, verb: str) -> None:
    if not _can_work(handoff, actor):
        raise Forbidden(f"Only the assigned rep or a sales manager can {verb} this handoff.")


def _managers_for(team: Team | None) -> list[Actor]:
    """Who hears about a handoff nobody could take: the team's manager, or every sales manager
    when the team has none (a handoff is never silently left without an owner)."""
    if team is not None and team.manager is not None and team.manager.is_active:
        return [team.manager]
    user_model = get_user_model()
    return list(user_model.objects.filter(groups__name=SALES_MANAGER, is_active=True))

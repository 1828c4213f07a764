"""Opportunity stages and the moves allowed between them: data, read by the one transition."""

from __future__ import annotations

from django.db import models

from core.errors import Conflict


class Stage(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Stage.OPEN: frozenset({Stage.WON, Stage.LOST}),
    Stage.WON: frozenset(),
    Stage.LOST: frozenset(),
}


class InvalidTransition(Conflict):
    """The opportunity's current stage refuses the move (HTTP 409)."""

    code = "invalid_transition"


def check_move(from_stage: str, to_stage: str) -> None:
    if to_stage not in ALLOWED_MOVES.get(from_stage, frozenset()):
        raise InvalidTransition(
            f"A {Stage(from_stage).label.lower()} opportunity cannot become "
            f"{Stage(to_stage).label.lower()}.",
            field="stage",
        )

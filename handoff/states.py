"""Handoff states and the moves allowed between them: data, read by the one transition function.

A breach is a timestamp on the handoff, not a state: a breached handoff stays pending until
someone acts, and an accept after the deadline is recorded as late.
"""

from __future__ import annotations

from django.db import models

from core.errors import Conflict


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    WAITING = "waiting", "Waiting for marketing"
    ACCEPTED = "accepted", "Accepted"
    QUALIFIED = "qualified", "Qualified (SQL)"
    RETURNED = "returned", "Returned"
    REASSIGNED = "reassigned", "Reassigned"


ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset(
        {Status.ACCEPTED, Status.RETURNED, Status.REASSIGNED, Status.WAITING}
    ),
    Status.WAITING: frozenset({Status.PENDING}),
    Status.ACCEPTED: frozenset({Status.QUALIFIED, Status.RETURNED}),
    Status.QUALIFIED: frozenset(),
    Status.RETURNED: frozenset(),
    Status.REASSIGNED: frozenset(),
}

# Not yet finished: a lead has at most one handoff in these states (a partial unique constraint).
OPEN_STATUSES: frozenset[str] = frozenset({Status.PENDING, Status.WAITING, Status.ACCEPTED})
# The accept-or-return clock runs only here.
CLOCK_RUNNING_STATUSES: frozenset[str] = frozenset({Status.PENDING})
TERMINAL_STATUSES: frozenset[str] = frozenset(s for s, moves in ALLOWED_MOVES.items() if not moves)


class HandoffConflict(Conflict):
    """Someone else changed the handoff first: the claim found it no longer in the expected
    state (HTTP 409)."""

    code = "conflict"


class InvalidTransition(HandoffConflict):
    """The handoff's current state refuses the move (HTTP 409, code `invalid_transition`).

    A conflict with the state, not bad input: a client that read the handoff after a colleague
    moved it gets this, and one that read it before gets `conflict`; both lost the same race.
    The API answer carries the current `status`."""

    code = "invalid_transition"

    def __init__(self, message: str, *, current_status: str, code: str | None = None):
        super().__init__(message, code=code)
        self.current_status = current_status


def check_move(from_status: str, to_status: str) -> None:
    if to_status not in ALLOWED_MOVES.get(from_status, frozenset()):
        raise InvalidTransition(
            f"This handoff is {Status(from_status).label.lower()} now and cannot become "
            f"{Status(to_status).label.lower()}.",
            current_status=from_status,
        )

"""What the handoff pages add to core.pages: the version of a handoff the user acted on, and
who got there first when an action on a handoff lost a race.

The "version the user saw" token turns a stale click into a conflict instead of silently acting
on a handoff that changed under the user; `perform` is core.pages.perform saying, for a lost race
on a handoff, who changed it and what it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from core import pages
from core.errors import Conflict, ValidationFailed
from core.timefmt import iso
from core.types import Visitor
from handoff.models import Handoff, HandoffEvent
from handoff.states import HandoffConflict, Status

T = TypeVar("T")


def seen_token(handoff: Handoff) -> str:
    """What the user saw: status, deadline and pause. The claim in the services compares status
    (and, from pending, the deadline); a page can be minutes old, so the form carries what it
    showed and an action on a handoff that moved since is a conflict, not a surprise."""
    return f"{handoff.status}|{iso(handoff.due_at) or ''}|{iso(handoff.paused_at) or ''}"


def check_seen(handoff: Handoff, token: str | None) -> None:
    """Raise HandoffConflict when the handoff is no longer in the state the page showed.

    No token (a client that does not send one) means "act on the current state"; the service's
    own claim still guards the instant between this read and its write."""
    if not token:
        return
    status, _, rest = token.partition("|")
    due = rest.partition("|")[0]
    try:
        readable = status in Status.values and (not due or parse_datetime(due) is not None)
    except ValueError:  # well formed but impossible, e.g. month 13
        readable = False
    if not readable:
        raise ValidationFailed("The page sent an unreadable version; reload it.", field="seen")
    if token != seen_token(handoff):
        raise HandoffConflict("changed since the page was loaded")


VERB_FOR_STATUS: dict[str, str] = {
    Status.ACCEPTED: "accepted",
    Status.RETURNED: "returned",
    Status.REASSIGNED: "reassigned",
    Status.QUALIFIED: "qualified",
    Status.WAITING: "asked marketing about",
    Status.PENDING: "changed",
}


def conflict_message(handoff_id: int, user: Visitor) -> str:
    """Who changed the handoff and what it is now, from its latest event (two small queries)."""
    return conflict_notice(handoff_id, user)[1]


def conflict_notice(handoff_id: int, user: Visitor) -> tuple[int, str]:
    """The conflict message and its level: an error when someone else got there first,
    information when the user's own earlier action already did it (a double click, a second
    tab): nothing went wrong, the handoff is where they wanted it."""
    level, text = messages.ERROR, _conflict_text(handoff_id, user)
    if text.startswith("You already"):
        level = messages.INFO
    return level, text


def _conflict_text(handoff_id: int, user: Visitor) -> str:
    current = Handoff.objects.filter(pk=handoff_id).select_related("lead").first()
    if current is None:
        return f"Handoff #{handoff_id} no longer exists."
    last = (
        HandoffEvent.objects.filter(handoff_id=handoff_id)
        .select_related("actor")
        .order_by("-id")
        .first()
    )
    actor = last.actor if last is not None else None
    lead = str(current.lead)
    if current.status == Status.PENDING and last is not None and last.reason == "info provided":
        what = "answered the rep's question on"
    else:
        what = VERB_FOR_STATUS.get(current.status, "changed")
    status = Status(current.status).label.lower()
    if actor is not None and actor.pk == getattr(user, "pk", None):
        return (
            f"You already {what} this handoff ({lead}); it is now {status}. Nothing else was done."
        )
    if actor is not None:
        who = f"Someone else ({actor.get_full_name() or actor.get_username()})"
    else:
        who = "Someone else (the SLA sweep)"
    return f"{who} already {what} this handoff ({lead}); it is now {status}. Nothing was changed."


def perform(
    request: HttpRequest,
    action: Callable[[], T],
    *,
    form: forms.Form | None = None,
    handoff_id: int | None = None,
) -> T | None:
    """core.pages.perform for an action on one handoff: a lost race on it (HandoffConflict)
    becomes a message saying who got there first and what the handoff is now; an information
    when it was the user's own earlier action (a double click, a second tab)."""

    def notice(exc: Conflict) -> tuple[int, str] | None:
        if handoff_id is None or not isinstance(exc, HandoffConflict) or exc.code != "conflict":
            return None
        return conflict_notice(handoff_id, request.user)

    return pages.perform(request, action, form=form, conflict_notice=notice)

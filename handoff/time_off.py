"""Rep time off: the writes (a rep for themselves, a manager for anyone) and the reads routing
and the pages use.

Ranges are whole days, both ends included, read in the team calendar's zone by routing. One
rep's ranges never overlap: the check runs with the rep's user row locked, so two requests
adding overlapping ranges at once cannot both pass it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet

from core.errors import Forbidden, NotFound, ValidationFailed
from core.roles import SALES, is_manager, is_rep
from core.types import Actor
from handoff.models import TimeOff
from leads.history import audited

# A range longer than this is a typo (2062 for 2026), not a holiday.
MAX_DAYS = 366


def _check_actor(*, actor: Actor, rep: Actor) -> None:
    if is_manager(actor):
        return
    if is_rep(actor) and actor.pk == rep.pk:
        return
    raise Forbidden("Reps set their own time off; managers set anyone's.")


def time_off_create(
    *, actor: Actor, rep: Actor, starts_on: dt.date, ends_on: dt.date, note: str = ""
) -> TimeOff:
    """Add a range of days off for a rep. Reversed, too long or overlapping ranges are refused
    with the field they are about; nothing is written then."""
    _check_actor(actor=actor, rep=rep)
    note = (note or "").strip()
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=rep.pk).first()
        time_off_check(rep=rep, starts_on=starts_on, ends_on=ends_on, note=note)
        row = TimeOff(rep=rep, starts_on=starts_on, ends_on=ends_on, note=note, created_by=actor)
        audited(row, actor=actor).save()
        return row


def time_off_check(*, rep: Actor, starts_on: dt.date, ends_on: dt.date, note: str = "") -> None:
    """Raise ValidationFailed naming the field if the range cannot be saved for the rep."""
    if not rep.groups.filter(name=SALES).exists():
        raise ValidationFailed(f"{rep.get_username()} is not a sales rep.", field="rep")
    if ends_on < starts_on:
        raise ValidationFailed(
            f"The last day ({ends_on}) is before the first ({starts_on}).", field="ends_on"
        )
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"At most {MAX_DAYS} days in one range.", field="ends_on")
    if len(note) > 200:
        raise ValidationFailed("At most 200 characters.", field="note")
    clash = (
        TimeOff.objects.filter(rep=rep, starts_on__lte=ends_on, ends_on__gte=starts_on)
        .order_by("starts_on")
        .first()
    )
    if clash is not None:
        raise ValidationFailed(
            f"Overlaps time off already set from {clash.starts_on} to {clash.ends_on}.",
            field="starts_on",
        )


def time_off_delete(*, actor: Actor, time_off_id: int) -> None:
    """Remove a range (a rep: their own; a manager: anyone's). Another rep's range is a 404."""
    with transaction.atomic():
        row = (
            time_off_visible_to(actor)
            .select_for_update(of=("self",))
            .filter(pk=time_off_id)
            .first()
        )
        if row is None:
            raise NotFound(f"No time off #{time_off_id} that you can see.")
        _check_actor(actor=actor, rep=row.rep)
        audited(row, actor=actor).delete()


# --- reads -------------------------------------------------------------------------------------


def time_off_visible_to(user: Actor) -> QuerySet[TimeOff]:
    """A manager sees everyone's time off, a rep their own, anyone else none."""
    qs = TimeOff.objects.select_related("rep", "created_by")
    if is_manager(user):
        return qs
    if is_rep(user):
        return qs.filter(rep_id=user.pk)
    return qs.none()


def time_off_on(day: dt.date, rep_ids: Iterable[int] | None = None) -> dict[int, TimeOff]:
    """Rep id -> the range covering `day`, for the given reps (or all)."""
    qs = TimeOff.objects.filter(starts_on__lte=day, ends_on__gte=day)
    if rep_ids is not None:
        qs = qs.filter(rep_id__in=list(rep_ids))
    return {row.rep_id: row for row in qs.order_by("rep_id", "starts_on")}


def reps_off_on(day: dt.date) -> list[TimeOff]:
    """Who is off on `day`, with the range and note (the manager queue's "off today")."""
    return list(
        TimeOff.objects.filter(starts_on__lte=day, ends_on__gte=day)
        .select_related("rep")
        .order_by("rep__first_name", "rep__username", "starts_on")
    )


def describe(row: TimeOff) -> str:
    text = f"on time off until {row.ends_on:%a %d %b %Y}"
    return f"{text} ({row.note})" if row.note else text

"""What a person sets for themselves: the time zone every time is shown to them in."""

from __future__ import annotations

import zoneinfo

from django.db import IntegrityError, transaction

from core import roles
from core.errors import Conflict, Forbidden, ValidationFailed
from core.types import Actor
from leads.history import audited
from leads.models import UserProfile


def user_time_zone_set(*, user: Actor, time_zone: str, actor: Actor | None = None) -> UserProfile:
    """Set the zone every time is shown to `user` in ("" for automatic: their team calendar's
    zone). Anyone sets their own; a sales manager (or superuser) sets anyone's. An unknown zone
    is a 400 naming `time_zone`, and nothing is written."""
    actor = actor if actor is not None else user
    if actor.pk != user.pk and not (roles.is_manager(actor) or actor.is_superuser):
        raise Forbidden("Only a sales manager sets another person's time zone.")
    name = (time_zone or "").strip()
    if name and name not in zoneinfo.available_timezones():
        raise ValidationFailed(
            f"“{name[:64]}” is not a time zone (e.g. Europe/Paris, America/New_York).",
            field="time_zone",
        )
    with transaction.atomic():
        profile = UserProfile.objects.select_for_update().filter(user=user).first()
        if profile is None:
            profile = UserProfile(user=user)
        elif profile.time_zone == name:
            return profile
        profile.time_zone = name
        try:
            with transaction.atomic():
                audited(profile, actor=actor).save()
        except IntegrityError as exc:
            raise Conflict(
                "This person's time zone was set at the same moment; try again.",
                code="concurrent_time_zone",
            ) from exc
    return profile

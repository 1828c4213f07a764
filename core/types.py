"""Types shared by every app."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, cast

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django.http import HttpRequest
    from rest_framework.request import Request

#: Who does something: a signed-in person. Services that may run without one (beat, the sweep, a
#: migration, the demo) take ``Actor | None``; views pass ``core.types.actor_of(request)``.
Actor: TypeAlias = "User"

#: Whoever sent a request, signed in or not (``request.user``): what the role predicates
#: (core.roles) take, since they answer False for an anonymous visitor.
Visitor: TypeAlias = "User | AnonymousUser"


def actor_of(request: HttpRequest | Request) -> Actor:
    """The signed-in person behind a request. The views that call this require a login."""
    user = request.user
    if not user.is_authenticated:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Sign in first.")
    return cast("User", user)

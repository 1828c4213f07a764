"""Abuse controls: login and token attempts limited by django-axes, made atomic per client.

django-axes counts failures with `UPDATE ... SET failures = failures + 1` (atomic), but it
decides whether an attempt may go ahead *before* the password is checked and records the
failure *after*: N attempts sent at the same moment all pass the check before any failure is
recorded, so an attacker firing in parallel gets many more guesses than the limit. Every
attempt from one client therefore runs its check, password test and failure record inside one
transaction holding a lock on that client (a PostgreSQL advisory lock on its address; on
SQLite, `BEGIN IMMEDIATE` already serialises writers). The next attempt from that client waits
for the lock and sees the failure just recorded, so a client gets exactly the limit of guesses
whatever its concurrency. Attempts from different clients never wait for each other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from axes.helpers import get_client_ip_address, get_cool_off
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render

LOCKOUT_MESSAGE = "Too many failed login attempts from your address; try again later."
BUSY_MESSAGE = "Another login attempt from your address is in progress; try again in a moment."
BUSY_RETRY_AFTER = 1  # seconds: one attempt's password check is well under a second


class LoginAttemptBusy(Exception):
    """Another attempt from the same address holds its lock: refused, not queued."""


def retry_after_seconds(request: HttpRequest | None = None) -> int:
    """How long a locked-out client waits: the whole cool-off, which restarts at every attempt
    made during the lockout (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT)."""
    cool_off = get_cool_off(request)
    return max(1, int(cool_off.total_seconds())) if cool_off else 3600


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; JSON for the API, a page for people."""
    return too_many_attempts(request, code="too_many_attempts", message=LOCKOUT_MESSAGE)


def busy_response(request: HttpRequest) -> HttpResponse:
    """429 for an attempt that arrived while its address had another one in progress."""
    return too_many_attempts(
        request, code="login_in_progress", message=BUSY_MESSAGE, wait=BUSY_RETRY_AFTER
    )


def too_many_attempts(
    request: HttpRequest, *, code: str, message: str, wait: int | None = None
) -> HttpResponse:
    wait = retry_after_seconds(request) if wait is None else wait
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"code": code, "detail": message, "retry_after": wait},
            status=429,
        )
    else:
        response = render(
            request,
            "registration/lockout.html",
            {"message": message, "minutes": max(1, round(wait / 60)) if wait >= 60 else None},
            status=429,
        )
    response["Retry-After"] = str(wait)
    return response


def client_key(request: HttpRequest) -> str:
    """The address axes counts failures by (AXES_LOCKOUT_PARAMETERS is ip_address)."""
    return get_client_ip_address(request) or "unknown"


@contextmanager
def login_attempt_lock(request: HttpRequest) -> Iterator[None]:
    """One login attempt at a time per client address, inside one transaction (see above).

    Raises LoginAttemptBusy at once when another attempt from the address holds the lock."""
    enabled = getattr(settings, "AXES_ENABLED", True)
    if not enabled or not getattr(settings, "LOGIN_ATTEMPTS_SERIALIZED", True):
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Transaction-scoped: released at commit or rollback, even if the worker dies.
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"axes-login:{client_key(request)}"],
                )
                (acquired,) = cursor.fetchone()
            if not acquired:
                raise LoginAttemptBusy
        yield


def serialized_login(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a login view (the site's and the admin's): a POST is one attempt under the lock."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        try:
            with login_attempt_lock(request):
                response = view(request, *args, **kwargs)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response = response.render()
                return response
        except LoginAttemptBusy:
            return busy_response(request)

    return wrapper

"""Whose time zone a time is shown in: the viewer's.

Every person has a zone: the one they chose on their settings page (or a manager chose in the
admin), else their team calendar's zone (a rep's team, a manager's team), else the site's
TIME_ZONE. Pages activate it per request (TimeZoneMiddleware), so Django's `date` filter and
`timezone.localtime` show every time in it, with its abbreviation; emails are written in the
recipient's zone (ZoneBook). The API keeps ISO 8601 with offsets, in UTC.

The zone is resolved in one query at login and kept in the session, looked up again after
SESSION_ZONE_SECONDS, so a page does not pay for it; choosing a zone on the settings page takes
effect at once, a manager's change in the admin within SESSION_ZONE_SECONDS.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

SESSION_KEY = "time_zone"
SESSION_ZONE_SECONDS = 300
API_PREFIX = "/api/"


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=512)
def zone(name: str) -> dt.tzinfo:
    """The zone of that name; the site's default for a name that is not a zone."""
    try:
        return zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def _zone_rows_query(ids: list[int]) -> Any:
    return (
        get_user_model()
        .objects.filter(pk__in=ids)
        .values_list(
            "pk",
            "profile__time_zone",
            "team_memberships__team__calendar__timezone",
            "managed_teams__calendar__timezone",
        )
        .order_by("pk", "team_memberships__id", "managed_teams__id")
    )


# The zone read of a message's few recipients, compiled once per process and number of people
# (a return notifies two: building this 4-table join through the ORM cost more than running it).
_compiled_zone_reads: dict[tuple[str, int], tuple[str, Any, dict[int, Any]] | None] = {}
_COMPILED_UP_TO = 4


def _zone_rows(ids: list[int]) -> Iterable[tuple[int, str | None, str | None, str | None]]:
    from django.db import connections, router

    alias = router.db_for_read(get_user_model())
    key = (alias, len(ids))
    if len(ids) > _COMPILED_UP_TO:
        return _zone_rows_query(ids)
    if key not in _compiled_zone_reads:
        marks = [-7_100_000 - i for i in range(len(ids))]
        compiler = _zone_rows_query(marks).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        positions = {value: n for n, value in enumerate(marks)}
        if sorted(params) == sorted(marks):
            order = [positions[value] for value in params]
            converters = compiler.get_converters([column[0] for column in compiler.select])
            _compiled_zone_reads[key] = (sql, order, converters)
        else:
            _compiled_zone_reads[key] = None
    compiled = _compiled_zone_reads[key]
    if compiled is None:
        return _zone_rows_query(ids)
    sql, order, converters = compiled
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids[n] for n in order])
        rows = cursor.fetchall()
    if not converters:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for position, (functions, expression) in converters.items():
            for function in functions:
                values[position] = function(values[position], expression, connection)
        converted.append(tuple(values))
    return converted


def zone_names_for(user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's zone name, in one query: their own choice, else their team calendar's zone
    (as a rep, then as a manager), else TIME_ZONE."""
    ids = sorted({pk for pk in user_ids if pk is not None})
    if not ids:
        return {}
    names: dict[int, str] = {}
    for pk, own, as_rep, as_manager in _zone_rows(ids):
        if pk in names:
            continue
        for candidate in (own, as_rep, as_manager):
            if candidate and candidate in known_zones():
                names[pk] = candidate
                break
    for pk in ids:
        names.setdefault(pk, settings.TIME_ZONE)
    return names


def zone_name_for(user: Any) -> str:
    if not getattr(user, "is_authenticated", False):
        return str(settings.TIME_ZONE)
    return zone_names_for([user.pk])[user.pk]


def default_zone_name_for(user: Any) -> str:
    """The zone a person gets when they choose none (their team calendar's, else TIME_ZONE)."""
    ids = [user.pk]
    rows = (
        get_user_model()
        .objects.filter(pk__in=ids)
        .values_list(
            "team_memberships__team__calendar__timezone", "managed_teams__calendar__timezone"
        )
        .order_by("team_memberships__id", "managed_teams__id")
    )
    for as_rep, as_manager in rows:
        for candidate in (as_rep, as_manager):
            if candidate and candidate in known_zones():
                return str(candidate)
    return str(settings.TIME_ZONE)


def remember(request: HttpRequest, name: str) -> None:
    """Keep the viewer's zone in their session (the settings page calls this on a change)."""
    request.session[SESSION_KEY] = [name, time.time(), request.user.pk]


def remember_at_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """At login, keep the person's zone in the session (saved by the login anyway)."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = [zone_name_for(user), time.time(), user.pk]


def _request_zone(request: HttpRequest) -> str | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    kept = request.session.get(SESSION_KEY)
    if (
        isinstance(kept, list)
        and len(kept) == 3
        and kept[2] == user.pk
        and isinstance(kept[1], int | float)
        and time.time() - kept[1] < SESSION_ZONE_SECONDS
        and kept[0] in known_zones()
    ):
        return str(kept[0])
    name = zone_name_for(user)
    remember(request, name)
    return name


class TimeZoneMiddleware:
    """Activate the viewer's zone for the request (pages and the admin; not the API, which
    answers in UTC with offsets)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = None if request.path.startswith(API_PREFIX) else _request_zone(request)
        if name:
            timezone.activate(zone(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class ZoneBook:
    """Recipients' zones for emails, each looked up once per book (a sweep keeps one book for
    its run, so thousands of messages to a handful of people cost a handful of lookups)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def prefetch(self, user_ids: Iterable[int]) -> None:
        missing = [pk for pk in user_ids if pk not in self._names]
        if missing:
            self._names.update(zone_names_for(missing))

    def zone_for(self, user_id: int) -> dt.tzinfo:
        self.prefetch([user_id])
        return zone(self._names[user_id])


def local_words(moment: dt.datetime) -> str:
    """A moment in the active zone (the viewer's on a page), with its abbreviation:
    "Mon 7 Dec 09:00 EST"."""
    local = timezone.localtime(moment)
    return f"{local:%a} {local.day} {local:%b %H:%M %Z}"

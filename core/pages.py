"""Plumbing shared by the server-rendered pages of every app.

The one place where domain errors become what a person sees (`perform`): a field error on the
form that named the field, or a message at the top of the page; a lost race is a message, never
a 500 (an app may say who got there first: handoff.views.support does for a handoff). Also: the
role gate for pages, where to go after a POST, pagination with a page-size parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeAlias, TypeVar

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db import OperationalError
from django.db.models import Count, QuerySet, Window
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import Conflict, DomainError
from core.roles import is_manager, is_marketer, is_rep
from core.types import Visitor

T = TypeVar("T")
View = Callable[..., HttpResponse]

# --- role gates ---------------------------------------------------------------------------------


def marketing_or_manager(user: Visitor) -> bool:
    return is_marketer(user) or is_manager(user)


def sales_or_manager(user: Visitor) -> bool:
    return is_rep(user) or is_manager(user)


def page_for(predicate: Callable[[Visitor], bool], who: str) -> Callable[[View], View]:
    """Login required, then the role gate: a user of another role gets the 403 page saying whose
    page it is (the navigation never links there for them)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not predicate(request.user):
                raise PermissionDenied(f"This page is for {who}.")
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorate


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go after a POST: the form's `next` when it is a path on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def filled(params: QueryDict) -> QueryDict:
    """The query parameters without the empty ones a GET form sends for untouched fields
    (`?stage=&source=`): a FilterSet would read `stage=""` as an invalid choice."""
    cleaned = QueryDict(mutable=True)
    for key, values in params.lists():
        kept = [v for v in values if v.strip()]
        if kept:
            cleaned.setlist(key, kept)
    return cleaned


# --- pagination ---------------------------------------------------------------------------------

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25


@dataclass
class Paged:
    page: Page
    per_page: int
    querystring: str  # the other GET parameters, to keep filters across pages

    @property
    def rows(self) -> Any:
        return self.page.object_list


def page_size(request: HttpRequest, default: int = DEFAULT_PAGE_SIZE) -> int:
    try:
        per = int(request.GET.get("per", default))
    except ValueError:
        return default
    return per if per in PAGE_SIZES else default


def page_slice(request: HttpRequest, default: int = DEFAULT_PAGE_SIZE) -> slice:
    """The rows `paginate` will ask for on this request (when the page number is valid)."""
    per = page_size(request, default)
    raw = request.GET.get("page") or "1"
    number = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    return slice((number - 1) * per, number * per)


def paginate(request: HttpRequest, items: Any, *, default: int = DEFAULT_PAGE_SIZE) -> Paged:
    """A page of `items` (`?page=`, `?per=` one of PAGE_SIZES); out-of-range pages give the last
    page rather than an error page."""
    per = page_size(request, default)
    page = Paginator(items, per).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return Paged(page=page, per_page=per, querystring=params.urlencode())


class SortedIds:
    """A list for the Paginator that sorts and slices ids only, then loads the page's rows with
    their joins. PostgreSQL otherwise joins every row to its foreign keys before sorting: on
    100,000 leads a deep page of the lead list sorted 60 MB of joined rows on disk (0.8 s);
    sorting bare ids and loading 25 rows by id takes a small fraction of that.

    With `window` (the slice the page will ask for), the count comes from the same scan as the
    ids (`COUNT(*) OVER ()`): a search that must read every row reads them once, not twice."""

    # Paginator warns about unordered lists by reading `.ordered`; the queryset is ordered.
    ordered = True

    def __init__(
        self,
        queryset: QuerySet[Any],
        load: Callable[[list[Any]], Any],
        *,
        window: slice | None = None,
    ) -> None:
        self.queryset = queryset
        self.load = load
        self.window = window
        self._count: int | None = None
        self._window_ids: list[Any] | None = None

    def count(self) -> int:
        if self._count is None and self.window is not None:
            rows = list(
                self.queryset.annotate(_total=Window(Count("pk"))).values_list("pk", "_total")[
                    self.window
                ]
            )
            if rows:
                self._window_ids = [pk for pk, _total in rows]
                self._count = rows[0][1]
            elif not self.window.start:
                self._window_ids, self._count = [], 0  # nothing matched at all
        if self._count is None:
            self._count = self.queryset.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Any]:
        window = self.window
        if (
            self._window_ids is not None
            and window is not None
            and index.start == window.start
            and (index.stop or 0) <= (window.stop or 0)
        ):
            # The Paginator trims the last page's slice to the count: a prefix of the window.
            ids = self._window_ids[: (index.stop or 0) - (index.start or 0)]
        else:
            ids = list(self.queryset.values_list("pk", flat=True)[index])
        rows = {row.pk: row for row in self.load(ids)}
        return [rows[pk] for pk in ids if pk in rows]


# --- domain errors, mapped once -----------------------------------------------------------------

LOCK_ERRORS = ("40P01", "40001", "55P03")  # deadlock, serialization failure, lock not available


#: An app's own words for a conflict it recognises: (message level, text), or None to show the
#: error's message.
ConflictNotice: TypeAlias = Callable[[Conflict], tuple[int, str] | None]


def perform(
    request: HttpRequest,
    action: Callable[[], T],
    *,
    form: forms.Form | None = None,
    conflict_notice: ConflictNotice | None = None,
) -> T | None:
    """Run one service call. On a domain error, tell the user once and return None:

    - a conflict (a lost race, acknowledged twice, ...): what `conflict_notice` says of it (who
      got there first and what the thing is now), else its message;
    - an error naming a field the form has: that field's error (``bant.budget`` -> ``budget``);
    - any other rule or permission error: a form-wide error when there is a form, else a message.
    """
    try:
        return action()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", "") not in LOCK_ERRORS:
            raise
        messages.error(request, "Someone else changed the same lead at the same moment; retry.")
        return None
    except Conflict as exc:
        notice = conflict_notice(exc) if conflict_notice is not None else None
        if notice is not None:
            messages.add_message(request, *notice)
        else:
            messages.error(request, exc.message)
        return None
    except DomainError as exc:
        field = (exc.field or "").split(".")[-1]
        if form is not None and field in form.fields and not form.fields[field].widget.is_hidden:
            form.add_error(field, exc.message)
        elif form is not None and exc.http_status == 400:
            form.add_error(None, exc.message)
        else:
            messages.error(request, exc.message)
        return None


def form_invalid_message(request: HttpRequest, what: str) -> None:
    messages.error(request, f"{what} was not saved: see the highlighted field.")

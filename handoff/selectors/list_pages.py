"""The API list's page read (GET /api/handoffs/), its SQL compiled once per process for each
user and query string: the rep's queue read (`?status=pending&ordering=due_at`) is the busiest
request, and building its queryset (the FilterSet with its form, the ordering, `.values()` over
6 joined tables, the compiler) cost more than running it and writing its 50 rows.

The first request of a user with a given query string goes the ORM's way (the FilterSet checks
every parameter: a bad one is a 400 and nothing is kept); its final SQL, parameters and column
converters are kept under (database, user, visibility, query string), and the same request
afterwards runs that SQL and gets the same rows as `.values()` would give. Nothing in the SQL
depends on the moment or on anything but the user, their visibility (from their roles, part of
the key) and the query string, except the `breached` and `at_risk` filters (they compare with
now) and `count=true` (a second query): those always go the ORM's way. A test holds the two
ways' answers equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections

from core.types import Visitor
from handoff.selectors.action import _visibility

# Parameters whose SQL depends on the moment, or that read more than the page.
_NOT_KEPT = frozenset({"breached", "at_risk", "count"})
# Kept reads per process, at most (a key per user and query string): past it, start again.
_KEPT_AT_MOST = 2048


@dataclass(frozen=True)
class CompiledPage:
    """One page's SQL with its parameters, the `.values()` names and the column converters."""

    using: str
    sql: str
    params: tuple[Any, ...]
    names: tuple[str, ...]
    converters: dict[int, Any]
    bounds: tuple[int | None, int | None]

    def rows(self) -> list[dict[str, Any]]:
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            fetched = cursor.fetchall()
        names, converters = self.names, self.converters
        if not converters:
            return [dict(zip(names, row, strict=False)) for row in fetched]
        rows = []
        for row in fetched:
            values = list(row)
            for position, (functions, expression) in converters.items():
                for function in functions:
                    values[position] = function(values[position], expression, connection)
            rows.append(dict(zip(names, values, strict=False)))
        return rows


_kept: dict[tuple[Any, ...], CompiledPage] = {}


def page_key(*, user: Visitor, using: str, params: Any) -> tuple[Any, ...] | None:
    """The key of this user's page read with these query parameters (a QueryDict), or None
    when such a read is never kept."""
    if any(name in _NOT_KEPT for name in params):
        return None
    query = tuple(sorted((name, tuple(params.getlist(name))) for name in params))
    return (using, getattr(user, "pk", None), _visibility(user), query)


def kept_page(key: tuple[Any, ...] | None) -> CompiledPage | None:
    return _kept.get(key) if key is not None else None


class RecordedSlice:
    """A queryset standing in for itself to the paginator, which slices it once: the sliced
    queryset is what a page reads, and what `keep_page` compiles."""

    def __init__(self, queryset: Any) -> None:
        self.queryset = queryset
        self.sliced: Any = None
        self.bounds: tuple[int | None, int | None] = (None, None)

    def __getitem__(self, bounds: slice) -> Any:
        self.bounds = (bounds.start, bounds.stop)
        self.sliced = self.queryset[bounds]
        return self.sliced


class KeptSlice:
    """A kept page read standing in for the queryset: the paginator's slice runs its SQL."""

    def __init__(self, page: CompiledPage) -> None:
        self.page = page

    def __getitem__(self, bounds: slice) -> list[dict[str, Any]]:
        # The key holds the page and its size, so the paginator asks for the same rows.
        assert (bounds.start, bounds.stop) == self.page.bounds, (bounds, self.page.bounds)
        return self.page.rows()


def keep_page(key: tuple[Any, ...] | None, recorded: RecordedSlice) -> None:
    """Compile and keep the page `recorded` read (a `.values()` queryset, sliced)."""
    if key is None or recorded.sliced is None:
        return
    queryset = recorded.sliced
    query = queryset.query
    compiler = query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return  # a read of nothing (a user with no role sees no handoff) runs no SQL
    names = (*query.extra_select, *query.values_select, *query.annotation_select)
    if len(names) != len(compiler.select):
        return  # not a plain values() read: keep taking the ORM's way
    converters = compiler.get_converters([column[0] for column in compiler.select])
    if len(_kept) >= _KEPT_AT_MOST:
        _kept.clear()
    _kept[key] = CompiledPage(
        using=queryset.db,
        sql=sql,
        params=tuple(params),
        names=tuple(names),
        converters=converters,
        bounds=recorded.bounds,
    )

"""Pagination of every list in the API: numbered pages, and pages that peek instead of counting.

DRF's generics read DEFAULT_PAGINATION_CLASS when first imported, so the class named there lives
in a module that does not itself import generics (this one imports no view code).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from core.api.params import invalid_parameter, query_bool


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param, "").strip()
        if raw and (not raw.isdigit() or int(raw) < 1):
            raise invalid_parameter(
                self.page_size_query_param, f"Give a whole number from 1 to {self.max_page_size}."
            )
        return int(super().get_page_size(request) or self.page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Results per page ({self.page_size} by default; more than "
                    f"{self.max_page_size} reads as {self.max_page_size})."
                )
            elif parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


COUNT_EXACT_UP_TO = 10_000


class PeekPagination(Pagination):
    """Pages without a COUNT of the whole set: a page reads one row more than it shows, and
    that row says whether there is a next page. `count` is null unless asked for with
    `?count=true`; then it is exact up to COUNT_EXACT_UP_TO and the planner's estimate above
    (`count_is_estimate` says which). A rep's queue read on every screen refresh no longer
    counts every pending handoff."""

    count_query_param = "count"

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any] | None:
        self.request = request
        size = self.get_page_size(request)
        raw = (request.query_params.get(self.page_query_param) or "1").strip()
        if not raw.isdigit() or int(raw) < 1:
            raise exceptions.NotFound("Invalid page.")
        self.page_number = int(raw)
        offset = (self.page_number - 1) * size
        rows = list(queryset[offset : offset + size + 1])
        self.has_next = len(rows) > size
        self.count: int | None = None
        self.count_is_estimate = False
        if query_bool(request.query_params, self.count_query_param):
            self.count, self.count_is_estimate = counted(queryset)
        return rows[:size]

    def _url(self, number: int) -> str:
        from rest_framework.utils.urls import remove_query_param, replace_query_param

        assert self.request is not None
        url = self.request.build_absolute_uri()
        if number == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, number)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "count": self.count,
                "count_is_estimate": self.count_is_estimate,
                "next": self._url(self.page_number + 1) if self.has_next else None,
                "previous": self._url(self.page_number - 1) if self.page_number > 1 else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["count", "count_is_estimate", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "nullable": True,
                    "description": "null unless `count=true` was asked; exact up to "
                    f"{COUNT_EXACT_UP_TO:,}, the planner's estimate above.",
                },
                "count_is_estimate": {"type": "boolean"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": "true: also answer `count` (exact up to "
                f"{COUNT_EXACT_UP_TO:,}, estimated above).",
                "schema": {"type": "boolean"},
            },
        ]


def counted(queryset: Any) -> tuple[int, bool]:
    """(count, is_estimate): exact up to COUNT_EXACT_UP_TO rows, else the planner's estimate."""
    exact = queryset.order_by()[: COUNT_EXACT_UP_TO + 1].count()
    if exact <= COUNT_EXACT_UP_TO:
        return exact, False
    from django.db import connection

    if connection.vendor != "postgresql":
        return queryset.count(), False
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return max(int(plan[0]["Plan"]["Plan Rows"]), exact), True

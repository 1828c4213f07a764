"""API-wide pieces every app's API uses: pagination and the one mapping of errors to HTTP.

Kept apart from leads.apis: DRF's generics read DEFAULT_PAGINATION_CLASS when first imported,
so the class named there must live in a module that does not itself import generics.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, OperationalError
from rest_framework import exceptions, filters, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict, DomainError, PayloadTooLarge, ValidationFailed

logger = logging.getLogger(__name__)


TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})


def invalid_parameter(name: str, message: str) -> exceptions.ValidationError:
    """A bad query parameter: the 400 every invalid field gets, naming the parameter."""
    return exceptions.ValidationError({name: [message]})


def query_bool(params: Any, name: str) -> bool | None:
    """A boolean query parameter: true/false (or 1/0), absent or empty for None; anything
    else is a 400 naming it (never silently read as false)."""
    raw = (params.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise invalid_parameter(name, "Give true or false.")


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


class OrderingFilter(filters.OrderingFilter):
    """DRF's `?ordering=`, strict and documented: the schema lists the view's orderings (each
    with its `-` descending variant) as an enum, and any other value is a 400 naming the
    parameter (DRF drops unknown terms silently). Several may be given, comma-separated."""

    def allowed(self, view: Any) -> list[str]:
        fields = getattr(view, "ordering_fields", None) or []
        return [term for name in fields for term in (name, f"-{name}")]

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        raw = (request.query_params.get(self.ordering_param) or "").strip()
        if raw:
            terms = [term.strip() for term in raw.split(",")]
            allowed = self.allowed(view)
            unknown = [term for term in terms if term not in allowed]
            if unknown:
                raise invalid_parameter(
                    self.ordering_param,
                    f"Unknown ordering {unknown[0]!r}; use one of: {', '.join(allowed)}."
                    if allowed
                    else "This list cannot be ordered.",
                )
        return super().get_ordering(request, queryset, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        allowed = self.allowed(view)
        if not allowed:
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort by this field (`-` first: descending); several may be "
                "given, comma-separated.",
                "schema": {"type": "string", "enum": allowed},
            }
        ]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors to HTTP once, and give every error body a stable `code`."""
    if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", "") in (
        "40P01",  # deadlock detected
        "40001",  # serialization failure
        "55P03",  # lock not available
    ):
        exc = Conflict("Another request changed the same rows at the same moment; retry.")
    if isinstance(exc, RecursionError):
        # JSON nested thousands of levels deep: the parser gives up before any view code runs.
        exc = ValidationFailed("The body nests too deeply to be read.", code="too_deep")
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes."
        )
    if isinstance(exc, DataError | OverflowError):
        # A value the checks let through but the database cannot hold (a number past its
        # range, a date past year 9999): the client's input, so a 400, never a 500. Logged,
        # because the check that should have named the field is missing.
        logger.warning("input reached the database out of range: %s", exc)
        exc = ValidationFailed("A value in the request is out of range.", code="out_of_range")
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"code": exc.code, "detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        current_status = getattr(exc, "current_status", None)
        if current_status:
            body["status"] = current_status
        return Response(body, status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data
        if not isinstance(errors, dict):  # raised with a bare message, not per field
            errors = {"non_field_errors": errors if isinstance(errors, list) else [errors]}
        response.data = {
            "code": "invalid",
            "detail": "The request has invalid fields.",
            "errors": errors,
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"code": getattr(detail, "code", "error"), "detail": str(detail)}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in response:
        wait = getattr(exc, "wait", None)
        if wait:
            response["Retry-After"] = str(int(wait) + 1)
    return response

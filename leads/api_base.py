"""API-wide pieces every app's API uses: pagination and the one mapping of errors to HTTP.

Kept apart from leads.apis: DRF's generics read DEFAULT_PAGINATION_CLASS when first imported,
so the class named there must live in a module that does not itself import generics.
"""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leads.errors import Conflict, DomainError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors to HTTP once, and give every error body a stable `code`."""
    if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", "") in (
        "40P01",  # deadlock detected
        "40001",  # serialization failure
        "55P03",  # lock not available
    ):
        exc = Conflict("Another request changed the same rows at the same moment; retry.")
    if isinstance(exc, DomainError):
        body: dict[str, Any] = {"code": exc.code, "detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request has invalid fields.",
            "errors": response.data,
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"code": getattr(detail, "code", "error"), "detail": str(detail)}
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in response:
        wait = getattr(exc, "wait", None)
        if wait:
            response["Retry-After"] = str(int(wait) + 1)
    return response

"""Errors over HTTP: the one mapping of domain errors (core.errors) to API answers, and the
shape of every error body as the OpenAPI schema names it (`Error`, `ValidationError`).

400 for malformed input or a rule that does not depend on the current state, 409 when the
current state refuses the request, 403/404 for who may see or do it; the database's lock
failures become a 409 to retry, and input the database cannot hold a 400.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, OperationalError
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict, DomainError, PayloadTooLarge, ValidationFailed

logger = logging.getLogger(__name__)


class ErrorSerializer(serializers.Serializer):
    """Every error body: a stable code, a human message, and the field it is about (if one)."""

    code = serializers.CharField(help_text="Stable, machine-readable: e.g. conflict, not_found.")
    detail = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The input the error is about.")
    status = serializers.CharField(
        required=False,
        help_text="On a 409 `invalid_transition`: the handoff's current status, which refused "
        "the move.",
    )


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: a rule's error naming its `field`, a body that could not be read (`parse_error`),
    or the shape check's `invalid` with `errors`: messages by field name (nested for nested
    fields, e.g. {"bant": {"budget": ["..."]}})."""

    errors = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="With code `invalid`: messages by field name."
    )


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

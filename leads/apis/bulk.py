"""The bulk API: up to 1,000 leads or events per request, read and checked by hand (size
first, one parse), done once per Idempotency-Key. Pipeline's opportunity sync uses the same
steps."""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from core.errors import PayloadTooLarge, ValidationFailed
from core.types import actor_of
from leads import services
from leads.apis.common import (
    AUTH_ERRORS,
    E400_BODY,
    E409,
    E413,
    E415,
    E422,
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    CanWriteLeads,
)
from leads.serializers import (
    BulkEventsRequestSerializer,
    BulkEventsResponseSerializer,
    BulkLeadsRequestSerializer,
    BulkLeadsResponseSerializer,
)


def _read_json_body(request: Request) -> tuple[bytes, Any]:
    """The body and its parsed JSON, refusing before reading anything what is too big or not
    JSON."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise exceptions.UnsupportedMediaType(content_type or "(none)")
    limit = settings.LEAD_BULK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_big = PayloadTooLarge(
        f"The body is over the limit of {limit:,} bytes; send smaller batches."
    )
    if declared > limit:
        raise too_big
    try:
        body = request._request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(body) > limit:
        raise too_big
    try:
        return body, json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"The body is not valid JSON: {exc}.", code="malformed_json"
        ) from exc
    except RecursionError:
        raise ValidationFailed("The body nests too deeply to be read.", code="too_deep") from None


def _rows(data: Any, key: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValidationFailed(
            f'Send a JSON object with a list under "{key}".', code="invalid_shape", field=key
        )
    unknown = sorted(set(data) - {key})
    if unknown:
        raise ValidationFailed(
            f"Unknown top-level field(s): {', '.join(unknown)}.",
            code="invalid_shape",
            field=unknown[0],
        )
    rows = data[key]
    limit = settings.LEAD_BULK_MAX_ROWS
    if not rows:
        raise ValidationFailed("Send at least one row.", code="empty", field=key)
    if len(rows) > limit:
        raise ValidationFailed(
            f"At most {limit:,} rows per request (got {len(rows):,}); split the batch.",
            code="too_many_rows",
            field=key,
        )
    return rows


def _json_response(body: str, status_code: int, *, replayed: bool = False) -> HttpResponse:
    response = HttpResponse(body, status=status_code, content_type="application/json")
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A bulk request allocates some 100,000 short-lived, acyclic objects (parsed rows, their
    scores, the answer), all freed by reference counting. The cyclic collector would walk the
    worker's whole heap several times per request for nothing; it waits until the request is
    done instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_idempotent(
    request: Request,
    *,
    scope: str,
    body: bytes,
    work: Callable[[Any], services.BulkOutcome],
) -> HttpResponse:
    """Do the work once per Idempotency-Key (when the client sent one).

    The key is claimed and committed before the work, so a duplicate arriving meanwhile gets
    409; the first answer is stored in the work's own transaction, so what is replayed is
    exactly what was written. A request failing as a whole frees the key again.
    """
    now = timezone.now()
    key = request.headers.get("Idempotency-Key")
    if key is None:
        outcome = work(now)
        return _json_response(json.dumps(outcome.as_response()), 200)
    # "The same body" is the same bytes: what a client's retry sends.
    record, replay = services.idempotency_claim(
        user=actor_of(request),
        scope=scope,
        key=key,
        request_hash=hashlib.sha256(body).hexdigest(),
        now=now,
    )
    if replay:
        return _json_response(record.response_body, record.response_status or 200, replayed=True)
    try:
        with transaction.atomic():
            outcome = work(now)
            answer = json.dumps(outcome.as_response())
            services.idempotency_complete(record=record, status=200, body=answer, now=now)
    except BaseException:
        services.idempotency_release(record=record)
        raise
    return _json_response(answer, 200)


BULK_ERRORS = {
    400: E400_BODY,
    **AUTH_ERRORS,
    409: E409,
    413: E413,
    415: E415,
    422: E422,
}


@extend_schema(tags=["leads"])
class LeadBulkApi(APIView):
    permission_classes = [IsAuthenticated, CanWriteLeads]
    # Documented as JSON; the body is read and parsed by hand (size check first, one parse).
    parser_classes = [JSONParser]

    @extend_schema(
        request=BulkLeadsRequestSerializer,
        parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED],
        responses={200: BulkLeadsResponseSerializer, **BULK_ERRORS},
        description="Create or update up to 1,000 leads by normalised email, with their events, "
        "scored on the way in. Each row is answered: created, updated, or error with messages "
        "by field (an error row is not written; the others are). A lead sent twice in one "
        "batch is an error on each of its rows. Fields a row leaves out are left unchanged on "
        "an existing lead. Malformed JSON, a body over the size limit or more than 1,000 rows "
        "write nothing.",
    )
    def post(self, request: Request) -> HttpResponse:
        with _gc_paused():
            body, data = _read_json_body(request)
            rows = _rows(data, "leads")
            return _run_idempotent(
                request,
                scope="leads.bulk",
                body=body,
                work=lambda now: services.leads_bulk_upsert(
                    rows=rows, actor=actor_of(request), now=now
                ),
            )


@extend_schema(tags=["events"])
class EventBulkApi(APIView):
    permission_classes = [IsAuthenticated, CanWriteLeads]
    parser_classes = [JSONParser]

    @extend_schema(
        request=BulkEventsRequestSerializer,
        parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED],
        responses={200: BulkEventsResponseSerializer, **BULK_ERRORS},
        description="Record up to 1,000 events for leads named by lead_id or email, then "
        "rescore those leads. Each row: recorded, duplicate (its external_id was already "
        "recorded for the lead) or error.",
    )
    def post(self, request: Request) -> HttpResponse:
        with _gc_paused():
            body, data = _read_json_body(request)
            rows = _rows(data, "events")
            return _run_idempotent(
                request,
                scope="events.bulk",
                body=body,
                work=lambda now: services.events_bulk_record(
                    rows=rows, actor=actor_of(request), now=now
                ),
            )

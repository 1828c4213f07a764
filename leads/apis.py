"""Leads API. The API-wide pieces (Pagination, exception_handler) live in core.api and
are re-exported here; settings point at core.api so that importing this module (which
imports DRF's generics, which read the pagination setting) is not circular."""

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
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.api.errors import ErrorSerializer, ValidationErrorSerializer, exception_handler
from core.api.pagination import Pagination
from core.errors import PayloadTooLarge, ValidationFailed
from leads import selectors, services
from leads.filters import LeadFilter
from leads.models import EngagementRule, FitRule, Lead, PqlCriterion
from leads.serializers import (
    BulkEventsRequestSerializer,
    BulkEventsResponseSerializer,
    BulkLeadsRequestSerializer,
    BulkLeadsResponseSerializer,
    EngagementRuleSerializer,
    EventRecordedSerializer,
    EventSerializer,
    EventWriteSerializer,
    FitRuleSerializer,
    LeadSerializer,
    LeadWriteSerializer,
    PqlCriterionSerializer,
    ScoringConfigSerializer,
)

# --- permissions --------------------------------------------------------------------------


class CanWriteLeads(BasePermission):
    """Reading is for every role (each sees what leads.selectors.leads_visible_to allows);
    writing leads and events is for marketing and sales managers."""

    message = "Only marketing and sales managers can change leads."

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or roles.can_write_leads(request.user)


class CanEditScoring(BasePermission):
    message = "Only marketing and sales managers can change the scoring rules."

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or roles.can_edit_scoring(request.user)


# --- documented error responses -----------------------------------------------------------

E400 = OpenApiResponse(ValidationErrorSerializer, description="Invalid fields; nothing written.")
E400_BODY = OpenApiResponse(
    ValidationErrorSerializer,
    description="Malformed JSON, wrong shape, no rows or more than 1,000 rows; nothing written.",
)
E401 = OpenApiResponse(ErrorSerializer, description="Not authenticated.")
E403 = OpenApiResponse(ErrorSerializer, description="Authenticated, but the role may not.")
E404 = OpenApiResponse(ErrorSerializer, description="No such lead, or not one the user may see.")
E409 = OpenApiResponse(
    ErrorSerializer,
    description="A request with the same Idempotency-Key is still running, or a concurrent "
    "request changed the same rows; retry.",
)
E413 = OpenApiResponse(ErrorSerializer, description="Body over the size limit; nothing written.")
E415 = OpenApiResponse(ErrorSerializer, description="The body must be application/json.")
E422 = OpenApiResponse(
    ErrorSerializer, description="The Idempotency-Key was used before with a different body."
)
AUTH_ERRORS = {401: E401, 403: E403}

IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=["true"],
    response=[200],
    description="`true` when this is the stored answer to an earlier request with the same "
    "Idempotency-Key and body (nothing was written again); absent otherwise.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (1-255 characters), e.g. a UUID. Repeating a request with "
    "the same key and body within 24 hours returns the first answer (with the header "
    "Idempotent-Replayed: true) and writes nothing again; the same key with another body gets "
    "422; while the first is still running, 409.",
)


# --- leads --------------------------------------------------------------------------------


@extend_schema(tags=["leads"])
class LeadListCreateApi(generics.ListCreateAPIView):
    """Leads the user may see (reps: the leads ever handed off to them), filtered and ordered."""

    permission_classes = [IsAuthenticated, CanWriteLeads]
    filterset_class = LeadFilter
    # Names, email, company, domain: one column with a trigram index (Lead.search_text).
    search_fields = ["search_text"]
    ordering_fields = ["score", "created_at", "updated_at", "last_engaged_at", "email", "company"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.lead_list(user=self.request.user)

    def get_serializer_class(self) -> Any:
        return LeadWriteSerializer if self.request.method == "POST" else LeadSerializer

    @extend_schema(responses={200: LeadSerializer(many=True), **AUTH_ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=LeadWriteSerializer,
        responses={201: LeadSerializer, 400: E400, **AUTH_ERRORS, 409: E409},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = LeadWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = services.lead_create(data=serializer.validated_data, actor=request.user)
        return Response(LeadSerializer(lead).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["leads"])
class LeadDetailApi(generics.RetrieveUpdateAPIView):
    permission_classes = [IsAuthenticated, CanWriteLeads]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.lead_list(user=self.request.user)

    def get_serializer_class(self) -> Any:
        return LeadWriteSerializer if self.request.method == "PATCH" else LeadSerializer

    @extend_schema(responses={200: LeadSerializer, **AUTH_ERRORS, 404: E404})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=LeadWriteSerializer,
        responses={200: LeadSerializer, 400: E400, **AUTH_ERRORS, 404: E404, 409: E409},
        description="Change writable fields. Stage, score, score_breakdown, readiness and "
        "timestamps are refused with 400 naming the field; owner follows the owner rules.",
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        lead = self.get_object()
        serializer = LeadWriteSerializer(lead, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        lead = services.lead_update(lead=lead, data=serializer.validated_data, actor=request.user)
        return Response(LeadSerializer(selectors.lead_list(user=request.user).get(pk=lead.pk)).data)


@extend_schema(tags=["events"])
class LeadEventsApi(generics.ListCreateAPIView):
    """A lead's engagement events, newest first; POST records one and rescores the lead."""

    permission_classes = [IsAuthenticated, CanWriteLeads]
    serializer_class = EventSerializer
    filter_backends: list[Any] = []

    def _lead(self) -> Lead:
        return generics.get_object_or_404(
            selectors.leads_visible_to(self.request.user), pk=self.kwargs["pk"]
        )

    def get_queryset(self) -> Any:
        return selectors.lead_events(lead=self._lead())

    @extend_schema(responses={200: EventSerializer(many=True), **AUTH_ERRORS, 404: E404})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=EventWriteSerializer,
        responses={
            201: EventRecordedSerializer,
            200: OpenApiResponse(
                EventRecordedSerializer,
                description="An event with this external_id was already recorded: unchanged.",
            ),
            400: E400,
            **AUTH_ERRORS,
            404: E404,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        lead = self._lead()
        serializer = EventWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        started = timezone.now()
        event = services.event_record(lead=lead, **serializer.validated_data)
        fresh = event.created_at >= started
        lead = selectors.lead_list(user=request.user).get(pk=lead.pk)
        return Response(
            {"event": EventSerializer(event).data, "lead": LeadSerializer(lead).data},
            status=status.HTTP_201_CREATED if fresh else status.HTTP_200_OK,
        )


# --- bulk ---------------------------------------------------------------------------------


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
        user=request.user,
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
                work=lambda now: services.leads_bulk_upsert(rows=rows, actor=request.user, now=now),
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
                    rows=rows, actor=request.user, now=now
                ),
            )


# --- scoring rules ------------------------------------------------------------------------


class _ScoringRuleViewSet(viewsets.ModelViewSet):
    """Everyone signed in reads the rules (scoring is transparent); marketing and managers
    change them. Every change bumps the rules' version and queues the rescore of all leads."""

    permission_classes = [IsAuthenticated, CanEditScoring]
    pagination_class = None
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: Any) -> None:
        rule = serializer.Meta.model(**serializer.validated_data)
        services.scoring_rule_save(rule=rule, actor=self.request.user)
        serializer.instance = rule

    def perform_update(self, serializer: Any) -> None:
        rule = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(rule, name, value)
        services.scoring_rule_save(rule=rule, actor=self.request.user)

    def perform_destroy(self, instance: Any) -> None:
        services.scoring_rule_delete(rule=instance, actor=self.request.user)


def _rule_schema(serializer: type[Any]) -> Any:
    return extend_schema_view(
        list=extend_schema(tags=["scoring"], responses={200: serializer(many=True), **AUTH_ERRORS}),
        retrieve=extend_schema(
            tags=["scoring"], responses={200: serializer, **AUTH_ERRORS, 404: E404}
        ),
        create=extend_schema(
            tags=["scoring"], responses={201: serializer, 400: E400, **AUTH_ERRORS}
        ),
        partial_update=extend_schema(
            tags=["scoring"], responses={200: serializer, 400: E400, **AUTH_ERRORS, 404: E404}
        ),
        destroy=extend_schema(tags=["scoring"], responses={204: None, **AUTH_ERRORS, 404: E404}),
    )


@_rule_schema(FitRuleSerializer)
class FitRuleViewSet(_ScoringRuleViewSet):
    queryset = FitRule.objects.all()
    serializer_class = FitRuleSerializer


@_rule_schema(EngagementRuleSerializer)
class EngagementRuleViewSet(_ScoringRuleViewSet):
    queryset = EngagementRule.objects.all()
    serializer_class = EngagementRuleSerializer


@_rule_schema(PqlCriterionSerializer)
class PqlCriterionViewSet(_ScoringRuleViewSet):
    """PQL criteria: product-usage signals that make a lead product-qualified, whatever its
    score. Changes are versioned with the scoring rules and re-evaluate every lead."""

    queryset = PqlCriterion.objects.all()
    serializer_class = PqlCriterionSerializer


@extend_schema(tags=["scoring"])
class ScoringConfigApi(generics.RetrieveUpdateAPIView):
    """The MQL threshold and the engagement half-life and window."""

    permission_classes = [IsAuthenticated, CanEditScoring]
    serializer_class = ScoringConfigSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Any:
        return selectors.scoring_config()

    @extend_schema(responses={200: ScoringConfigSerializer, **AUTH_ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(responses={200: ScoringConfigSerializer, 400: E400, **AUTH_ERRORS})
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().patch(request, *args, **kwargs)

    def perform_update(self, serializer: Any) -> None:
        config = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(config, name, value)
        services.scoring_rule_save(rule=config, actor=self.request.user)
        config.refresh_from_db()


__all__ = ["Pagination", "exception_handler"]

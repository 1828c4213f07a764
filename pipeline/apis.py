"""Opportunity API: thin views that validate the shape, call one service, serialise the result.

Who sees what comes from pipeline.selectors.opportunities_visible_to (a rep gets 404 for another
rep's opportunity); what each role may do is checked by the services (403). A closed
opportunity, a handoff that is not qualified, or a second open opportunity for a lead is a 409
naming the state (`invalid_transition`, `handoff_not_qualified`, `open_opportunity_exists`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ErrorSerializer, ValidationErrorSerializer
from core.errors import Forbidden, NotFound
from core.roles import is_manager, is_marketer
from core.types import actor_of
from handoff.selectors import handoff_for_action
from leads.apis import IDEMPOTENCY_KEY, _gc_paused, _read_json_body, _rows, _run_idempotent
from pipeline import metrics, selectors, services
from pipeline.filters import OpportunityFilter
from pipeline.models import Opportunity
from pipeline.serializers import (
    LoseRequestSerializer,
    OpenRequestSerializer,
    OpportunityDetailSerializer,
    OpportunitySerializer,
    SyncRequestSerializer,
    SyncResponseSerializer,
    UpdateRequestSerializer,
    WinRequestSerializer,
)

E400 = OpenApiResponse(
    ValidationErrorSerializer,
    description="Invalid fields (`invalid`, with `errors` per field: a negative, NaN or "
    "over-precise amount, an unknown currency, a missing reason...). Nothing is written.",
)
E401 = OpenApiResponse(ErrorSerializer, description="Not authenticated.")
E403 = OpenApiResponse(ErrorSerializer, description="`permission_denied`: the role may not.")
E404 = OpenApiResponse(ErrorSerializer, description="`not_found`: none the user may see.")
E409 = OpenApiResponse(
    ErrorSerializer,
    description="The current state refuses: `invalid_transition` (the opportunity is closed), "
    "`handoff_not_qualified`, `lead_not_sql`, `open_opportunity_exists` (also the loser of a "
    "race), `duplicate_external_id`. Nothing is written.",
)
ACTION_ERRORS = {400: E400, 401: E401, 403: E403, 404: E404, 409: E409}


def _visible(request: Request, pk: int) -> Opportunity:
    opportunity = selectors.opportunity_for_action(user=actor_of(request), pk=pk)
    if opportunity is None:
        raise NotFound(f"No opportunity #{pk} that you can see.")
    return opportunity


def _answer(opportunity: Opportunity, code: int = status.HTTP_200_OK) -> Response:
    prefetch_related_objects([opportunity], "events__actor")
    return Response(OpportunityDetailSerializer(opportunity).data, status=code)


@extend_schema(tags=["opportunities"])
class OpportunityListApi(generics.ListAPIView):
    """Opportunities the user may see: reps their own, marketers and managers all."""

    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilter
    ordering_fields = ["opened_at", "expected_close_date", "amount", "won_at", "lost_at", "id"]
    ordering = ["-opened_at", "-id"]
    search_fields = ["lead__search_text", "external_id"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, signed out
            return Opportunity.objects.none()
        return selectors.opportunity_list_rows(user=actor_of(self.request))

    @extend_schema(operation_id="opportunities_list", responses={200: OpportunitySerializer(many=True), 400: E400, 401: E401})  # fmt: skip
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["opportunities"])
class OpportunityDetailApi(APIView):
    @extend_schema(
        operation_id="opportunities_retrieve",
        responses={200: OpportunityDetailSerializer, 401: E401, 404: E404},
    )
    def get(self, request: Request, pk: int) -> Response:
        opportunity = selectors.opportunity_detail_queryset(user=actor_of(request)).filter(pk=pk)
        found = next(iter(opportunity), None)
        if found is None:
            raise NotFound(f"No opportunity #{pk} that you can see.")
        return Response(OpportunityDetailSerializer(found).data)

    @extend_schema(
        operation_id="opportunities_update",
        request=UpdateRequestSerializer,
        responses={200: OpportunityDetailSerializer, **ACTION_ERRORS},
        description="The rep (or a manager) edits an open opportunity's amount, currency or "
        "expected close date; an amount change keeps its history in the events.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        opportunity = _visible(request, pk)
        body = UpdateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.opportunity_update(
            opportunity=opportunity, actor=actor_of(request), **body.validated_data
        )
        return _answer(opportunity)


@extend_schema(tags=["opportunities"])
class OpportunityWinApi(APIView):
    @extend_schema(
        operation_id="opportunities_win",
        request=WinRequestSerializer,
        responses={200: OpportunityDetailSerializer, **ACTION_ERRORS},
        description="open -> won, at the given amount or the one on record; the lead becomes a "
        "customer.",
    )
    def post(self, request: Request, pk: int) -> Response:
        opportunity = _visible(request, pk)
        body = WinRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.opportunity_win(
            opportunity=opportunity,
            actor=actor_of(request),
            amount=body.validated_data.get("amount"),
        )
        return _answer(opportunity)


@extend_schema(tags=["opportunities"])
class OpportunityLoseApi(APIView):
    @extend_schema(
        operation_id="opportunities_lose",
        request=LoseRequestSerializer,
        responses={200: OpportunityDetailSerializer, **ACTION_ERRORS},
        description="open -> lost with a reason (GET /api/opportunities/lost-reasons/); the lead "
        "is recycled to nurture with a cooldown, or disqualified (`lead_effect`).",
    )
    def post(self, request: Request, pk: int) -> Response:
        opportunity = _visible(request, pk)
        body = LoseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        services.opportunity_lose(
            opportunity=opportunity,
            actor=actor_of(request),
            reason=data["reason"],
            note=data["note"],
            lead_effect=data["lead_effect"],
        )
        return _answer(opportunity)


@extend_schema(tags=["opportunities"])
class HandoffOpenOpportunityApi(APIView):
    @extend_schema(
        operation_id="handoffs_open_opportunity",
        request=OpenRequestSerializer,
        responses={201: OpportunityDetailSerializer, **ACTION_ERRORS},
        description="The handoff's rep (or a manager) opens an opportunity from a qualified "
        "handoff; the lead becomes an opportunity. At most one open opportunity per lead.",
    )
    def post(self, request: Request, pk: int) -> Response:
        handoff = handoff_for_action(user=actor_of(request), pk=pk)
        if handoff is None:
            raise NotFound(f"No handoff #{pk} that you can see.")
        body = OpenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        opportunity = services.opportunity_open(
            handoff=handoff,
            actor=actor_of(request),
            amount=data["amount"],
            currency=data.get("currency"),
            expected_close_date=data["expected_close_date"],
            external_id=data.get("external_id"),
        )
        return _answer(opportunity, status.HTTP_201_CREATED)


@extend_schema(tags=["opportunities"])
class OpportunitySyncApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="opportunities_sync",
        request=SyncRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: SyncResponseSerializer, **ACTION_ERRORS},
        description="Managers (the CRM's account): upsert up to 1,000 opportunities keyed by "
        "`external_id`, or by the lead's `email` on the first sync (its open opportunity, or a "
        "new one from its latest qualified handoff). Each row is answered: created, updated, "
        "unchanged or error (`http_status` 400 for a bad field, 409 `opportunity_closed` for a "
        "won or lost opportunity the row would rewrite). Error rows write nothing.",
    )
    def post(self, request: Request) -> HttpResponse:
        if not is_manager(request.user):
            raise Forbidden("Only sales managers (and the CRM's account) sync opportunities.")
        with _gc_paused():
            body, data = _read_json_body(request)
            rows = _rows(data, "opportunities")
            return _run_idempotent(
                request,
                scope="opportunities.sync",
                body=body,
                work=lambda now: services.opportunities_sync(  # type: ignore[arg-type,return-value]
                    rows=rows, actor=actor_of(request), now=now
                ),
            )


@extend_schema(tags=["metrics"])
class RevenueMetricsApi(APIView):
    @extend_schema(
        operation_id="metrics_revenue",
        parameters=metrics.PARAMETERS,
        responses={200: metrics.RevenueMetricsSerializer, 400: E400, 401: E401, 403: E403},
        description="Conversion, time-to-conversion and revenue of the handoffs promoted in the "
        "range (default: the last 4 quarters), by source, campaign, score band, team, rep and "
        "cohort week. Amounts are strings with two decimals in the company currency; other "
        "currencies are reported apart. Marketing and managers.",
    )
    def get(self, request: Request) -> Response:
        if not (is_marketer(request.user) or is_manager(request.user)):
            raise Forbidden("Revenue metrics are for marketing and sales managers.")
        filters = metrics.RevenueFilters.from_params(request.query_params)
        return Response(metrics.revenue_metrics(filters))

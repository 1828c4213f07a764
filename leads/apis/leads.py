"""The leads API: the list (filtered, searched, ordered), one lead, a lead's events."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.types import actor_of
from leads import selectors, services
from leads.apis.common import AUTH_ERRORS, E400, E404, E409, CanWriteLeads
from leads.filters import LeadFilter
from leads.models import Lead
from leads.serializers import (
    EventRecordedSerializer,
    EventSerializer,
    EventWriteSerializer,
    LeadSerializer,
    LeadWriteSerializer,
)


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
        lead = services.lead_create(data=serializer.validated_data, actor=actor_of(request))
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
        lead = services.lead_update(
            lead=lead, data=serializer.validated_data, actor=actor_of(request)
        )
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

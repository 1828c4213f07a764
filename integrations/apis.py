"""The integrations API: webhook endpoints (sales managers only) and the inbound CRM receiver."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import is_manager
from integrations import services
from integrations.crm import Unauthorized, crm_event_receive
from integrations.models import Endpoint
from integrations.serializers import (
    EndpointSerializer,
    EndpointWithSecretSerializer,
    EndpointWriteSerializer,
)
from leads.apis import AUTH_ERRORS, E400, E404, E409


class IsManager(BasePermission):
    message = "Only sales managers manage integrations."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_manager(request.user)


class _EndpointApi(generics.GenericAPIView):
    permission_classes = [IsAuthenticated, IsManager]

    def get_queryset(self) -> Any:
        return Endpoint.objects.order_by("id")


@extend_schema(tags=["webhooks"])
class EndpointListApi(_EndpointApi):
    serializer_class = EndpointSerializer
    filter_backends: list[Any] = []

    @extend_schema(responses={200: EndpointSerializer(many=True), **AUTH_ERRORS})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(
        request=EndpointWriteSerializer,
        responses={201: EndpointWithSecretSerializer, 400: E400, **AUTH_ERRORS},
        description="Create an endpoint. The answer holds its signing secret, shown this once.",
    )
    def post(self, request: Request) -> Response:
        write = EndpointWriteSerializer(data=request.data)
        write.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(data=write.validated_data, actor=request.user)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=201)


@extend_schema(tags=["webhooks"])
class EndpointDetailApi(_EndpointApi):
    serializer_class = EndpointSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(responses={200: EndpointSerializer, **AUTH_ERRORS, 404: E404})
    def get(self, request: Request, pk: int) -> Response:
        return Response(EndpointSerializer(self.get_object()).data)

    @extend_schema(
        request=EndpointWriteSerializer(partial=True),
        responses={200: EndpointSerializer, 400: E400, **AUTH_ERRORS, 404: E404},
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = self.get_object()
        write = EndpointWriteSerializer(data=request.data, partial=True)
        write.is_valid(raise_exception=True)
        services.endpoint_update(endpoint=endpoint, data=write.validated_data, actor=request.user)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None, **AUTH_ERRORS, 404: E404})
    def delete(self, request: Request, pk: int) -> Response:
        services.endpoint_delete(endpoint=self.get_object(), actor=request.user)
        return Response(status=204)


@extend_schema(tags=["webhooks"])
class EndpointRotateSecretApi(_EndpointApi):
    serializer_class = EndpointWithSecretSerializer

    @extend_schema(
        request=None,
        responses={200: EndpointWithSecretSerializer, **AUTH_ERRORS, 404: E404},
        description="Issue a new signing secret (shown once). For 24 hours every message is "
        "signed with both the new and the old secret.",
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(self.get_queryset(), pk=pk)
        services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        return Response(EndpointWithSecretSerializer(endpoint).data)


class CrmEventAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The desk's log row of this event.")
    status = serializers.ChoiceField(choices=["applied", "duplicate"])
    type = serializers.CharField()
    result = serializers.DictField()


class CrmErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


CRM_EXAMPLE = {
    "type": "contact.updated",
    "timestamp": "2026-01-05T10:00:00Z",
    "data": {"email": "ada@example.com", "changes": {"title": "CTO", "phone": "+44 20 7946 0000"}},
}


@extend_schema(tags=["integrations"])
class CrmEventApi(APIView):
    """Signed events from a CRM (Standard Webhooks: webhook-id, webhook-timestamp,
    webhook-signature over the raw body, with a CRM integration's secret)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        auth=[],  # no token: the Standard Webhooks signature is the credential
        request={"application/json": {"type": "object"}},
        examples=[OpenApiExample("contact.updated", value=CRM_EXAMPLE, request_only=True)],
        responses={
            200: CrmEventAnswerSerializer,
            400: E400,
            401: OpenApiResponse(
                CrmErrorSerializer,
                description="The signature does not verify with any integration's secret, or "
                "its timestamp is more than 5 minutes away.",
            ),
            409: E409,
        },
        description="Apply one CRM event: contact.updated changes a lead's contact fields "
        "(data: email, changes); opportunity.updated, opportunity.won and opportunity.lost "
        "upsert the opportunity with data.external_id (data: the opportunity sync's row fields "
        "without stage). A webhook-id already applied answers 200 with status duplicate and "
        "changes nothing; 409: a closed opportunity the event would rewrite, or the same "
        "webhook-id being applied by a concurrent request.",
    )
    def post(self, request: Request) -> HttpResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            received = crm_event_receive(body=request.body, headers=headers)
        except Unauthorized as exc:
            return Response({"detail": str(exc), "code": "bad_signature"}, status=401)
        event = received.event
        return Response(
            {
                "id": event.pk,
                "status": "duplicate" if received.duplicate else "applied",
                "type": event.event_type,
                "result": event.result,
            },
            status=status.HTTP_200_OK,
        )

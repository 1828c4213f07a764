"""The scoring rules API: fit rules, engagement rules, PQL criteria and the settings. Every
change bumps the rules' version and queues the rescore of all leads."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.types import actor_of
from leads import selectors, services
from leads.apis.common import AUTH_ERRORS, E400, E404, CanEditScoring
from leads.models import EngagementRule, FitRule, PqlCriterion
from leads.serializers import (
    EngagementRuleSerializer,
    FitRuleSerializer,
    PqlCriterionSerializer,
    ScoringConfigSerializer,
)


class _ScoringRuleViewSet(viewsets.ModelViewSet):
    """Everyone signed in reads the rules (scoring is transparent); marketing and managers
    change them. Every change bumps the rules' version and queues the rescore of all leads."""

    permission_classes = [IsAuthenticated, CanEditScoring]
    pagination_class = None
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer: Any) -> None:
        rule = serializer.Meta.model(**serializer.validated_data)
        services.scoring_rule_save(rule=rule, actor=actor_of(self.request))
        serializer.instance = rule

    def perform_update(self, serializer: Any) -> None:
        rule = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(rule, name, value)
        services.scoring_rule_save(rule=rule, actor=actor_of(self.request))

    def perform_destroy(self, instance: Any) -> None:
        services.scoring_rule_delete(rule=instance, actor=actor_of(self.request))


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
        services.scoring_rule_save(rule=config, actor=actor_of(self.request))
        config.refresh_from_db()

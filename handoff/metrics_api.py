"""GET /api/metrics/sla/: the managers' SLA figures (handoff.metrics), for sales managers only.

The serializers below describe the response for the OpenAPI schema; the view returns
handoff.metrics.sla_metrics's plain dicts as they are. Return reasons are the feedback app's
(GET /api/metrics/feedback/, `reason_mix`, with date_from/date_to/team over the same handoffs).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ErrorSerializer, ValidationErrorSerializer
from core.errors import Forbidden
from core.roles import is_manager
from handoff import metrics


def share_field(
    help_text: str = "A share between 0 and 1; null when there is nothing to divide.",
) -> Any:
    return serializers.FloatField(
        allow_null=True, min_value=0.0, max_value=1.0, help_text=help_text
    )


class SlaFiltersSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    team = serializers.IntegerField(allow_null=True)


class FunnelStepSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=["mql", "sal", "sql"])
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()
    rate = share_field("Share of the step before (null for the first).")


class FunnelSerializer(serializers.Serializer):
    mql = serializers.IntegerField(help_text="Handoffs promoted in the range (not reassigned).")
    sal = serializers.IntegerField(help_text="Of those, accepted by sales.")
    sql = serializers.IntegerField(help_text="Of those, qualified.")
    returned = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Still pending or waiting for marketing.")
    mql_to_sal = share_field()
    sal_to_sql = share_field()
    mql_to_sql = share_field()
    steps = FunnelStepSerializer(many=True)


class SourceFunnelSerializer(FunnelSerializer):
    source = serializers.CharField()  # type: ignore[assignment]
    label = serializers.CharField()  # type: ignore[assignment]
    steps = None  # type: ignore[assignment]


class ComplianceWeekSerializer(serializers.Serializer):
    week = serializers.CharField(help_text="ISO week, e.g. 2025-W07.")
    start = serializers.DateField(help_text="Its Monday.")
    met = serializers.IntegerField()
    missed = serializers.IntegerField()
    due = serializers.IntegerField(help_text="Handoffs whose SLA outcome is dated that week.")
    compliance = share_field("met / due; null when none was due.")


class ComplianceSerializer(serializers.Serializer):
    met = serializers.IntegerField()
    missed = serializers.IntegerField()
    due = serializers.IntegerField()
    compliance = share_field()
    this_week = ComplianceWeekSerializer()


class PercentilesSerializer(serializers.Serializer):
    median = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    basis = serializers.ChoiceField(
        choices=["all", "sample"],
        help_text="`sample`: over the latest 50,000 accepts of the range only (databases "
        "without percentile_cont; PostgreSQL reads every accept).",
    )


class AcceptTimesSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Handoffs accepted in the range.")
    wall_minutes = PercentilesSerializer()
    business_minutes = PercentilesSerializer()


class OpenHandoffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lead_id = serializers.IntegerField()
    lead = serializers.CharField()
    company = serializers.CharField(allow_blank=True)
    rep = serializers.CharField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    at_risk_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    business_minutes_left = serializers.FloatField(allow_null=True, help_text="Negative when late.")
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="In business time of the handoff's calendar, in business days from one working "
        'day on, the wall time beside when it says more: "1h 05m left", "late by 12m", '
        '"late by 33 business days (7 weeks)".'
    )


class OpenNowSerializer(serializers.Serializer):
    breached = serializers.IntegerField(help_text="Pending past the deadline, now.")
    at_risk = serializers.IntegerField(help_text="Pending past the at-risk point, not yet due.")
    breached_list = OpenHandoffSerializer(many=True, help_text="The 10 most overdue.")
    at_risk_list = OpenHandoffSerializer(many=True, help_text="The 10 due soonest.")


class GroupRowSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True, help_text="Team or user id (null: none).")
    label = serializers.CharField()  # type: ignore[assignment]
    handoffs = serializers.IntegerField(help_text="Attempts created in the range.")
    accepted = serializers.IntegerField()
    returned = serializers.IntegerField()
    met = serializers.IntegerField()
    missed = serializers.IntegerField()
    compliance = share_field()
    median_minutes_to_accept = serializers.FloatField(allow_null=True, help_text="Wall time.")
    median_business_minutes_to_accept = serializers.FloatField(allow_null=True)
    open_breaches = serializers.IntegerField()


class FunnelKindSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["mql", "pql"],
        help_text="The qualification path frozen on the handoff at promotion.",
    )
    label = serializers.CharField()  # type: ignore[assignment]
    sent = serializers.IntegerField(help_text="Handoffs promoted in the range (not reassigned).")
    accepted = serializers.IntegerField(help_text="Of those, accepted by sales (SAL).")
    qualified = serializers.IntegerField(help_text="Of those, qualified (SQL).")
    returned = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Still pending or waiting for marketing.")
    acceptance_rate = share_field("Accepted / sent.")
    sql_rate = share_field("Qualified / sent.")


class SlaMetricsSerializer(serializers.Serializer):
    filters = SlaFiltersSerializer()
    generated_at = serializers.DateTimeField()
    funnel = FunnelSerializer()
    compliance = ComplianceSerializer()
    weekly = ComplianceWeekSerializer(many=True)
    time_to_accept = AcceptTimesSerializer()
    open_now = OpenNowSerializer()
    by_team = GroupRowSerializer(many=True)
    by_rep = GroupRowSerializer(many=True)
    by_source = SourceFunnelSerializer(many=True)
    funnel_by_kind = FunnelKindSerializer(many=True)


class SlaMetricsApi(APIView):
    @extend_schema(
        tags=["metrics"],
        operation_id="metrics_sla",
        parameters=[
            OpenApiParameter(
                "date_from", OpenApiTypes.DATE, description="First day (default: 8 ISO weeks ago)."
            ),
            OpenApiParameter(
                "date_to", OpenApiTypes.DATE, description="Last day (default: today)."
            ),
            OpenApiParameter(
                "start",
                OpenApiTypes.DATE,
                deprecated=True,
                description="The older name of `date_from`, still read (`date_from` wins).",
            ),
            OpenApiParameter(
                "end",
                OpenApiTypes.DATE,
                deprecated=True,
                description="The older name of `date_to`, still read (`date_to` wins).",
            ),
            OpenApiParameter("team", OpenApiTypes.INT, description="One team's handoffs."),
        ],
        responses={
            200: SlaMetricsSerializer,
            400: OpenApiResponse(
                ValidationErrorSerializer, description="A bad filter (field named)."
            ),
            403: OpenApiResponse(
                ErrorSerializer, description="`permission_denied`: sales managers only."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        """SLA compliance (over the range, this week and by ISO week), the MQL -> SAL -> SQL
        funnel, median and p90 time to accept, open breaches and at-risk handoffs now, per-team
        and per-rep tables and conversion by source. Definitions: docs/pages.md, "Dashboard"."""
        if not is_manager(request.user):
            raise Forbidden("Only sales managers see the SLA metrics.")
        now = timezone.now()
        filters = metrics.SlaFilters.from_params(request.query_params, now=now)
        data = metrics.sla_metrics(filters, now=now)
        return Response({**data, "funnel_by_kind": metrics.funnel_by_kind(filters)})

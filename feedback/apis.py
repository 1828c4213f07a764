"""Feedback API: thin views that check the role, find the object the user may see, call one
service or selector and serialise the result. Domain errors become HTTP in
core.api.errors.exception_handler (400 bad input naming the field, 403, 404, 409 when the
current state refuses the request)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.api.errors import ErrorSerializer, ValidationErrorSerializer
from core.api.pagination import Pagination
from core.api.params import query_bool
from core.errors import Forbidden
from feedback import contradictions, selectors, services
from feedback.filters import ReturnFeedbackFilter
from feedback.models import ReturnFeedback
from feedback.serializers import (
    AcknowledgeInputSerializer,
    FeedbackMetricsSerializer,
    PreviousReturnSerializer,
    RejectionReasonSerializer,
    ReopenedLeadSerializer,
    ReopenInputSerializer,
    ResolveDisputeInputSerializer,
    ReturnedHandoffSerializer,
    ReturnFeedbackSerializer,
    ReturnInputSerializer,
)
from handoff.selectors import handoff_for_action, handoff_with_fresh_events, handoffs_visible_to
from handoff.services import lead_reopen
from leads.models import Lead, ScoringConfig, Source


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_REQUEST_BODY = ValidationErrorSerializer


def _bad_request(description: str) -> OpenApiResponse:
    """A rule's error naming its field, or the shape check's `invalid` with errors per field."""
    return OpenApiResponse(BAD_REQUEST_BODY, description=description)


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise Forbidden(message)


class ReasonListApi(generics.ListAPIView):
    """The active return reasons, in display order, for the rep's reason picker."""

    serializer_class = RejectionReasonSerializer
    pagination_class = None
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet:
        return selectors.active_reasons().select_related("contradicts_rule")


@extend_schema(
    parameters=[
        OpenApiParameter(
            "returned_after", OpenApiTypes.DATE, description="Returned on or after this day."
        ),
        OpenApiParameter(
            "returned_before", OpenApiTypes.DATE, description="Returned on or before this day."
        ),
    ],
    responses={200: ReturnFeedbackSerializer(many=True), 403: _error("No role that sees it.")},
)
class FeedbackListApi(generics.ListAPIView):
    """Marketing's "returned to marketing" queue: unacknowledged first, then the newest.

    Marketers and managers see every return; a rep sees the returns they made."""

    serializer_class = ReturnFeedbackSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ReturnFeedbackFilter
    queryset = ReturnFeedback.objects.none()  # for the schema; get_queryset() serves

    def get_queryset(self) -> QuerySet[ReturnFeedback]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        user = self.request.user
        _require(
            roles.is_marketer(user) or roles.is_manager(user) or roles.is_rep(user),
            "Only marketing and sales see returned leads.",
        )
        return selectors.feedback_queue(user=user)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "include_resolved",
            OpenApiTypes.BOOL,
            description="Also list upheld and overturned disputes (open ones first).",
        )
    ],
    responses={200: ReturnFeedbackSerializer(many=True), 403: _error("Managers only.")},
)
class DisputeListApi(generics.ListAPIView):
    """Returns that marketing disputed, for the sales managers (open ones, oldest first)."""

    serializer_class = ReturnFeedbackSerializer
    pagination_class = Pagination
    filter_backends: list[Any] = []
    queryset = ReturnFeedback.objects.none()  # for the schema; get_queryset() serves

    def get_queryset(self) -> QuerySet[ReturnFeedback]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        _require(roles.is_manager(self.request.user), "Only sales managers see disputes.")
        include = query_bool(self.request.query_params, "include_resolved")
        return selectors.feedback_disputes(include_resolved=bool(include))


class FeedbackAcknowledgeApi(APIView):
    @extend_schema(
        request=AcknowledgeInputSerializer,
        responses={
            200: ReturnFeedbackSerializer,
            400: _bad_request("Bad follow-up, or a dispute without a reply (field named)."),
            403: _error("Only marketing acknowledges."),
            404: _error("No such return."),
            409: _error("Already acknowledged (code already_acknowledged)."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """Marketing acknowledges a return, optionally replying and choosing a follow-up
        (nurture, fix_data, or dispute: sends it to the sales managers, reply required)."""
        _require(roles.is_marketer(request.user), "Only marketing acknowledges returned leads.")
        feedback = get_object_or_404(ReturnFeedback, pk=pk)
        data = AcknowledgeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.feedback_acknowledge(
            feedback=feedback,
            actor=request.user,
            reply=data.validated_data["reply"],
            follow_up=data.validated_data["follow_up"],
        )
        fresh = selectors.feedback_queryset().get(pk=pk)
        return Response(ReturnFeedbackSerializer(fresh).data)


class FeedbackResolveDisputeApi(APIView):
    @extend_schema(
        request=ResolveDisputeInputSerializer,
        responses={
            200: ReturnFeedbackSerializer,
            400: _bad_request("Missing resolution (field resolution)."),
            403: _error("Managers only."),
            404: _error("No such return."),
            409: _error("Not disputed, or already resolved."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """A sales manager upholds or overturns a disputed return. Overturned: the return no
        longer counts towards the recycle cap and the lead is reopened (stage lead, no
        cooldown) if this return is what parked it."""
        _require(roles.is_manager(request.user), "Only a sales manager resolves disputes.")
        feedback = get_object_or_404(ReturnFeedback, pk=pk)
        data = ResolveDisputeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.feedback_resolve_dispute(
            feedback=feedback,
            actor=request.user,
            upheld=data.validated_data["upheld"],
            resolution=data.validated_data["resolution"],
        )
        fresh = selectors.feedback_queryset().get(pk=pk)
        return Response(ReturnFeedbackSerializer(fresh).data)


class FeedbackMetricsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Promoted on or after."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="Promoted on or before."),
            OpenApiParameter("team", OpenApiTypes.INT),
            OpenApiParameter("source", OpenApiTypes.STR, enum=Source.values),
            OpenApiParameter("campaign", OpenApiTypes.INT),
            OpenApiParameter(
                "all_time",
                OpenApiTypes.BOOL,
                description="Without dates the range is the last 8 weeks; true counts all time.",
            ),
        ],
        responses={
            200: FeedbackMetricsSerializer,
            400: _bad_request("A bad filter value (field named)."),
            403: _error("Marketing and managers only."),
        },
    )
    def get(self, request: Request) -> Response:
        """Lead-quality analytics over the handoffs promoted in the date range: return rate,
        acceptance and reason mix by source, campaign, score band, team and rep; acceptance
        by score band; and the MQL threshold advisor."""
        _require(
            roles.is_marketer(request.user) or roles.is_manager(request.user),
            "Only marketing and sales managers see the feedback metrics.",
        )
        filters = selectors.MetricsFilters.from_params(request.query_params)
        all_time = bool(query_bool(request.query_params, "all_time"))
        if not (filters.date_from or filters.date_to or all_time):
            # Like the report page: the recent weeks by default, since all time reads every
            # handoff ever made.
            filters = dataclasses.replace(
                filters, date_from=timezone.localdate() - dt.timedelta(weeks=8)
            )
        return Response(
            {
                **selectors.feedback_metrics(filters),
                "contradicted_rules": contradictions.contradicted_rules(filters),
            }
        )


class ContradictedRuleApplySerializer(serializers.Serializer):
    rule = serializers.IntegerField(help_text="The fit rule's id (`rule_id` in the report).")
    points = serializers.IntegerField(
        min_value=-contradictions.MAX_POINTS,
        max_value=contradictions.MAX_POINTS,
        help_text="Its new points (the report's `suggested_points`, or your own figure).",
    )


class ContradictedRuleAppliedSerializer(serializers.Serializer):
    rule = serializers.IntegerField()
    name = serializers.CharField()
    points = serializers.IntegerField()
    version = serializers.IntegerField(help_text="The scoring rules' version now.")


class ContradictedRuleApplyApi(APIView):
    @extend_schema(
        tags=["feedback"],
        operation_id="feedback_contradicted_rule_apply",
        request=ContradictedRuleApplySerializer,
        responses={
            200: ContradictedRuleAppliedSerializer,
            400: _bad_request("Unknown rule (`rule`) or points out of range (`points`)."),
            403: _error("Marketing and managers only."),
        },
    )
    def post(self, request: Request) -> Response:
        """Apply a suggested points change to a rule sales contradicts: a scoring-rule change
        (the rules' version goes up, every lead is re-scored in the background)."""
        _require(
            roles.can_edit_scoring(request.user),
            "Only marketing and sales managers change the scoring rules.",
        )
        body = ContradictedRuleApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = contradictions.contradicted_rule_apply(
            rule_id=body.validated_data["rule"],
            points=body.validated_data["points"],
            actor=request.user,
        )
        version = ScoringConfig.objects.values_list("version", flat=True).first() or 1
        return Response(
            {"rule": rule.pk, "name": rule.name, "points": rule.points, "version": version}
        )


class HandoffReturnApi(APIView):
    @extend_schema(
        request=ReturnInputSerializer,
        responses={
            200: ReturnedHandoffSerializer,
            400: _bad_request("reason_required, invalid_reason or note_required, with the field."),
            403: _error("Only sales returns handoffs."),
            404: _error("No such handoff among the ones you may act on."),
            409: _error(
                "The handoff's current state refuses the return: someone else changed it first "
                "(code conflict), or it is no longer pending or accepted (code "
                "invalid_transition, with its `status`)."
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """The assigned rep (or a manager) returns a handoff to marketing with a reason code and,
        where the reason asks, a note. The lead is recycled with a cooldown, or disqualified
        (by the reason, or on the Nth return: the recycle cap)."""
        user = request.user
        _require(roles.is_rep(user) or roles.is_manager(user), "Only sales returns handoffs.")
        handoff = handoff_for_action(user=user, pk=pk, with_lead_owner=True)
        if handoff is None:
            raise Http404("No such handoff among the ones you may act on.")
        data = ReturnInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = services.feedback_return_handoff(
            handoff=handoff,
            actor=user,
            reason=data.validated_data["reason"],
            note=data.validated_data["note"],
        )
        return Response(returned_handoff_data(request, feedback))


def returned_handoff_data(request: Request, feedback: ReturnFeedback) -> dict[str, Any]:
    """The handoff as the handoff API shows it (detail with events), plus the `feedback` row.

    From the instances the return wrote: the handoff it claimed (every written column set on
    it, its lead the row it locked) with its events read again, and the feedback row it
    created. Re-reading both through their list joins cost two wide queries per return.
    """
    handoff = handoff_with_fresh_events(feedback.handoff)
    feedback.lead = handoff.lead
    return dict(
        ReturnedHandoffSerializer(
            handoff, context={"now": timezone.now(), "feedback": feedback}
        ).data
    )


class HandoffPreviousReturnsApi(APIView):
    @extend_schema(
        responses={
            200: PreviousReturnSerializer(many=True),
            404: _error("No such handoff among the ones you may see."),
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        """Earlier returns of this handoff's lead, newest first, with reason, note and what
        marketing replied: what the rep of a re-promoted lead reads before calling."""
        handoff = get_object_or_404(handoffs_visible_to(request.user), pk=pk)
        return Response(
            PreviousReturnSerializer(selectors.previous_returns(handoff=handoff), many=True).data
        )


class LeadReopenApi(APIView):
    @extend_schema(
        request=ReopenInputSerializer,
        responses={
            200: OpenApiResponse(ReopenedLeadSerializer, description="The reopened lead."),
            400: _bad_request("Malformed input."),
            403: _error("Managers only."),
            404: _error("No such lead."),
            409: _error("The lead is not disqualified (code lead_not_disqualified)."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """A sales manager reopens a disqualified lead (by a disqualifying reason or the
        recycle cap): back to stage `lead`, so marketing may promote it again. The lead keeps
        its return count, so its next return past the cap disqualifies it again."""
        _require(roles.is_manager(request.user), "Only a sales manager reopens a lead.")
        lead = get_object_or_404(Lead, pk=pk)
        data = ReopenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = lead_reopen(lead=lead, actor=request.user, reason=data.validated_data["reason"])
        return Response({"id": lead.pk, "stage": lead.stage, "return_count": lead.return_count})

"""Handoff API: thin views that validate the shape, call one service, serialise the result.

Who sees what comes from handoff.selectors.handoffs_visible_to (a rep gets 404 for another rep's
handoff); what each role may do is checked by the services (403 `permission_denied`). Domain
errors become JSON with a stable `code` in core.api.errors.exception_handler: 409 when the
handoff's current state refuses the move (`conflict` for a claim lost at the instant of writing,
`invalid_transition` with the current `status` for a move read after the winner committed), 400
for malformed input or a rule's code, 403, 404.

The return endpoint (POST /api/handoffs/{id}/return/) belongs to the feedback app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ErrorSerializer, ValidationErrorSerializer
from core.api.pagination import PeekPagination
from core.errors import Forbidden, NotFound, ValidationFailed
from core.roles import is_manager, is_marketer
from core.types import Actor, actor_of
from handoff import autopromotion, selectors, services
from handoff.filters import HandoffFilter
from handoff.models import AutoPromotionRule, Handoff, Team
from handoff.selectors import list_pages
from handoff.serializers import (
    AutoPromotionRuleSerializer,
    FirstTouchRequestSerializer,
    HandoffDetailSerializer,
    HandoffListSerializer,
    PromoteRequestSerializer,
    PromotionPreviewSerializer,
    ProvideInfoRequestSerializer,
    QualifyRequestSerializer,
    ReassignRequestSerializer,
    RequestInfoRequestSerializer,
    list_row_of_values,
)
from leads.apis import CanEditScoring
from leads.models import Lead
from leads.selectors import leads_visible_to

E400 = OpenApiResponse(
    ValidationErrorSerializer,
    description="Invalid fields (`invalid`, with `errors` per field), or a broken rule with its "
    "own code: `reason_required`, `note_too_short`, `lead_disqualified`, `lead_in_cooldown`, "
    "`no_matching_team`, `no_sla_policy`. Nothing is written.",
)
E401 = OpenApiResponse(ErrorSerializer, description="Not authenticated.")
E403 = OpenApiResponse(
    ErrorSerializer, description="`permission_denied`: the role may not do this."
)
E404 = OpenApiResponse(
    ErrorSerializer, description="`not_found`: no such handoff, or not one the user may see."
)
E409 = OpenApiResponse(
    ErrorSerializer,
    description="The current state refuses the request; nothing is written: `conflict` "
    "(someone else changed the handoff first), `invalid_transition` (the move is not allowed "
    "from the handoff's current `status`, which the body names), `first_touch_logged`, "
    "`open_handoff_exists` or `lead_with_sales` (the lead already has an open handoff).",
)
ACTION_ERRORS = {400: E400, 401: E401, 403: E403, 404: E404, 409: E409}


def _visible_handoff(request: Request, pk: int) -> Handoff:
    handoff = selectors.handoff_for_action(user=actor_of(request), pk=pk)
    if handoff is None:
        raise NotFound(f"No handoff #{pk} that you can see.")
    return handoff


def _detail(request: Request, handoff: Handoff, code: int = status.HTTP_200_OK) -> Response:
    """The answer to an action: the instance the service returned, which holds what it wrote
    (the claim sets every changed column on it; the lead is the row it locked), with its events
    read again. Re-reading the whole detail was a second 9-table join on every action; and the
    actor may no longer see the handoff (a manager reassigning it to a rep)."""
    selectors.handoff_with_fresh_events(handoff)
    body = HandoffDetailSerializer(handoff, context={"now": timezone.now()}).data
    return Response(body, status=code)


@extend_schema(tags=["handoffs"])
class HandoffListApi(generics.ListAPIView):
    """Handoffs the user may see: reps their own, marketers and managers all."""

    serializer_class = HandoffListSerializer
    pagination_class = PeekPagination
    filterset_class = HandoffFilter
    ordering_fields = ["due_at", "created_at", "at_risk_at", "score_snapshot", "id"]
    ordering = ["-created_at", "-id"]
    # The lead's names, email, company, domain (Lead.search_text, trigram-indexed).
    search_fields = ["lead__search_text"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, signed out
            return Handoff.objects.none()
        return selectors.handoff_list_rows(user=actor_of(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(operation_id="handoffs_list", responses={200: HandoffListSerializer(many=True), 400: E400, 401: E401})  # fmt: skip
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Rows as values (tuples), answered by list_row_of_values: the same rows as the
        # serializer's, without 7 model instances each (HandoffListSerializer is the schema).
        # The page's SQL is kept per user and query string after the first read (list_pages).
        key = list_pages.page_key(
            user=request.user, using=Handoff.objects.db, params=request.query_params
        )
        kept = list_pages.kept_page(key)
        source: Any
        if kept is not None:
            source = list_pages.KeptSlice(kept)
        else:
            queryset = self.filter_queryset(self.get_queryset()).values(*selectors.LIST_ROW_VALUES)
            source = queryset if key is None else list_pages.RecordedSlice(queryset)
        # The paginator slices its source once: a queryset, or a kept or recorded page read.
        paginator: Any = self.paginator
        page: list[dict[str, Any]] = paginator.paginate_queryset(source, request, view=self)
        if isinstance(source, list_pages.RecordedSlice):
            list_pages.keep_page(key, source)
        now = timezone.now()
        zone = timezone.get_current_timezone()
        rows = [list_row_of_values(values, now=now, zone=zone) for values in page or []]
        return self.get_paginated_response(rows)


@extend_schema(tags=["handoffs"])
class HandoffDetailApi(generics.RetrieveAPIView):
    serializer_class = HandoffDetailSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, signed out
            return Handoff.objects.none()
        return selectors.handoff_detail_queryset(user=actor_of(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(
        operation_id="handoffs_retrieve",
        responses={200: HandoffDetailSerializer, 401: E401, 404: E404},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class _HandoffActionApi(APIView):
    """POST /api/handoffs/{id}/<action>/: validate the body, call the service, answer with the
    handoff as it now is."""

    request_serializer: type[serializers.Serializer] | None = None
    success_status: int = status.HTTP_200_OK

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        # Visibility first: another rep's handoff is a 404 whatever the body says.
        handoff = _visible_handoff(request, pk)
        data: dict[str, Any] = {}
        if self.request_serializer is not None:
            body = self.request_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = dict(body.validated_data)
        result = self.perform(handoff, data, actor_of(request))
        return _detail(request, result, self.success_status)


def _action_schema(
    operation_id: str, request: Any, description: str, success: int = 200
) -> Callable[[Any], Any]:
    return extend_schema(
        tags=["handoffs"],
        operation_id=operation_id,
        request=request,
        responses={success: HandoffDetailSerializer, **ACTION_ERRORS},
        description=description,
    )


class HandoffAcceptApi(_HandoffActionApi):
    @_action_schema(
        "handoffs_accept",
        None,
        "The assigned rep (or a manager) accepts: pending -> accepted, the lead becomes a SAL "
        "and the first-touch clock starts. After the deadline it is recorded as late.",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        return services.handoff_accept(handoff=handoff, actor=user)


class HandoffRequestInfoApi(_HandoffActionApi):
    request_serializer = RequestInfoRequestSerializer

    @_action_schema(
        "handoffs_request_info",
        RequestInfoRequestSerializer,
        "The rep asks marketing for missing information: pending -> waiting; the accept clock "
        "pauses with the business time that was left.",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        return services.handoff_request_info(handoff=handoff, actor=user, question=data["question"])


class HandoffProvideInfoApi(_HandoffActionApi):
    request_serializer = ProvideInfoRequestSerializer

    @_action_schema(
        "handoffs_provide_info",
        ProvideInfoRequestSerializer,
        "The promoting marketer (or the lead's owner, or a manager) answers: waiting -> pending; "
        "the clock resumes with the business time that was left.",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        return services.handoff_provide_info(handoff=handoff, actor=user, answer=data["answer"])


class HandoffQualifyApi(_HandoffActionApi):
    request_serializer = QualifyRequestSerializer

    @_action_schema(
        "handoffs_qualify",
        QualifyRequestSerializer,
        "After the first conversation: accepted -> qualified with the BANT answers; the lead "
        "becomes an SQL.",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        return services.handoff_qualify(
            handoff=handoff, actor=user, bant=dict(data["bant"]), note=data["note"]
        )


class HandoffReassignApi(_HandoffActionApi):
    request_serializer = ReassignRequestSerializer
    success_status = status.HTTP_201_CREATED

    @_action_schema(
        "handoffs_reassign",
        ReassignRequestSerializer,
        "Managers only. The pending handoff becomes `reassigned` and a new attempt starts with a "
        "fresh deadline; the answer is the NEW handoff (201). Without `to_rep`, the next rep in "
        "the team's rotation; when nobody in the team can take it now, 409 `nobody_available` "
        "saying who could and from when, and nothing is changed (no attempt is created).",
        success=201,
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        return services.handoff_reassign(
            handoff=handoff, actor=user, to_rep=data["to_rep"], reason=data["reason"]
        )


class HandoffFirstTouchApi(_HandoffActionApi):
    request_serializer = FirstTouchRequestSerializer

    @_action_schema(
        "handoffs_first_touch",
        FirstTouchRequestSerializer,
        "The rep reached the lead (call, email or meeting) on an accepted handoff: stops the "
        "first-touch clock. Logged once.",
    )
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def perform(self, handoff: Handoff, data: dict[str, Any], user: Actor) -> Handoff:
        return services.handoff_log_first_touch(
            handoff=handoff, actor=user, channel=data["channel"], note=data["note"]
        )


# --- on leads ---------------------------------------------------------------------------------


def _visible_lead(request: Request, pk: int) -> Lead:
    lead = leads_visible_to(actor_of(request)).filter(pk=pk).first()
    if lead is None:
        raise NotFound(f"No lead #{pk} that you can see.")
    return lead


@extend_schema(tags=["handoffs"])
class LeadPromoteApi(APIView):
    @extend_schema(
        operation_id="leads_promote",
        request=PromoteRequestSerializer,
        responses={201: HandoffDetailSerializer, **ACTION_ERRORS},
        description="Marketing (or a manager) hands the lead to sales: it becomes an MQL, the "
        "handoff is assigned by the team's rotation and its SLA clock starts.",
    )
    def post(self, request: Request, pk: int) -> Response:
        lead = _visible_lead(request, pk)
        body = PromoteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        handoff = services.handoff_promote(
            lead=lead, actor=actor_of(request), note=body.validated_data["note"],
            team=body.validated_data["team"],
        )  # fmt: skip
        return _detail(request, handoff, status.HTTP_201_CREATED)


@extend_schema(tags=["handoffs"])
class LeadPromotionPreviewApi(APIView):
    @extend_schema(
        operation_id="leads_promotion_preview",
        parameters=[
            OpenApiParameter("team", OpenApiTypes.INT, description="Preview for this team.")
        ],
        responses={200: PromotionPreviewSerializer, 400: E400, 401: E401, 403: E403, 404: E404},
        description="What a promotion would do now (team, rep, policy, deadline), or why it is "
        "refused. Writes nothing.",
    )
    def get(self, request: Request, pk: int) -> Response:
        if not (is_marketer(request.user) or is_manager(request.user)):
            raise Forbidden("Only marketing and sales managers preview promotions.")
        lead = _visible_lead(request, pk)
        team = None
        raw_team = request.query_params.get("team")
        if raw_team:
            team = Team.objects.filter(pk=int(raw_team) if raw_team.isdigit() else 0).first()
            if team is None:
                raise ValidationFailed(f"No team {raw_team!r}.", field="team")
        preview = selectors.promotion_preview(lead=lead, team=team)
        return Response(PromotionPreviewSerializer(preview).data)


# --- auto-promotion rules ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        tags=["scoring"], responses={200: AutoPromotionRuleSerializer(many=True), 401: E401}
    ),
    retrieve=extend_schema(
        tags=["scoring"], responses={200: AutoPromotionRuleSerializer, 401: E401, 404: E404}
    ),
    create=extend_schema(
        tags=["scoring"],
        responses={201: AutoPromotionRuleSerializer, 400: E400, 401: E401, 403: E403},
    ),
    partial_update=extend_schema(
        tags=["scoring"],
        responses={200: AutoPromotionRuleSerializer, 400: E400, 401: E401, 403: E403, 404: E404},
    ),
    destroy=extend_schema(tags=["scoring"], responses={204: None, 401: E401, 403: E403, 404: E404}),
)
class AutoPromotionRuleViewSet(viewsets.ModelViewSet):
    """Auto-promotion rules: everyone signed in reads them; marketing and managers change them.
    A change applies to the next event that arrives (`active: false` stops a rule at once)."""

    permission_classes = [IsAuthenticated, CanEditScoring]
    serializer_class = AutoPromotionRuleSerializer
    queryset = AutoPromotionRule.objects.prefetch_related("campaigns", "fit_rules")
    pagination_class = None
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def _save(self, serializer: Any, rule: AutoPromotionRule) -> None:
        data = dict(serializer.validated_data)
        campaigns = data.pop("campaigns", None)
        fit_rules = data.pop("fit_rules", None)
        for name, value in data.items():
            setattr(rule, name, value)
        autopromotion.auto_promotion_rule_save(
            rule=rule, actor=actor_of(self.request), campaigns=campaigns, fit_rules=fit_rules
        )
        serializer.instance = rule

    def perform_create(self, serializer: Any) -> None:
        self._save(serializer, AutoPromotionRule())

    def perform_update(self, serializer: Any) -> None:
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance: AutoPromotionRule) -> None:
        autopromotion.auto_promotion_rule_delete(rule=instance, actor=actor_of(self.request))

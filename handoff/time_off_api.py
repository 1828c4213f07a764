"""Rep time off in the API: `GET/POST /api/time-off/`, `DELETE /api/time-off/{id}/`.

A rep lists and sets their own; a manager everyone's (`rep` names whose). Marketers have no
say in it (403). Bad ranges are a 400 naming the field (handoff.time_off).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.errors import ErrorSerializer, ValidationErrorSerializer
from core.api.pagination import Pagination
from core.errors import Forbidden, ValidationFailed
from core.roles import is_manager, is_rep
from handoff import time_off
from handoff.models import TimeOff
from handoff.serializers import UserRefSerializer

User = get_user_model()


class TimeOffSerializer(serializers.ModelSerializer):
    rep = UserRefSerializer(read_only=True)

    class Meta:
        model = TimeOff
        fields = ["id", "rep", "starts_on", "ends_on", "note", "created_at"]


class TimeOffRequestSerializer(serializers.Serializer):
    rep = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
        help_text="The rep's user id (managers); empty: yourself.",
    )
    starts_on = serializers.DateField(help_text="First day off.")
    ends_on = serializers.DateField(help_text="Last day off (included).")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


def _require_sales_side(user: Any) -> None:
    if not (is_rep(user) or is_manager(user)):
        raise Forbidden("Time off is for sales reps and their managers.")


E400 = OpenApiResponse(
    ValidationErrorSerializer,
    description="Invalid fields; `ends_on` before `starts_on`, or a range overlapping one "
    "already set (`starts_on`), each naming the field. Nothing is written.",
)
E403 = OpenApiResponse(ErrorSerializer, description="`permission_denied`: not a rep or manager.")
E404 = OpenApiResponse(ErrorSerializer, description="`not_found`: not one you can see.")


@extend_schema(tags=["time off"])
class TimeOffListApi(generics.ListCreateAPIView):
    """Time off: a rep's own, or (managers) everyone's; add a range."""

    serializer_class = TimeOffSerializer
    pagination_class = Pagination
    filter_backends: list[Any] = []
    queryset = TimeOff.objects.none()  # for the schema; get_queryset() serves

    def get_queryset(self) -> QuerySet[TimeOff]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        _require_sales_side(self.request.user)
        qs = time_off.time_off_visible_to(self.request.user)
        rep = self.request.query_params.get("rep")
        if rep:
            if not rep.isdigit():
                raise ValidationFailed("Give a user id.", field="rep")
            qs = qs.filter(rep_id=int(rep))
        return qs.order_by("-starts_on", "-id")

    @extend_schema(
        operation_id="time_off_list",
        parameters=[OpenApiParameter("rep", OpenApiTypes.INT, description="One rep's ranges.")],
        responses={200: TimeOffSerializer(many=True), 400: E400, 403: E403},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="time_off_create",
        request=TimeOffRequestSerializer,
        responses={201: TimeOffSerializer, 400: E400, 403: E403},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _require_sales_side(request.user)
        body = TimeOffRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        row = time_off.time_off_create(
            actor=request.user,
            rep=data["rep"] or request.user,
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            note=data["note"],
        )
        return Response(TimeOffSerializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["time off"])
class TimeOffDetailApi(generics.GenericAPIView):
    serializer_class = TimeOffSerializer
    queryset = TimeOff.objects.none()

    @extend_schema(
        operation_id="time_off_destroy",
        responses={204: None, 403: E403, 404: E404},
    )
    def delete(self, request: Request, pk: int) -> Response:
        _require_sales_side(request.user)
        time_off.time_off_delete(actor=request.user, time_off_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

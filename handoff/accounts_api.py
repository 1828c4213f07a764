"""Accounts in the API: `GET /api/accounts/` and `GET /api/accounts/{id}/` (its leads and its
open and past handoffs, as far as the user may see them). Accounts are matched and merged by
leads.accounts; here they are read only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers

from core.api.errors import ErrorSerializer, ValidationErrorSerializer
from core.api.pagination import Pagination
from core.errors import ValidationFailed
from handoff import selectors
from handoff.models import Handoff
from handoff.serializers import UserRefSerializer
from handoff.states import OPEN_STATUSES
from leads.accounts import accounts_visible_to
from leads.models import Account, Lead
from leads.selectors import leads_visible_to

# The detail lists at most this many leads and handoffs (newest first); `lead_count` says all.
DETAIL_ROWS = 100


class AccountSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True, allow_null=True)
    lead_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Account
        fields = ["id", "domain", "name", "owner", "lead_count", "created_at"]


class AccountLeadSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Lead
        fields = ["id", "email", "full_name", "title", "stage", "score", "ready_for_sales"]


class AccountHandoffSerializer(serializers.ModelSerializer):
    assigned_to = UserRefSerializer(read_only=True, allow_null=True)
    is_open = serializers.SerializerMethodField()

    class Meta:
        model = Handoff
        fields = ["id", "lead", "status", "is_open", "assigned_to", "created_at", "closed_at"]

    def get_is_open(self, handoff: Handoff) -> bool:
        return handoff.status in OPEN_STATUSES


class AccountDetailSerializer(AccountSerializer):
    aliases = serializers.SerializerMethodField()
    leads = serializers.SerializerMethodField()
    handoffs = serializers.SerializerMethodField()

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "aliases", "leads", "handoffs"]

    def get_aliases(self, account: Account) -> list[str]:
        return [a.domain for a in account.aliases.all()]

    @extend_schema_field(AccountLeadSerializer(many=True))
    def get_leads(self, account: Account) -> Any:
        return AccountLeadSerializer(getattr(account, "shown_leads", []), many=True).data

    @extend_schema_field(AccountHandoffSerializer(many=True))
    def get_handoffs(self, account: Account) -> Any:
        return AccountHandoffSerializer(getattr(account, "shown_handoffs", []), many=True).data


def account_detail_rows(*, account: Account, user: Any) -> Account:
    """Attach the leads and handoffs the user may see (DETAIL_ROWS newest of each)."""
    leads = list(
        leads_visible_to(user).filter(account=account).order_by("-created_at", "-id")[:DETAIL_ROWS]
    )
    handoffs = list(
        selectors.handoffs_visible_to(user)
        .filter(lead__account=account)
        .select_related("assigned_to", "lead")
        .order_by("-created_at", "-id")[:DETAIL_ROWS]
    )
    account.shown_leads = leads  # type: ignore[attr-defined]
    account.shown_handoffs = handoffs  # type: ignore[attr-defined]
    return account


@extend_schema(tags=["accounts"])
class AccountListApi(generics.ListAPIView):
    """Accounts (companies grouped by domain) with their owner rep and lead count."""

    serializer_class = AccountSerializer
    pagination_class = Pagination
    filter_backends: list[Any] = []
    queryset = Account.objects.none()

    def get_queryset(self) -> QuerySet[Account]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        qs = accounts_visible_to(self.request.user)
        search = (self.request.query_params.get("search") or "").strip().lower()
        if search:
            qs = qs.filter(domain__contains=search) | qs.filter(name__icontains=search)
        owner = self.request.query_params.get("owner")
        if owner:
            if not owner.isdigit():
                raise ValidationFailed("Give a user id.", field="owner")
            qs = qs.filter(owner_id=int(owner))
        return qs.order_by("name", "id")

    @extend_schema(
        operation_id="accounts_list",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Part of domain or name."),
            OpenApiParameter("owner", OpenApiTypes.INT, description="The owner rep's user id."),
        ],
        responses={
            200: AccountSerializer(many=True),
            400: OpenApiResponse(
                ValidationErrorSerializer, description="A bad filter (parameter named)."
            ),
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
        },
    )
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["accounts"])
class AccountDetailApi(generics.RetrieveAPIView):
    serializer_class = AccountDetailSerializer
    queryset = Account.objects.none()

    def get_queryset(self) -> QuerySet[Account]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return accounts_visible_to(self.request.user).prefetch_related(
            Prefetch("aliases", queryset=Account.objects.order_by("domain"))
        )

    def get_object(self) -> Account:
        account = super().get_object()
        return account_detail_rows(account=account, user=self.request.user)

    @extend_schema(
        operation_id="accounts_retrieve",
        responses={
            200: AccountDetailSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
            404: OpenApiResponse(ErrorSerializer, description="No such account you can see."),
        },
    )
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

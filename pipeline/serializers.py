"""Shapes of the opportunity API: what it accepts and what it answers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import BuiltOnceModelSerializer
from core.errors import ValidationFailed
from pipeline.models import Opportunity, OpportunityEvent
from pipeline.services import LEAD_EFFECTS, clean_amount, clean_currency
from pipeline.states import Stage


@extend_schema_field(
    {"anyOf": [{"type": "string", "example": "1200.00"}, {"type": "number", "minimum": 0}]}
)
class AmountField(serializers.Field):
    """A money amount as a string or a number: >= 0, at most 2 decimals, finite."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            return clean_amount(data, field=self.field_name or "amount")
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value: Any) -> Any:
        return None if value is None else f"{value:.2f}"


@extend_schema_field({"type": "string", "pattern": "^[A-Za-z]{3}$", "example": "USD"})
class CurrencyField(serializers.Field):
    def to_internal_value(self, data: Any) -> Any:
        try:
            return clean_currency(data if isinstance(data, str) else str(data))
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value: Any) -> Any:
        return value


class OpenRequestSerializer(serializers.Serializer):
    amount = AmountField()
    currency = CurrencyField(required=False, help_text="ISO 4217; default the company currency.")
    expected_close_date = serializers.DateField()
    external_id = serializers.CharField(required=False, max_length=100, allow_blank=False)


class UpdateRequestSerializer(serializers.Serializer):
    amount = AmountField(required=False)
    currency = CurrencyField(required=False)
    expected_close_date = serializers.DateField(required=False)


class WinRequestSerializer(serializers.Serializer):
    amount = AmountField(required=False, help_text="The final amount; default the one on record.")


class LoseRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=50, help_text="A lost reason's code.")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    lead_effect = serializers.ChoiceField(choices=LEAD_EFFECTS, default="recycle")


class OpportunityRef(serializers.Serializer):
    id = serializers.IntegerField()


class OpportunityUserRef(OpportunityRef):
    username = serializers.CharField()


class OpportunityLeadRef(OpportunityRef):
    email = serializers.CharField()
    name = serializers.CharField(source="full_name")
    company = serializers.CharField()


class OpportunityNamedRef(OpportunityRef):
    name = serializers.CharField()


class LostReasonRef(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    category = serializers.CharField()


class OpportunitySerializer(BuiltOnceModelSerializer):
    lead = OpportunityLeadRef()
    owner = OpportunityUserRef(allow_null=True)
    team = OpportunityNamedRef(allow_null=True)
    campaign = OpportunityNamedRef(allow_null=True)
    lost_reason = LostReasonRef(allow_null=True)
    amount = AmountField(allow_null=True)
    stage = serializers.ChoiceField(choices=Stage.choices)

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "lead",
            "handoff",
            "owner",
            "team",
            "stage",
            "amount",
            "currency",
            "expected_close_date",
            "external_id",
            "source",
            "campaign",
            "score",
            "score_band",
            "promoted_at",
            "sql_at",
            "opened_at",
            "won_at",
            "lost_at",
            "lost_reason",
            "lost_note",
        ]
        read_only_fields = fields


class OpportunityEventSerializer(BuiltOnceModelSerializer):
    actor = OpportunityUserRef(allow_null=True)
    from_stage = serializers.CharField(help_text="Empty for the opening event.")
    to_stage = serializers.CharField()
    amount_before = AmountField(allow_null=True)
    amount_after = AmountField(allow_null=True)

    class Meta:
        model = OpportunityEvent
        fields = ["id", "kind", "from_stage", "to_stage", "actor", "at", "amount_before",
                  "amount_after", "payload"]  # fmt: skip
        read_only_fields = fields


class OpportunityDetailSerializer(OpportunitySerializer):
    events = OpportunityEventSerializer(many=True)

    class Meta(OpportunitySerializer.Meta):
        fields = [*OpportunitySerializer.Meta.fields, "events"]
        read_only_fields = fields


class SyncRowSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=100)
    email = serializers.EmailField(required=False, help_text="The lead, for the first sync.")
    amount = AmountField(required=False)
    currency = CurrencyField(required=False)
    expected_close_date = serializers.DateField(required=False)
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    lost_reason = serializers.CharField(required=False, help_text="With stage lost.")
    lost_note = serializers.CharField(required=False)
    lead_effect = serializers.ChoiceField(choices=LEAD_EFFECTS, required=False)


class SyncRequestSerializer(serializers.Serializer):
    opportunities = SyncRowSerializer(many=True, help_text="1 to 1,000 rows.")


class SyncResultSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    external_id = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "error"])
    id = serializers.IntegerField(required=False)
    stage = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    http_status = serializers.IntegerField(required=False, help_text="400 or 409 for an error.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)  # type: ignore[assignment]  # fmt: skip


class SyncResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = serializers.IntegerField()  # type: ignore[assignment]
    results = SyncResultSerializer(many=True)

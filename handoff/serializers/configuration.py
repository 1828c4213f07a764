"""Configuration through the API: marketing's auto-promotion rules."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from handoff.autopromotion import rule_problem
from handoff.models import AutoPromotionRule
from leads.models import Campaign, EventKind, FitRule, Source


class AutoPromotionRuleSerializer(serializers.ModelSerializer):
    event_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices),
        allow_empty=False,
        max_length=len(EventKind.values),
        help_text="Any of these arriving triggers the rule.",
    )
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=Source.choices),
        required=False,
        max_length=len(Source.values),
        help_text="The lead's source is one of these (empty: any).",
    )
    campaigns = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Campaign.objects.all(), required=False
    )
    fit_rules = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=FitRule.objects.all(),
        required=False,
        help_text="Fit rules that must all match the lead.",
    )
    within_minutes = serializers.IntegerField(min_value=1, max_value=525_600, required=False)
    max_per_hour = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False, allow_null=True
    )
    min_score = serializers.IntegerField(
        min_value=-1_000_000, max_value=1_000_000, required=False, allow_null=True
    )
    order = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)

    class Meta:
        model = AutoPromotionRule
        fields = [
            "id", "name", "active", "event_kinds", "within_minutes", "min_score", "sources",
            "campaigns", "fit_rules", "requires_pql", "hold_outside_hours", "max_per_hour", "order",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        problem = rule_problem(
            event_kinds=attrs.get("event_kinds", getattr(current, "event_kinds", [])),
            sources=attrs.get("sources", getattr(current, "sources", [])),
        )
        if problem:
            raise serializers.ValidationError({problem[0]: [problem[1]]})
        return attrs

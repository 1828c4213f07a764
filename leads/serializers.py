"""API shapes for leads, events, bulk ingestion, scoring rules, and the error bodies."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import BuiltOnceModelSerializer
from leads.ingest import (
    EVENT_FIELDS,
    MAX_EVENTS_PER_ROW,
    PROTECTED_FIELDS,
    PROTECTED_MESSAGE,
    WRITABLE_FIELDS,
    clean_email,
    payload_problem,
)
from leads.models import (
    LEAD_STAGE_DATE_FIELDS,
    LEAD_WRITABLE_FIELDS,
    Campaign,
    EngagementEvent,
    EngagementRule,
    EventKind,
    FitRule,
    Lead,
    PqlCriterion,
    ScoringConfig,
    fit_rule_value_problem,
    pql_criterion_problem,
)

# --- JSON documents -------------------------------------------------------------------------


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JsonObjectField(serializers.JSONField):
    """A JSON object whose keys vary (a payload, a snapshot): an object in the schema, not an
    untyped value."""


@extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": {}}})
class JsonObjectListField(serializers.JSONField):
    """A JSON list of objects whose keys vary."""


# --- leads --------------------------------------------------------------------------------


class ScoreItemSerializer(serializers.Serializer):
    category = serializers.CharField(help_text="fit, engagement or intent.")
    rule = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    points = serializers.IntegerField()


class ScoreBreakdownSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    fit = serializers.IntegerField()
    engagement = serializers.IntegerField()
    intent = serializers.IntegerField()
    threshold = serializers.IntegerField()
    over_threshold = serializers.BooleanField()
    version = serializers.IntegerField(help_text="The scoring rules' version that produced it.")
    scored_at = serializers.DateTimeField()
    items = ScoreItemSerializer(many=True)


class LeadSerializer(BuiltOnceModelSerializer):
    full_name = serializers.CharField(read_only=True)
    campaign_name = serializers.CharField(
        source="campaign.name", read_only=True, default=None, allow_null=True
    )
    owner_username = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )
    score_breakdown = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            *LEAD_WRITABLE_FIELDS,
            "full_name",
            "campaign_name",
            "owner_username",
            "account",
            "pql",
            "pql_since",
            "pql_criteria",
            "stage",
            "score",
            "score_breakdown",
            "scored_at",
            "ready_for_sales",
            "ready_since",
            "ready_reason",
            "last_engaged_at",
            "last_high_intent_at",
            *LEAD_STAGE_DATE_FIELDS,
            "recycle_until",
            "return_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ScoreBreakdownSerializer(allow_null=True))
    def get_score_breakdown(self, lead: Lead) -> dict[str, Any] | None:
        return lead.score_breakdown or None


class LeadWriteSerializer(BuiltOnceModelSerializer):
    """What a client may write. Stage, score, readiness and timestamps are the system's: sending
    them is an error naming the field, never silently ignored."""

    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text="A marketer's user id. Managers may give any lead to any marketer; a marketer "
        "may take an unowned lead or let go of their own.",
    )

    class Meta:
        model = Lead
        fields = list(WRITABLE_FIELDS)
        # Uniqueness is checked by the service, on the normalised email.
        extra_kwargs: dict[str, Any] = {"email": {"validators": []}}

    def validate_email(self, value: str) -> str:
        # The bulk path's rules (leads.ingest.clean_email): a lead is keyed by a real address.
        email, problem = clean_email(value)
        if problem:
            raise serializers.ValidationError(problem)
        return email

    def validate_country(self, value: str) -> str:
        value = value.strip()
        if value and (len(value) != 2 or not value.isalpha()):
            raise serializers.ValidationError("A two-letter ISO 3166-1 country code, e.g. US.")
        return value.upper()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sent = set(self.initial_data) if isinstance(self.initial_data, dict) else set()
        errors: dict[str, list[str]] = {}
        for name in sorted(sent - set(self.fields)):
            if name in PROTECTED_FIELDS:
                errors[name] = [PROTECTED_MESSAGE.get(name, "Read-only: set by the system.")]
            else:
                errors[name] = ["Unknown field."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# --- events -------------------------------------------------------------------------------


class EventSerializer(BuiltOnceModelSerializer):
    payload = JsonObjectField(read_only=True)

    class Meta:
        model = EngagementEvent
        fields = [
            "id",
            "lead",
            "kind",
            "occurred_at",
            "payload",
            "is_high_intent",
            "external_id",
            "created_at",
        ]
        read_only_fields = fields


class EventWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    occurred_at = serializers.DateTimeField()
    payload = serializers.DictField(required=False, default=dict)
    external_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        default="",
        help_text="The sender's id for the event: a replay with the same id is not counted twice.",
    )

    def validate_payload(self, value: Any) -> Any:
        problem = payload_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - EVENT_FIELDS)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class EventRecordedSerializer(serializers.Serializer):
    event = EventSerializer()
    lead = LeadSerializer()


# --- bulk (documentation of the shape leads.ingest validates) -----------------------------


class BulkEventSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EventKind.choices)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601; without an offset means UTC.")
    payload = serializers.DictField(required=False)
    external_id = serializers.CharField(required=False, max_length=100)


class BulkLeadRowSerializer(LeadWriteSerializer):
    campaign = serializers.CharField(  # type: ignore[assignment]
        required=False, allow_null=True, help_text="A campaign id or its exact name."
    )
    owner = serializers.CharField(  # type: ignore[assignment]
        required=False, allow_null=True, help_text="A marketer's user id or username."
    )
    events = BulkEventSerializer(
        many=True, required=False, help_text=f"At most {MAX_EVENTS_PER_ROW} per lead."
    )

    class Meta(LeadWriteSerializer.Meta):
        fields = [*WRITABLE_FIELDS, "events"]


class BulkLeadsRequestSerializer(serializers.Serializer):
    leads = BulkLeadRowSerializer(many=True, help_text="1 to 1,000 leads.")


class BulkLeadResultSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Position in the request, from 0.")
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    email = serializers.CharField()
    id = serializers.IntegerField(required=False)
    score = serializers.IntegerField(required=False)
    ready_for_sales = serializers.BooleanField(required=False)
    events = serializers.IntegerField(required=False, help_text="Events recorded for the lead.")
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class BulkLeadsResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Rows not written (see their results).")  # type: ignore[assignment]
    events = serializers.IntegerField()
    duplicate_events = serializers.IntegerField()
    results = BulkLeadResultSerializer(many=True)


class BulkEventRowSerializer(BulkEventSerializer):
    lead_id = serializers.IntegerField(required=False)
    email = serializers.EmailField(required=False, help_text="Instead of lead_id.")


class BulkEventsRequestSerializer(serializers.Serializer):
    events = BulkEventRowSerializer(many=True, help_text="1 to 1,000 events.")


class BulkEventResultSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["recorded", "duplicate", "error"])
    lead_id = serializers.IntegerField(required=False)
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class BulkEventsResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = serializers.IntegerField()  # type: ignore[assignment]
    events = serializers.IntegerField()
    duplicate_events = serializers.IntegerField()
    results = BulkEventResultSerializer(many=True)


# --- scoring rules ------------------------------------------------------------------------


class FitRuleSerializer(BuiltOnceModelSerializer):
    class Meta:
        model = FitRule
        fields = ["id", "name", "field", "operator", "value", "points", "active", "order"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        field_name = attrs.get("field", getattr(current, "field", ""))
        operator = attrs.get("operator", getattr(current, "operator", ""))
        value = attrs.get("value", getattr(current, "value", None))
        problem = fit_rule_value_problem(field_name, operator, value)
        if problem:
            raise serializers.ValidationError({"value": [problem]})
        return attrs


class PqlCriterionSerializer(BuiltOnceModelSerializer):
    class Meta:
        model = PqlCriterion
        fields = ["id", "name", "kind", "min_days", "feature", "within_days", "active", "order"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance

        def value(name: str, default: Any) -> Any:
            return attrs.get(name, getattr(current, name, default))

        problem = pql_criterion_problem(
            value("kind", ""), value("min_days", 3), value("feature", ""), value("within_days", 14)
        )
        if problem:
            raise serializers.ValidationError({problem[0]: [problem[1]]})
        return attrs


class EngagementRuleSerializer(BuiltOnceModelSerializer):
    class Meta:
        model = EngagementRule
        fields = [
            "id",
            "kind",
            "points",
            "max_events",
            "intent_points",
            "intent_window_days",
            "active",
        ]


class ScoringConfigSerializer(BuiltOnceModelSerializer):
    class Meta:
        model = ScoringConfig
        fields = [
            "mql_threshold",
            "engagement_half_life_days",
            "engagement_window_days",
            "version",
            "updated_at",
        ]
        read_only_fields = ["version", "updated_at"]

    def validate_engagement_half_life_days(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError("Must be more than 0 days.")
        return value

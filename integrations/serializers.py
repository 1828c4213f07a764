from __future__ import annotations

from typing import Any

from rest_framework import serializers

from handoff.models import Team
from integrations.models import Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    secret_rotation_ends_at = serializers.DateTimeField(
        source="previous_secret_expires_at", read_only=True, allow_null=True
    )

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "kind",
            "url",
            "description",
            "event_types",
            "team",
            "active",
            "created_at",
            "updated_at",
            "failing_since",
            "disabled_at",
            "disabled_reason",
            "secret_rotation_ends_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_...). Shown once, in this answer only: store it.",
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="https URL events are POSTed to.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text='Event type names, or ["*"] for every type.',
    )
    active = serializers.BooleanField(required=False)
    kind = serializers.ChoiceField(choices=Endpoint.Kind.choices, required=False)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Chat endpoints: the team whose alerts they get (empty: every team).",
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["This field cannot be written."]})
        return super().to_internal_value(data)

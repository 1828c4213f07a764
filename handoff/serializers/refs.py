"""Small shapes other answers nest: a user, a lead, a team, a policy, an SLA clock, the rule that
promoted a handoff by itself."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.SerializerMethodField()

    # Any, not core.types.Actor: drf-spectacular resolves this method's hints at runtime, where
    # Actor names a class imported for type checkers only.
    def get_full_name(self, user: Any) -> str:
        return str(user.get_full_name())


class LeadRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    full_name = serializers.CharField()
    company = serializers.CharField()
    stage = serializers.CharField()
    score = serializers.IntegerField()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PolicyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)


class ClockSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["running", "paused", "met", "missed", "none"],
        help_text="running: counting down (or overdue); paused: waiting for marketing; "
        "met / missed: answered in time / late.",
    )
    due_at = serializers.DateTimeField(allow_null=True)
    wall_seconds_left = serializers.FloatField(
        allow_null=True, help_text="Negative when late (wall-clock time)."
    )
    business_minutes_left = serializers.FloatField(
        allow_null=True, help_text="Negative when late (business time, the calendar's hours)."
    )
    late = serializers.BooleanField()
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="In business time of the handoff's calendar, in business days from one working "
        'day on, the wall time beside when it says more: "1h 05m left", "late by 12m", '
        '"late by 33 business days (7 weeks)".'
    )


class AutoPromotionRefSerializer(serializers.Serializer):
    """The rule that promoted the handoff by itself (null: a person promoted it)."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField()

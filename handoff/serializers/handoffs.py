"""The handoff API's serializers: a list row, an event, the attempt chain and the detail. They
describe the answer (the OpenAPI schema); the answer itself is built by handoff.serializers.rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import BuiltOnceModelSerializer
from handoff.models import Handoff, HandoffEvent
from handoff.selectors import accept_clock, first_touch_clock
from handoff.serializers.refs import (
    AutoPromotionRefSerializer,
    ClockSerializer,
    LeadRefSerializer,
    PersonRefSerializer,
    PolicyRefSerializer,
    TeamRefSerializer,
    UserRefSerializer,
)
from handoff.serializers.rows import _auto_ref, chain_row, detail_row, list_row
from handoff.states import Status
from leads.serializers import JsonObjectField, JsonObjectListField


class HandoffListSerializer(BuiltOnceModelSerializer):
    lead = LeadRefSerializer(read_only=True)
    assigned_to = UserRefSerializer(read_only=True, allow_null=True)
    promoted_by = UserRefSerializer(read_only=True, allow_null=True)
    team = TeamRefSerializer(read_only=True, allow_null=True)
    policy = serializers.SerializerMethodField()
    clock = serializers.SerializerMethodField()
    auto_promotion = serializers.SerializerMethodField()

    class Meta:
        model = Handoff
        fields = [
            "id", "lead", "status", "attempt", "assigned_to", "promoted_by", "team", "policy",
            "created_at", "due_at", "at_risk_at", "at_risk_flagged_at", "breached_at",
            "responded_at", "accepted_at", "accepted_late", "paused_at",
            "first_touch_due_at", "first_touch_at", "first_touch_breached_at", "closed_at",
            "clock", "auto_promotion", "signal_at",
        ]  # fmt: skip
        read_only_fields = fields

    def _now(self) -> dt.datetime:
        return self.context.get("now") or timezone.now()

    @extend_schema_field(PolicyRefSerializer)
    def get_policy(self, handoff: Handoff) -> dict[str, Any]:
        snap = handoff.policy_snapshot or {}
        return {
            "id": handoff.policy_id,
            "name": snap.get("name", ""),
            "version": snap.get("version"),
        }

    @extend_schema_field(ClockSerializer)
    def get_clock(self, handoff: Handoff) -> dict[str, Any]:
        return accept_clock(handoff, now=self._now()).as_dict()

    @extend_schema_field(AutoPromotionRefSerializer(allow_null=True))
    def get_auto_promotion(self, handoff: Handoff) -> dict[str, Any] | None:
        return _auto_ref(handoff)

    def to_representation(self, instance: Handoff) -> dict[str, Any]:
        # A rep's queue renders 50 of these per read, the API's busiest: built directly, the
        # row costs a fifth of the field-by-field walk. The declared fields still describe it
        # (the schema) and the subclasses (the detail) still walk them; a test holds the two
        # outputs equal.
        if type(self) is not HandoffListSerializer:
            return super().to_representation(instance)
        return list_row(instance, now=self._now())


# An event's statuses: a handoff status, or "" (a promotion has no status before it).
EVENT_STATUS_CHOICES = [("", "-"), *Status.choices]


class HandoffEventSerializer(BuiltOnceModelSerializer):
    actor = UserRefSerializer(read_only=True, allow_null=True)
    from_status = serializers.ChoiceField(choices=EVENT_STATUS_CHOICES, read_only=True)
    to_status = serializers.ChoiceField(choices=EVENT_STATUS_CHOICES, read_only=True)
    payload = JsonObjectField(read_only=True)

    class Meta:
        model = HandoffEvent
        fields = ["id", "kind", "from_status", "to_status", "actor", "reason", "note", "at",
                  "payload"]  # fmt: skip
        read_only_fields = fields


class AttemptEndingSerializer(serializers.Serializer):
    how = serializers.ChoiceField(choices=["manager_reassign", "automatic_reassign"])
    at = serializers.DateTimeField()
    by = PersonRefSerializer(allow_null=True)
    reason = serializers.CharField(help_text="The reason the manager typed (empty when automatic).")


class ChainAttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attempt = serializers.IntegerField()
    rep = PersonRefSerializer(allow_null=True)
    began_at = serializers.DateTimeField()
    breached_at = serializers.DateTimeField(allow_null=True)
    escalated = serializers.CharField(allow_null=True)
    ended = AttemptEndingSerializer(allow_null=True)
    current = serializers.BooleanField()


class ChainSerializer(serializers.Serializer):
    promoted_at = serializers.DateTimeField(help_text="When marketing first promoted the lead.")
    promoted_by = PersonRefSerializer(allow_null=True)
    attempts = ChainAttemptSerializer(many=True, help_text="Oldest first, this one last.")
    this_attempt_began_at = serializers.DateTimeField()


class HandoffDetailSerializer(HandoffListSerializer):
    events = HandoffEventSerializer(many=True, read_only=True)
    first_touch_clock = serializers.SerializerMethodField()
    chain = serializers.SerializerMethodField()
    previous: serializers.PrimaryKeyRelatedField[Handoff] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    score_breakdown = JsonObjectField(
        read_only=True, help_text="The lead's score breakdown at promotion (as on the lead)."
    )
    engagement_snapshot = JsonObjectListField(read_only=True)
    history_snapshot = JsonObjectListField(
        read_only=True, help_text="Earlier handoffs of this lead and how they ended."
    )
    routing = JsonObjectField(read_only=True, help_text="Why this team and rep.")
    policy_snapshot = JsonObjectField(read_only=True, help_text="The SLA policy in force.")
    bant = JsonObjectField(
        read_only=True, help_text="budget, authority, need, timeline once qualified; else {}."
    )

    class Meta(HandoffListSerializer.Meta):
        fields = [
            *HandoffListSerializer.Meta.fields,
            "first_touch_clock", "context_note", "score_snapshot", "score_breakdown",
            "engagement_snapshot", "pql_criteria", "history_snapshot", "routing",
            "policy_snapshot", "previous",
            "remaining_business_minutes", "paused_seconds_total", "pause_count",
            "info_question", "info_answer", "first_touch_channel", "qualified_at", "bant",
            "returned_at", "return_reason_code", "return_note", "events", "chain",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(ChainSerializer)
    def get_chain(self, handoff: Handoff) -> dict[str, Any]:
        return chain_row(handoff)

    @extend_schema_field(ClockSerializer)
    def get_first_touch_clock(self, handoff: Handoff) -> dict[str, Any]:
        return first_touch_clock(handoff, now=self._now()).as_dict()

    def to_representation(self, instance: Handoff) -> dict[str, Any]:
        # Every action answers with this (accept, return...): built directly like the list
        # rows, it was the largest part of an action's time. Subclasses walk the fields.
        if type(self) is not HandoffDetailSerializer:
            return super().to_representation(instance)
        return detail_row(instance, now=self._now())

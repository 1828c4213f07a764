"""API shapes of handoffs: list rows, the detail with its events, and the action bodies."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from handoff.autopromotion import rule_problem
from handoff.models import AutoPromotionRule, Handoff, HandoffEvent, Team
from handoff.selectors import (
    accept_clock,
    accept_clock_of,
    attempt_chain,
    calendar_by_id,
    first_touch_clock,
)
from handoff.services import BANT_MAX_LENGTH, FIRST_TOUCH_CHANNELS
from handoff.states import Status
from leads.models import Campaign, EventKind, FitRule, Source
from leads.serializers import JsonObjectField, JsonObjectListField

User = get_user_model()


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.SerializerMethodField()

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


def _auto_ref(handoff: Handoff) -> dict[str, Any] | None:
    auto = handoff.auto_promotion
    return {"id": auto.get("id"), "name": str(auto.get("name", ""))} if auto else None


class HandoffListSerializer(serializers.ModelSerializer):
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

    def _now(self) -> Any:
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


def _when(value: Any) -> str | None:
    """A datetime as DRF's DateTimeField writes it (ISO 8601 in the current zone, Z for UTC)."""
    if not value:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "username": str(user.get_username()),
        "full_name": str(user.get_full_name()),
    }


def list_row(handoff: Handoff, *, now: Any) -> dict[str, Any]:
    """HandoffListSerializer's output for one handoff, field for field."""
    lead = handoff.lead
    team = handoff.team if handoff.team_id else None
    snap = handoff.policy_snapshot or {}
    return {
        "id": handoff.pk,
        "lead": {
            "id": lead.pk,
            "email": str(lead.email),
            "full_name": str(lead.full_name),
            "company": str(lead.company),
            "stage": str(lead.stage),
            "score": int(lead.score),
        },
        "status": handoff.status,
        "attempt": handoff.attempt,
        "assigned_to": _user_ref(handoff.assigned_to if handoff.assigned_to_id else None),
        "promoted_by": _user_ref(handoff.promoted_by if handoff.promoted_by_id else None),
        "team": {"id": team.pk, "name": str(team.name)} if team is not None else None,
        "policy": {
            "id": handoff.policy_id,
            "name": snap.get("name", ""),
            "version": snap.get("version"),
        },
        "created_at": _when(handoff.created_at),
        "due_at": _when(handoff.due_at),
        "at_risk_at": _when(handoff.at_risk_at),
        "at_risk_flagged_at": _when(handoff.at_risk_flagged_at),
        "breached_at": _when(handoff.breached_at),
        "responded_at": _when(handoff.responded_at),
        "accepted_at": _when(handoff.accepted_at),
        "accepted_late": handoff.accepted_late,
        "paused_at": _when(handoff.paused_at),
        "first_touch_due_at": _when(handoff.first_touch_due_at),
        "first_touch_at": _when(handoff.first_touch_at),
        "first_touch_breached_at": _when(handoff.first_touch_breached_at),
        "closed_at": _when(handoff.closed_at),
        "clock": accept_clock(handoff, now=now).as_dict(),
        "auto_promotion": _auto_ref(handoff),
        "signal_at": _when(handoff.signal_at),
    }


def _ref_of(values: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    pk = values[f"{prefix}_id"]
    if pk is None:
        return None
    username = values[f"{prefix}__username"]
    full = f"{values[f'{prefix}__first_name']} {values[f'{prefix}__last_name']}".strip()
    return {"id": pk, "username": str(username), "full_name": full}


def list_row_of_values(values: dict[str, Any], *, now: Any) -> dict[str, Any]:
    """list_row from a row read with .values(*handoff.selectors.LIST_ROW_VALUES): the same
    answer, without building model instances (the rep's queue read, on every refresh)."""
    snap = values["policy_snapshot"] or {}
    auto = values["auto_promotion"]
    if values["calendar_id"] is not None:
        calendar_key = (values["calendar_id"], values["calendar__updated_at"])
    elif values["team_id"] is not None and values["team__calendar_id"] is not None:
        calendar_key = (values["team__calendar_id"], values["team__calendar__updated_at"])
    else:
        calendar_key = (None, None)
    clock = accept_clock_of(
        status=values["status"],
        due_at=values["due_at"],
        responded_at=values["responded_at"],
        remaining=values["remaining_business_minutes"],
        calendar=lambda: calendar_by_id(*calendar_key),
        now=now,
    )
    return {
        "id": values["id"],
        "lead": {
            "id": values["lead_id"],
            "email": str(values["lead__email"]),
            "full_name": f"{values['lead__first_name']} {values['lead__last_name']}".strip(),
            "company": str(values["lead__company"]),
            "stage": str(values["lead__stage"]),
            "score": int(values["lead__score"]),
        },
        "status": values["status"],
        "attempt": values["attempt"],
        "assigned_to": _ref_of(values, "assigned_to"),
        "promoted_by": _ref_of(values, "promoted_by"),
        "team": {"id": values["team_id"], "name": str(values["team__name"])}
        if values["team_id"] is not None
        else None,
        "policy": {
            "id": values["policy_id"],
            "name": snap.get("name", ""),
            "version": snap.get("version"),
        },
        "created_at": _when(values["created_at"]),
        "due_at": _when(values["due_at"]),
        "at_risk_at": _when(values["at_risk_at"]),
        "at_risk_flagged_at": _when(values["at_risk_flagged_at"]),
        "breached_at": _when(values["breached_at"]),
        "responded_at": _when(values["responded_at"]),
        "accepted_at": _when(values["accepted_at"]),
        "accepted_late": values["accepted_late"],
        "paused_at": _when(values["paused_at"]),
        "first_touch_due_at": _when(values["first_touch_due_at"]),
        "first_touch_at": _when(values["first_touch_at"]),
        "first_touch_breached_at": _when(values["first_touch_breached_at"]),
        "closed_at": _when(values["closed_at"]),
        "clock": clock.as_dict(),
        "auto_promotion": {"id": auto.get("id"), "name": str(auto.get("name", ""))}
        if auto
        else None,
        "signal_at": _when(values["signal_at"]),
    }


# An event's statuses: a handoff status, or "" (a promotion has no status before it).
EVENT_STATUS_CHOICES = [("", "-"), *Status.choices]


class HandoffEventSerializer(serializers.ModelSerializer):
    actor = UserRefSerializer(read_only=True, allow_null=True)
    from_status = serializers.ChoiceField(choices=EVENT_STATUS_CHOICES, read_only=True)
    to_status = serializers.ChoiceField(choices=EVENT_STATUS_CHOICES, read_only=True)
    payload = JsonObjectField(read_only=True)

    class Meta:
        model = HandoffEvent
        fields = ["id", "kind", "from_status", "to_status", "actor", "reason", "note", "at",
                  "payload"]  # fmt: skip
        read_only_fields = fields


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField()


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


def chain_row(handoff: Handoff) -> dict[str, Any]:
    """The attempt chain (handoff.selectors.attempt_chain) with its times as the API writes
    them."""
    chain = attempt_chain(handoff)
    attempts = []
    for a in chain["attempts"]:
        ended = a["ended"]
        attempts.append(
            {
                **a,
                "began_at": _when(a["began_at"]),
                "breached_at": _when(a["breached_at"]),
                "ended": {**ended, "at": _when(ended["at"])} if ended else None,
            }
        )
    return {
        "promoted_at": _when(chain["promoted_at"]),
        "promoted_by": chain["promoted_by"],
        "attempts": attempts,
        "this_attempt_began_at": _when(chain["this_attempt_began_at"]),
    }


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


def _text(value: Any) -> str:
    return str(value)


def event_row(event: HandoffEvent) -> dict[str, Any]:
    """HandoffEventSerializer's output for one event, field for field."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": _user_ref(event.actor if event.actor_id else None),
        "reason": _text(event.reason),
        "note": _text(event.note),
        "at": _when(event.at),
        "payload": event.payload,
    }


def detail_row(handoff: Handoff, *, now: Any) -> dict[str, Any]:
    """HandoffDetailSerializer's output for one handoff (its events prefetched or read)."""
    remaining = handoff.remaining_business_minutes
    row = list_row(handoff, now=now)
    row.update(
        {
            "first_touch_clock": first_touch_clock(handoff, now=now).as_dict(),
            "context_note": _text(handoff.context_note),
            "score_snapshot": int(handoff.score_snapshot),
            "score_breakdown": handoff.score_breakdown,
            "engagement_snapshot": handoff.engagement_snapshot,
            "pql_criteria": handoff.pql_criteria,
            "history_snapshot": handoff.history_snapshot,
            "routing": handoff.routing,
            "policy_snapshot": handoff.policy_snapshot,
            "previous": handoff.previous_id,
            "remaining_business_minutes": float(remaining) if remaining is not None else None,
            "paused_seconds_total": int(handoff.paused_seconds_total),
            "pause_count": int(handoff.pause_count),
            "info_question": _text(handoff.info_question),
            "info_answer": _text(handoff.info_answer),
            "first_touch_channel": _text(handoff.first_touch_channel),
            "qualified_at": _when(handoff.qualified_at),
            "bant": handoff.bant,
            "returned_at": _when(handoff.returned_at),
            "return_reason_code": _text(handoff.return_reason_code),
            "return_note": _text(handoff.return_note),
            "events": [event_row(event) for event in handoff.events.all()],
            "chain": chain_row(handoff),
        }
    )
    return row


# --- request bodies ---------------------------------------------------------------------------


class PromoteRequestSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, default="",
        help_text="Context for the rep: why this lead, why now. Required: at least 20 "
        "characters after trimming (400 `note_too_short` naming `note`).",
    )  # fmt: skip
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(active=True),
        required=False,
        allow_null=True,
        default=None,
        help_text="Send to this team instead of the matching rules.",
    )


class RequestInfoRequestSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=5000, help_text="What marketing should add.")


class ProvideInfoRequestSerializer(serializers.Serializer):
    answer = serializers.CharField(max_length=5000)


class BantSerializer(serializers.Serializer):
    budget = serializers.CharField(max_length=BANT_MAX_LENGTH)
    authority = serializers.CharField(max_length=BANT_MAX_LENGTH)
    need = serializers.CharField(max_length=BANT_MAX_LENGTH)
    timeline = serializers.CharField(max_length=BANT_MAX_LENGTH)


class QualifyRequestSerializer(serializers.Serializer):
    bant = BantSerializer()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReassignRequestSerializer(serializers.Serializer):
    to_rep = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
        help_text="A rep's user id; empty: the next rep in the team's rotation.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class FirstTouchRequestSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=list(FIRST_TOUCH_CHANNELS))
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


# --- promotion preview ------------------------------------------------------------------------


class PreviewBlockSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class SkippedRepSerializer(serializers.Serializer):
    rep_id = serializers.IntegerField()
    username = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["excluded", "inactive", "time_off", "away", "at_capacity", "off_hours", "no_turns"]
    )
    detail = serializers.CharField()


class PreviewPolicySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    accept_within_minutes = serializers.IntegerField()
    first_touch_within_minutes = serializers.IntegerField()


class PreviewCalendarSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    timezone = serializers.CharField()


class PreviewRepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class PreviewAccountHandoffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lead_id = serializers.IntegerField()
    assigned_to = PreviewRepSerializer(allow_null=True)


class PreviewAccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    domain = serializers.CharField()
    owner_id = serializers.IntegerField(allow_null=True)
    owner = PreviewRepSerializer(allow_null=True)
    open_handoffs = PreviewAccountHandoffSerializer(
        many=True, help_text="Open handoffs of the account's other leads."
    )


class PreviewAccountOwnerSerializer(serializers.Serializer):
    rep_id = serializers.IntegerField()
    username = serializers.CharField(required=False)
    outcome = serializers.CharField(
        help_text="`chosen`, `not_in_team`, or why the owner was passed over (`time_off`, ...)."
    )
    detail = serializers.CharField()


class PromotionPreviewSerializer(serializers.Serializer):
    eligible = serializers.BooleanField()
    block = PreviewBlockSerializer(allow_null=True)
    team = TeamRefSerializer(allow_null=True)
    rule = serializers.CharField()
    policy = PreviewPolicySerializer(allow_null=True)
    rep = PreviewRepSerializer(allow_null=True)
    skipped = SkippedRepSerializer(many=True)
    queue = serializers.ChoiceField(choices=["rep", "manager"], allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    at_risk_at = serializers.DateTimeField(allow_null=True)
    calendar = PreviewCalendarSerializer(allow_null=True)
    account = PreviewAccountSerializer(
        allow_null=True, help_text="The lead's account: its owner and open handoffs."
    )
    account_owner = PreviewAccountOwnerSerializer(
        allow_null=True, help_text="Account-based routing, when the team uses it."
    )


# --- auto-promotion rules ---------------------------------------------------------------------


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

"""Shapes of the feedback API: input validation (shape only; rules live in the services) and
output, including the metrics payload (documented for the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import BuiltOnceModelSerializer
from feedback.models import RejectionReason, ReturnFeedback
from handoff.forms import TEXT_MAX  # the pages' bound on free text, the same for the API
from handoff.models import Handoff
from handoff.serializers import (
    HandoffDetailSerializer,
    TeamRefSerializer,
    UserRefSerializer,
    detail_row,
)


class RejectionReasonSerializer(BuiltOnceModelSerializer):
    category_label = serializers.CharField(source="get_category_display", read_only=True)
    effect_label = serializers.CharField(source="get_effect_display", read_only=True)
    contradicts_rule: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )

    class Meta:
        model = RejectionReason
        fields = [
            "code",
            "label",
            "category",
            "category_label",
            "note_required",
            "effect",
            "effect_label",
            "recycle_days",
            "contradicts_rule",
            "display_order",
        ]


class ReasonRefSerializer(BuiltOnceModelSerializer):
    class Meta:
        model = RejectionReason
        fields = ["code", "label", "category"]


class CampaignRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class FeedbackLeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    name = serializers.CharField(source="full_name")
    company = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]
    campaign = serializers.SerializerMethodField()
    stage = serializers.CharField()
    return_count = serializers.IntegerField()
    recycle_until = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(CampaignRefSerializer(allow_null=True))
    def get_campaign(self, lead: Any) -> dict[str, Any] | None:
        if lead.campaign_id is None:
            return None
        return {"id": lead.campaign_id, "name": lead.campaign.name}


class FeedbackHandoffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attempt = serializers.IntegerField()
    status = serializers.CharField()
    score_snapshot = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    team = serializers.SerializerMethodField()

    @extend_schema_field(TeamRefSerializer(allow_null=True))
    def get_team(self, handoff: Any) -> dict[str, Any] | None:
        if handoff.team_id is None:
            return None
        return {"id": handoff.team_id, "name": handoff.team.name}


class ReturnFeedbackSerializer(BuiltOnceModelSerializer):
    """One return as marketing's queue shows it. Needs feedback_queryset()'s select_related."""

    reason = ReasonRefSerializer(read_only=True)
    lead = FeedbackLeadSerializer(read_only=True)
    handoff = FeedbackHandoffSerializer(read_only=True)
    returned_by = UserRefSerializer(read_only=True, allow_null=True)
    acknowledged_by = UserRefSerializer(read_only=True, allow_null=True)
    dispute_resolved_by = UserRefSerializer(read_only=True, allow_null=True)
    acknowledged = serializers.SerializerMethodField()

    class Meta:
        model = ReturnFeedback
        fields = [
            "id",
            "handoff",
            "lead",
            "reason",
            "note",
            "returned_by",
            "returned_at",
            "lead_effect",
            "effect_note",
            "recycle_until",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "reply",
            "follow_up",
            "dispute_status",
            "dispute_resolved_by",
            "dispute_resolved_at",
            "dispute_resolution",
        ]
        read_only_fields = fields

    def get_acknowledged(self, obj: ReturnFeedback) -> bool:
        return obj.acknowledged_at is not None


class ReturnInputSerializer(serializers.Serializer):
    # Optional at the shape level so that the service answers with reason_required /
    # note_required / invalid_reason and the field, as every client expects.
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=50,
        help_text="An active reason's code.",
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=TEXT_MAX,
        help_text="Required when the reason says note_required.",
    )


class AcknowledgeInputSerializer(serializers.Serializer):
    reply = serializers.CharField(required=False, allow_blank=True, default="", max_length=TEXT_MAX)
    follow_up = serializers.ChoiceField(
        choices=ReturnFeedback.FollowUp.choices, required=False, allow_blank=True, default=""
    )


class ResolveDisputeInputSerializer(serializers.Serializer):
    upheld = serializers.BooleanField(
        help_text="true: the return stands; false: overturned, the lead is reopened."
    )
    resolution = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=TEXT_MAX
    )


class ReopenInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=TEXT_MAX,
        help_text="Why (kept in the stage history).",
    )


class ReopenedLeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    stage = serializers.CharField()
    return_count = serializers.IntegerField()


class ReturnedHandoffSerializer(HandoffDetailSerializer):
    """The handoff after its return, in the handoff API's detail shape, with the feedback row
    it produced (`context["feedback"]`)."""

    feedback = serializers.SerializerMethodField()

    class Meta(HandoffDetailSerializer.Meta):
        fields = [*HandoffDetailSerializer.Meta.fields, "feedback"]
        read_only_fields = fields

    @extend_schema_field(ReturnFeedbackSerializer(allow_null=True))
    def get_feedback(self, obj: Handoff) -> dict[str, Any] | None:
        feedback = self.context.get("feedback")
        return ReturnFeedbackSerializer(feedback).data if feedback else None

    def to_representation(self, instance: Handoff) -> dict[str, Any]:
        # The answer to every return: the detail built directly (handoff.serializers), then
        # the feedback row.
        row = detail_row(instance, now=self._now())
        row["feedback"] = self.get_feedback(instance)
        return row


class PreviousReturnSerializer(serializers.Serializer):
    feedback_id = serializers.IntegerField()
    handoff_id = serializers.IntegerField()
    attempt = serializers.IntegerField()
    promoted_at = serializers.DateTimeField()
    returned_at = serializers.DateTimeField()
    returned_by = serializers.CharField()
    reason = ReasonRefSerializer()
    note = serializers.CharField()
    lead_effect = serializers.CharField()
    effect_note = serializers.CharField()
    recycle_until = serializers.DateTimeField(allow_null=True)
    reply = serializers.CharField()
    dispute_status = serializers.CharField()


# --- the metrics payload (documentation of feedback.selectors.feedback_metrics) ------------


class ReasonShareSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    category = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Of the returns in this group.")


class CategoryShareSerializer(serializers.Serializer):
    category = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)


class OutcomeCountsSerializer(serializers.Serializer):
    handoffs = serializers.IntegerField(help_text="Handoffs promoted (reassigned ones excluded).")
    open = serializers.IntegerField(help_text="Pending or waiting: no outcome yet.")
    decided = serializers.IntegerField(help_text="accepted + returned")
    accepted = serializers.IntegerField(help_text="Accepted or qualified.")
    qualified = serializers.IntegerField(help_text="Qualified as SQL.")
    returned = serializers.IntegerField()
    return_rate = serializers.FloatField(allow_null=True, help_text="returned / decided")
    acceptance_rate = serializers.FloatField(allow_null=True, help_text="accepted / decided")
    sql_rate = serializers.FloatField(allow_null=True, help_text="qualified / decided")


class OutcomeTotalsSerializer(OutcomeCountsSerializer):
    with_feedback = serializers.IntegerField()
    unacknowledged = serializers.IntegerField()
    disputes_open = serializers.IntegerField()
    overturned = serializers.IntegerField()
    disqualified = serializers.IntegerField()


@extend_schema_field({"oneOf": [{"type": "string", "nullable": True}, {"type": "integer"}]})
class GroupKeyField(serializers.JSONField):
    """A group's key: a source code (a string) or an id or band index (an integer)."""


class OutcomeRowSerializer(OutcomeCountsSerializer):
    key = GroupKeyField(help_text="Source code, campaign/team/rep id (null: none) or band index.")
    label = serializers.CharField()  # type: ignore[assignment]
    min_score = serializers.IntegerField(required=False, help_text="Score bands only.")
    reasons = ReasonShareSerializer(many=True)


class BandAcceptanceSerializer(OutcomeCountsSerializer):
    key = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    min_score = serializers.IntegerField()


class ThresholdRowSerializer(serializers.Serializer):
    threshold = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Handoffs with score_snapshot >= threshold.")
    share_of_sent = serializers.FloatField(allow_null=True)
    decided = serializers.IntegerField()
    accepted = serializers.IntegerField()
    qualified = serializers.IntegerField()
    returned = serializers.IntegerField()
    acceptance_rate = serializers.FloatField(allow_null=True)
    sql_rate = serializers.FloatField(allow_null=True)
    meets_target = serializers.BooleanField()


class ThresholdAdvisorSerializer(serializers.Serializer):
    target_acceptance = serializers.FloatField()
    min_decided = serializers.IntegerField()
    current_threshold = serializers.IntegerField(allow_null=True)
    suggested_threshold = serializers.IntegerField(allow_null=True)
    rule = serializers.CharField()
    handoffs = serializers.IntegerField()
    rows = ThresholdRowSerializer(many=True)


class MetricsFiltersSerializer(serializers.Serializer):
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    team = serializers.IntegerField(allow_null=True)
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    campaign = serializers.IntegerField(allow_null=True)


class BandSerializer(serializers.Serializer):
    key = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    min_score = serializers.IntegerField()


class ContradictedRuleSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    rule = serializers.CharField(help_text="The fit rule's name.")
    points = serializers.IntegerField(help_text="Its points today.")
    active = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Reason codes.")
    returns = serializers.IntegerField(help_text="Returns with such a reason of leads it scored.")
    promoted = serializers.IntegerField(help_text="Handoffs of leads it scored.")
    share = serializers.FloatField(allow_null=True)
    won = serializers.IntegerField(help_text="Won deals (company currency) of handoffs it scored.")
    won_amount = serializers.CharField(
        help_text="Their won revenue in the company currency, two decimals."
    )
    suggested_points = serializers.IntegerField(allow_null=True)
    change = serializers.IntegerField(allow_null=True)


class FeedbackMetricsSerializer(serializers.Serializer):
    filters = MetricsFiltersSerializer()
    bands = BandSerializer(many=True)
    totals = OutcomeTotalsSerializer()
    reason_mix = ReasonShareSerializer(many=True)
    category_mix = CategoryShareSerializer(many=True)
    by_source = OutcomeRowSerializer(many=True)
    by_campaign = OutcomeRowSerializer(many=True)
    by_score_band = OutcomeRowSerializer(many=True)
    by_team = OutcomeRowSerializer(many=True)
    by_rep = OutcomeRowSerializer(many=True)
    by_qualification = OutcomeRowSerializer(
        many=True, help_text="MQLs (by score) and PQLs (product usage) side by side."
    )
    contradicted_rules = ContradictedRuleSerializer(
        many=True, help_text="Fit rules sales contradicts, most contradicted first."
    )
    acceptance_by_score_band = BandAcceptanceSerializer(many=True)
    threshold_advisor = ThresholdAdvisorSerializer()

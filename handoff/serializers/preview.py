"""The promotion preview's answer: eligibility, team, rule, policy, rep (and who was skipped),
deadline, calendar, the lead's account and its owner."""

from __future__ import annotations

from rest_framework import serializers

from handoff.serializers.refs import TeamRefSerializer


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

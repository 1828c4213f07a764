"""Request bodies of the handoff actions: promote, ask and answer a question, qualify,
reassign, log the first touch."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from handoff.models import Team
from handoff.services import BANT_MAX_LENGTH, FIRST_TOUCH_CHANNELS

User = get_user_model()


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

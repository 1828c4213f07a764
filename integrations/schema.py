"""The events the desk sends, documented as the OpenAPI document's `webhooks` section.

Every type has the envelope {"type", "timestamp", "data"}; `data` describes one handoff (ids,
status, deadlines, rep and team) and its lead (id, name, company and email, no more), plus a few
fields of the event's own. Listed in settings (SPECTACULAR_SETTINGS["WEBHOOKS"]).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers


class WebhookHandoffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    attempt = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True)
    at_risk_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    responded_at = serializers.DateTimeField(allow_null=True)
    first_touch_due_at = serializers.DateTimeField(allow_null=True)


class WebhookLeadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    company = serializers.CharField()
    email = serializers.EmailField()


class WebhookUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class WebhookTeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class WebhookFeedbackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    follow_up = serializers.CharField(help_text='"" or "dispute", "reopen"...')
    acknowledged_by = WebhookUserSerializer()


class WebhookOpportunitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    stage = serializers.CharField(help_text="open, won or lost.")
    amount = serializers.CharField(allow_null=True, help_text="A decimal, as a string.")
    currency = serializers.CharField(help_text="ISO 4217.")
    expected_close_date = serializers.DateField(allow_null=True)
    external_id = serializers.CharField(allow_null=True, help_text="The CRM's id.")
    lost_reason = serializers.CharField(allow_null=True, help_text="The lost reason's code.")


def _extra(type_: str) -> dict[str, serializers.Field]:
    if type_ in ("handoff.assigned", "handoff.unassigned"):
        return {"why": serializers.CharField(help_text="The routing rule that chose (or not).")}
    if type_ == "handoff.accepted":
        return {"late": serializers.BooleanField(help_text="Accepted after the deadline.")}
    if type_ == "handoff.returned":
        return {
            "reason": serializers.CharField(help_text="The return reason's code."),
            "lead_effect": serializers.CharField(help_text="recycle or disqualify."),
        }
    if type_ == "handoff.reassigned":
        return {
            "automatic": serializers.BooleanField(help_text="By the SLA sweep on breach."),
            "next_handoff_id": serializers.IntegerField(help_text="The new attempt's handoff."),
        }
    if type_.startswith("feedback."):
        return {"feedback": WebhookFeedbackSerializer()}
    return {}


DESCRIPTIONS = {
    "lead.promoted": "Marketing promoted a lead to sales (a handoff was created).",
    "handoff.assigned": "A handoff was assigned to a rep (at promotion or reassignment).",
    "handoff.unassigned": "Nobody could take a handoff: it waits in the manager's queue.",
    "handoff.accepted": "The rep accepted the lead (it is a SAL).",
    "handoff.info_requested": "The rep asked marketing for information; the SLA clock paused.",
    "handoff.info_provided": "Marketing answered; the SLA clock resumed.",
    "handoff.returned": "Sales returned the lead with a reason.",
    "handoff.qualified": "The rep qualified the lead (it is an SQL).",
    "handoff.at_risk": "A handoff's SLA is about to run out.",
    "handoff.breached": "A handoff's SLA deadline passed without an answer.",
    "handoff.reassigned": "A pending handoff was given to another rep (a new attempt started).",
    "feedback.acknowledged": "Marketing acknowledged a returned lead.",
    "feedback.disputed": "Marketing disputed a return; a sales manager settles it.",
    "opportunity.opened": "An opportunity was opened from a qualified handoff.",
    "opportunity.updated": "An open opportunity's amount, currency or close date changed.",
    "opportunity.won": "An opportunity was won (the lead is a customer).",
    "opportunity.lost": "An opportunity was lost, with a reason.",
}


def _name(type_: str) -> str:
    return "".join(part.capitalize() for part in type_.replace(".", "_").split("_"))


def _event_serializer(type_: str) -> type[serializers.Serializer]:
    data_fields: dict[str, Any]
    if type_.startswith("opportunity."):
        data_fields = {
            "opportunity": WebhookOpportunitySerializer(),
            "handoff_id": serializers.IntegerField(help_text="The qualified handoff it grew from."),
            "lead": WebhookLeadSerializer(),
        }
    else:
        data_fields = {
            "handoff": WebhookHandoffSerializer(),
            "lead": WebhookLeadSerializer(),
            "rep": WebhookUserSerializer(allow_null=True),
            "team": WebhookTeamSerializer(allow_null=True),
            **_extra(type_),
        }
    data = type(f"{_name(type_)}DataSerializer", (serializers.Serializer,), data_fields)
    fields: dict[str, Any] = {
        "type": serializers.ChoiceField(choices=[type_]),
        "timestamp": serializers.DateTimeField(help_text="When the change happened (UTC)."),
        "data": data(),
    }
    return type(f"{_name(type_)}EventSerializer", (serializers.Serializer,), fields)


def _webhook(type_: str) -> OpenApiWebhook:
    return OpenApiWebhook(
        name=type_,
        decorator=extend_schema(
            summary=type_,
            description=DESCRIPTIONS[type_]
            + " Signed with the headers webhook-id (the same on every retry: deduplicate on "
            "it), webhook-timestamp (Unix seconds of this attempt) and webhook-signature "
            "(space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, two during a "
            "secret rotation), per Standard Webhooks 1.0. Any 2xx answer acknowledges it; 410 "
            "disables the endpoint; anything else is retried with backoff for about 3 days.",
            request=_event_serializer(type_),
            responses={200: OpenApiResponse(description="Received.")},
        ),
    )


# One attribute per type: drf-spectacular's WEBHOOKS setting lists import paths.
LEAD_PROMOTED = _webhook("lead.promoted")
HANDOFF_ASSIGNED = _webhook("handoff.assigned")
HANDOFF_UNASSIGNED = _webhook("handoff.unassigned")
HANDOFF_ACCEPTED = _webhook("handoff.accepted")
HANDOFF_INFO_REQUESTED = _webhook("handoff.info_requested")
HANDOFF_INFO_PROVIDED = _webhook("handoff.info_provided")
HANDOFF_RETURNED = _webhook("handoff.returned")
HANDOFF_QUALIFIED = _webhook("handoff.qualified")
HANDOFF_AT_RISK = _webhook("handoff.at_risk")
HANDOFF_BREACHED = _webhook("handoff.breached")
HANDOFF_REASSIGNED = _webhook("handoff.reassigned")
FEEDBACK_ACKNOWLEDGED = _webhook("feedback.acknowledged")
FEEDBACK_DISPUTED = _webhook("feedback.disputed")
OPPORTUNITY_OPENED = _webhook("opportunity.opened")
OPPORTUNITY_UPDATED = _webhook("opportunity.updated")
OPPORTUNITY_WON = _webhook("opportunity.won")
OPPORTUNITY_LOST = _webhook("opportunity.lost")

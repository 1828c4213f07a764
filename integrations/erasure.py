"""Erasing a person's data, the integrations part: the bodies of the webhook and chat messages
about the lead (sent or not: a replay must not send them again), the delivery log's excerpts
of what receivers answered, and the CRM events about the lead. Called by config.erasure inside
its transaction."""

from __future__ import annotations

import datetime as dt
import json

from integrations.models import Attempt, InboundEvent, Message
from leads.erasure import PersonalData, scrub_json, scrub_text
from leads.models import Lead


def webhooks_erase_lead(*, lead: Lead, data: PersonalData, now: dt.datetime) -> dict[str, int]:
    pattern = data.pattern()
    messages = list(Message.objects.filter(lead_id=lead.pk).only("id", "body"))
    for message in messages:
        try:
            body = json.loads(message.body)
        except ValueError:
            message.body = scrub_text(message.body, pattern)
        else:
            body = scrub_json(body, pattern)
            message.body = json.dumps(body, separators=(",", ":"), sort_keys=True)
    Message.objects.bulk_update(messages, ["body"], batch_size=500)
    attempts = list(
        Attempt.objects.filter(message__lead_id=lead.pk).only("id", "response_excerpt", "error")
    )
    for attempt in attempts:
        attempt.response_excerpt = scrub_text(attempt.response_excerpt, pattern)
        attempt.error = scrub_text(attempt.error, pattern)
    Attempt.objects.bulk_update(attempts, ["response_excerpt", "error"], batch_size=500)
    inbound = list(InboundEvent.objects.filter(lead_id=lead.pk).only("id", "payload", "error"))
    for event in inbound:
        event.payload = scrub_json(event.payload, pattern)
        event.error = scrub_text(event.error, pattern)
    InboundEvent.objects.bulk_update(inbound, ["payload", "error"], batch_size=500)
    return {
        "integrations.message": len(messages),
        "integrations.attempt": len(attempts),
        "integrations.inboundevent": len(inbound),
    }

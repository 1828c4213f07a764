"""Erasing a person's data, the pipeline part: the notes on the lead's lost deals and in their
events. Amounts, stages, dates and the frozen attribution stay (the revenue reports count them).
Called by config.erasure inside its transaction."""

from __future__ import annotations

import datetime as dt

from handoff.erasure import audit_unlocked
from leads.erasure import PersonalData, wipe
from leads.models import Lead
from pipeline.models import Opportunity, OpportunityEvent


def pipeline_erase_lead(*, lead: Lead, data: PersonalData, now: dt.datetime) -> dict[str, int]:
    opportunities = list(Opportunity.objects.filter(lead=lead).order_by("pk"))
    for row in opportunities:
        Opportunity.objects.filter(pk=row.pk).update(lost_note=wipe(row.lost_note))
    events = 0
    # Opportunity events are append-only (migration 0002): only the erasure may scrub a note.
    with audit_unlocked():
        for event in OpportunityEvent.objects.filter(opportunity__lead=lead, kind="lost"):
            if event.payload.get("note"):
                OpportunityEvent.objects.filter(pk=event.pk).update(
                    payload={**event.payload, "note": wipe(event.payload["note"])}
                )
                events += 1
    return {"pipeline.opportunity": len(opportunities), "pipeline.opportunityevent": events}

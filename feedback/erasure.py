"""Erasing a person's data, the feedback part: the return notes, marketing's replies and the
dispute resolutions about the lead. The reasons, effects and dates stay (the reports count
them). Called by config.erasure inside its transaction."""

from __future__ import annotations

import datetime as dt

from feedback.models import ReturnFeedback
from leads.erasure import PersonalData, scrub_text, wipe
from leads.models import Lead


def feedback_erase_lead(*, lead: Lead, data: PersonalData, now: dt.datetime) -> dict[str, int]:
    pattern = data.pattern()
    rows = list(ReturnFeedback.objects.filter(lead=lead).order_by("pk"))
    for row in rows:
        ReturnFeedback.objects.filter(pk=row.pk).update(
            note=wipe(row.note),
            reply=wipe(row.reply),
            dispute_resolution=wipe(row.dispute_resolution),
            effect_note=scrub_text(row.effect_note, pattern),
        )
    return {"feedback.returnfeedback": len(rows)}

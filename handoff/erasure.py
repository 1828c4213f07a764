"""Erasing a person's data, the handoff part: the handoffs' packets, notes, questions and
answers, their events' free text, and the notifications about them. Called by config.erasure
inside its transaction, after it locked the lead's handoffs (then the lead: the usual order).

Handoff events are append-only (migration 0006: a trigger refuses UPDATE and DELETE). Only
`audit_unlocked()`, used here and nowhere else, lets the free text of events be rewritten, for
the rest of the erasure's transaction; the trigger still refuses any change to what happened,
when, by whom, and any DELETE.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.models import Q

from handoff.models import Handoff, HandoffEvent, Notification
from leads.erasure import ERASED, PersonalData, scrub_json, scrub_text, wipe
from leads.models import Lead

# Free text a person wrote about the lead, inside JSON: the whole value goes.
FREE_TEXT_KEYS = frozenset(
    {"bant", "question", "answer", "note", "context_note", "return_note", "reply", "payload"}
)
NOTIFICATION_ERASED = (
    "[erased: this message was about a lead whose personal data was erased on request]"
)


@contextmanager
def audit_unlocked() -> Iterator[None]:
    """Let the erasure scrub event rows until the end of its transaction (see the module)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_unlocked() must run inside the erasure's transaction")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL app.erasure = 'on'")
        elif connection.vendor == "sqlite":
            cursor.execute("INSERT INTO handoff_audit_unlock (id) VALUES (1)")
    yield
    # Reached only when the block succeeded (an error rolls the switch back with the rest); an
    # enclosing transaction, e.g. a test's, must not keep it.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL app.erasure = 'off'")
        elif connection.vendor == "sqlite":
            cursor.execute("DELETE FROM handoff_audit_unlock")


def handoffs_erase_lead(*, lead: Lead, data: PersonalData, now: dt.datetime) -> dict[str, int]:
    """Remove the person's data from the handoff app's tables. Counts by table."""
    pattern = data.pattern()
    handoffs = list(Handoff.objects.filter(lead=lead).order_by("pk"))
    for handoff in handoffs:
        Handoff.objects.filter(pk=handoff.pk).update(
            context_note=wipe(handoff.context_note),
            info_question=wipe(handoff.info_question),
            info_answer=wipe(handoff.info_answer),
            return_note=wipe(handoff.return_note),
            bant=scrub_json(handoff.bant, pattern, wipe=frozenset(handoff.bant)),
            # What the lead did, as promoted: kinds and moments stay, payloads go.
            engagement_snapshot=[
                {**scrub_json(item, pattern), "payload": {}}
                for item in (handoff.engagement_snapshot or [])
            ],
            history_snapshot=scrub_json(handoff.history_snapshot, pattern, wipe=FREE_TEXT_KEYS),
            score_breakdown=scrub_json(handoff.score_breakdown, pattern),
            routing=scrub_json(handoff.routing, pattern),
        )
    ids = [h.pk for h in handoffs]
    events = 0
    with audit_unlocked():
        for event in HandoffEvent.objects.filter(handoff_id__in=ids).order_by("pk"):
            note = wipe(event.note)
            reason = scrub_text(event.reason, pattern)
            payload = scrub_json(event.payload, pattern, wipe=FREE_TEXT_KEYS)
            if (note, reason, payload) != (event.note, event.reason, event.payload):
                HandoffEvent.objects.filter(pk=event.pk).update(
                    note=note, reason=reason, payload=payload
                )
                events += 1
    # Messages about these handoffs, and any other that names the person.
    about = Q(handoff_id__in=ids)
    for needle in (data.email, *data.names):
        if needle:
            about |= Q(subject__icontains=needle) | Q(body__icontains=needle)
    notifications = 0
    for pk, subject, body in Notification.objects.filter(about).values_list(
        "pk", "subject", "body"
    ):
        Notification.objects.filter(pk=pk).update(
            subject=scrub_text(subject, pattern)[:200] or ERASED,
            body=NOTIFICATION_ERASED if body else body,
        )
        notifications += 1
    return {
        "handoff.handoff": len(handoffs),
        "handoff.handoffevent": events,
        "handoff.notification": notifications,
    }

"""The bulk writes of the API and of imports: a batch of leads upserted by email (with their
events, scored on the way in), or a batch of events recorded; each in a constant number of
queries whatever the batch's size. The lead rows' checks and plan are in `bulk_rows`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.bulksql import insert_rows, select_for_update_in, update_rows
from core.errors import Conflict
from core.types import Actor
from leads import hooks, selectors
from leads.history import CHANGED, CREATED, history_rows_insert, tracked_columns
from leads.ingest import CleanEvent, CleanRow, clean_event, clean_lead_row
from leads.models import HIGH_INTENT_KINDS, EngagementEvent, Lead
from leads.services.bulk_rows import (
    LEAD_INSERT_COLUMNS,
    WRITABLE_COLUMNS,
    LeadPlan,
    flag_duplicate_emails,
    match_accounts,
    plan_rows,
    refuse_under_locks,
    resolve_references,
)
from leads.services.events import EVENT_INSERT_COLUMNS, event_row, latest, recorded_events
from leads.services.lifecycle import normalise_email
from leads.services.scoring import SCORE_COLUMNS, leads_rescore, notify_re_engaged


@dataclass
class BulkOutcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    failed: int = 0
    events: int = 0
    duplicates: int = 0

    def as_response(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "errors": self.failed,
            "events": self.events,
            "duplicate_events": self.duplicates,
            "results": self.results,
        }


# --- leads -----------------------------------------------------------------------------------


def leads_bulk_upsert(
    *,
    rows: Sequence[Any],
    actor: Actor | None = None,
    now: dt.datetime | None = None,
    blank_is_missing: bool = False,
    allow_events: bool = True,
    keep_before: bool = False,
    history_reason: str | None = None,
) -> BulkOutcome:
    """Create or update up to a batch of leads by normalised email, with their events, scored
    on the way in. Rows with errors are answered as such and not written; the others are.

    The number of queries does not depend on the number of rows: rules (3), campaigns and
    owners (at most 2), the existing leads (locked), their events, their known external ids,
    one INSERT of new leads, one UPDATE of existing ones, one INSERT of events.
    `keep_before`: each updated row's answer holds the stored values of the fields the row
    wrote ("before").
    The audit trail gets one INSERT more: a "+" row per created lead and a "~" row per lead
    whose audited fields changed, with the actor and `history_reason` (an import's undo finds
    its rows by it).
    """
    now = now or timezone.now()
    clean = [
        clean_lead_row(
            raw, index=i, now=now, blank_is_missing=blank_is_missing, allow_events=allow_events
        )
        for i, raw in enumerate(rows)
    ]
    flag_duplicate_emails(clean)
    resolve_references([r for r in clean if not r.errors], actor)

    with transaction.atomic():
        good = sorted((r for r in clean if not r.errors), key=lambda r: r.email)
        rules = selectors.scoring_rules() if good else None
        # Locked in id order so that concurrent batches touching the same leads queue up
        # instead of deadlocking.
        existing = {
            lead.email: lead
            for lead in select_for_update_in(Lead, field="email", values=[r.email for r in good])
        }
        good = refuse_under_locks(good, existing, actor)
        plan = plan_rows(good, existing, rules, now=now, keep_before=keep_before)
        inserted = _write_leads(plan, existing, actor=actor, now=now, reason=history_reason)
        _write_events(plan, good, inserted, now=now)
    return _outcome(clean, plan.answers)


def _write_leads(
    plan: LeadPlan,
    existing: dict[str, Lead],
    *,
    actor: Actor | None,
    now: dt.datetime,
    reason: str | None,
) -> dict[str, int]:
    """One INSERT of the new leads, one UPDATE of the others, one INSERT of their audit rows;
    the new leads' ids by email."""
    match_accounts([*plan.inserts, *plan.updates])
    inserted = dict(
        (email, pk)
        for pk, email in insert_rows(
            Lead, plan.inserts, columns=LEAD_INSERT_COLUMNS, returning=("id", "email")
        )
    )
    if len(inserted) != len(plan.inserts):
        # Another request inserted some of these emails between our SELECT and INSERT.
        raise Conflict(
            "Another request created some of these leads at the same moment; "
            "send the batch again (it will update them).",
            code="concurrent_upsert",
        )
    update_rows(Lead, plan.updates, columns=(*WRITABLE_COLUMNS, *SCORE_COLUMNS, "account_id"))
    # The audit rows, in one INSERT: each created lead, and each updated one whose audited
    # fields changed (new events and a new score are not edits).
    audited_columns = tracked_columns(Lead)
    history_rows_insert(
        Lead,
        [
            *({**values, "id": inserted[values["email"]]} for values in plan.inserts),
            *(
                {**values, "history_type": CHANGED}
                for values in plan.updates
                if any(values[c] != getattr(existing[values["email"]], c) for c in audited_columns)
            ),
        ],
        history_type=CREATED,
        actor=actor,
        at=now,
        reason=reason,
    )
    return inserted


def _write_events(
    plan: LeadPlan, good: list[CleanRow], inserted: dict[str, int], *, now: dt.datetime
) -> None:
    """One INSERT of the rows' new events (the new leads' answers get their ids), then the
    hooks: events recorded, leads re-engaged."""
    event_rows: list[dict[str, Any]] = []
    for row in good:
        answer = plan.answers[row.index]
        if answer["id"] is None:
            answer["id"] = inserted[row.email]
        event_rows.extend(event_row(answer["id"], event, now) for event in plan.events[row.email])
    insert_rows(EngagementEvent, event_rows, columns=EVENT_INSERT_COLUMNS)
    hooks.events_recorded(events=recorded_events(event_rows), now=now)
    notify_re_engaged(
        {pk: before for pk, before, _ in plan.re_engaged},
        [(pk, after) for pk, _, after in plan.re_engaged],
        now=now,
    )


def _outcome(clean: list[CleanRow], answers: dict[int, dict[str, Any]]) -> BulkOutcome:
    """Every row's answer, in the order sent, and the counts."""
    outcome = BulkOutcome()
    for row in clean:
        if row.errors:
            outcome.failed += 1
            outcome.results.append(
                {"row": row.index, "status": "error", "email": row.email, "errors": row.errors}
            )
        else:
            answer = answers[row.index]
            if answer["status"] == "created":
                outcome.created += 1
            else:
                outcome.updated += 1
            outcome.events += answer["events"]
            outcome.results.append(answer)
    return outcome


# --- events -----------------------------------------------------------------------------------


@dataclass
class _EventRow:
    """One row of an events batch: the event (None when it is not one) and its lead's id or
    email, or why not."""

    index: int
    ref: int | str | None = None
    event: CleanEvent | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def events_bulk_record(
    *, rows: Sequence[Any], actor: Actor | None = None, now: dt.datetime | None = None
) -> BulkOutcome:
    """Record up to a batch of events for leads named by `lead_id` or `email`, then rescore the
    leads they touched. A constant number of queries: the leads (locked), their known external
    ids, one INSERT, their events for scoring, one UPDATE."""
    now = now or timezone.now()
    parsed = [_parse_event_row(i, raw, now) for i, raw in enumerate(rows)]
    outcome = BulkOutcome()
    with transaction.atomic():
        leads_by_ref = _lock_named_leads(parsed)
        known = _known_event_ids(parsed, leads_by_ref)
        event_rows: list[dict[str, Any]] = []
        touched: dict[int, Lead] = {}
        for item in parsed:
            lead = _event_lead(item, leads_by_ref)
            event = item.event
            if item.errors or event is None or lead is None:
                outcome.failed += 1
                outcome.results.append(
                    {"row": item.index, "status": "error", "errors": item.errors}
                )
                continue
            if event.external_id:
                if (lead.pk, event.external_id) in known:
                    outcome.duplicates += 1
                    outcome.results.append(
                        {"row": item.index, "status": "duplicate", "lead_id": lead.pk}
                    )
                    continue
                known.add((lead.pk, event.external_id))
            event_rows.append(event_row(lead.pk, event, now))
            lead.last_engaged_at = latest(lead.last_engaged_at, event.occurred_at)
            if event.kind in HIGH_INTENT_KINDS:
                lead.last_high_intent_at = latest(lead.last_high_intent_at, event.occurred_at)
            touched[lead.pk] = lead
            outcome.events += 1
            outcome.results.append({"row": item.index, "status": "recorded", "lead_id": lead.pk})
        insert_rows(EngagementEvent, event_rows, columns=EVENT_INSERT_COLUMNS)
        if touched:
            leads_rescore(leads=list(touched.values()), now=now)
        hooks.events_recorded(events=recorded_events(event_rows), now=now)
    return outcome


def _parse_event_row(index: int, raw: Any, now: dt.datetime) -> _EventRow:
    """The row's event, checked, and the lead it names (its id, else its email)."""
    item = _EventRow(index)
    checked = clean_event(raw, now=now)
    if isinstance(checked, dict):
        item.errors = checked
    else:
        item.event = checked
    if isinstance(raw, dict):
        lead_id, email = raw.get("lead_id"), raw.get("email")
        if isinstance(lead_id, int) and not isinstance(lead_id, bool):
            item.ref = lead_id
        elif isinstance(email, str) and email.strip():
            item.ref = normalise_email(email)
        else:
            item.errors["lead_id"] = ["Give the lead's id (lead_id) or its email."]
    return item


def _lock_named_leads(parsed: list[_EventRow]) -> dict[Any, Lead]:
    """The leads the rows name, locked in id order, by id and by email."""
    ids = {item.ref for item in parsed if isinstance(item.ref, int)}
    emails = {item.ref for item in parsed if isinstance(item.ref, str)}
    leads_by_ref: dict[Any, Lead] = {}
    if ids or emails:
        for lead in (
            Lead.objects.select_for_update()
            .filter(Q(pk__in=ids) | Q(email__in=emails))
            .order_by("pk")
        ):
            leads_by_ref[lead.pk] = lead
            leads_by_ref[lead.email] = lead
    return leads_by_ref


def _known_event_ids(
    parsed: list[_EventRow], leads_by_ref: dict[Any, Lead]
) -> set[tuple[int, str]]:
    """(lead id, external id) of the rows' events the leads already have."""
    external = {item.event.external_id for item in parsed if item.event and item.event.external_id}
    if not (external and leads_by_ref):
        return set()
    return set(
        EngagementEvent.objects.filter(
            lead_id__in={lead.pk for lead in leads_by_ref.values()},
            external_id__in=external,
        ).values_list("lead_id", "external_id")
    )


def _event_lead(item: _EventRow, leads_by_ref: dict[Any, Lead]) -> Lead | None:
    """The lead the row names; an unknown or erased one is the row's error."""
    if item.ref is None:
        return None
    found = leads_by_ref.get(item.ref)
    name = "lead_id" if isinstance(item.ref, int) else "email"
    if found is None:
        item.errors[name] = [f"No lead {item.ref}."]
    elif found.erased_at is not None:
        item.errors[name] = [
            "This lead's personal data was erased on request; it takes no new events."
        ]
    return found

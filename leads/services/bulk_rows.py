"""A batch of lead rows on its way to the bulk write: checks that need the database (repeated
emails, campaigns and owners named by id or name, erased emails and owner changes under the
locks), accounts matched by domain, and each row's plan: the lead's values after the row's
fields and new events, its score, and its answer."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from core import roles
from core.types import Actor
from leads import erasure, lifecycle, selectors
from leads.accounts import account_domain, account_ids_for_domains
from leads.derivation import derive_fields
from leads.ingest import CleanEvent, CleanRow
from leads.models import HIGH_INTENT_KINDS, LEAD_WRITABLE_FIELDS, Campaign, EngagementEvent, Lead
from leads.scoring import EventFact, ScoringRules, score_lead
from leads.services.events import latest
from leads.services.lifecycle import owner_change_problem
from leads.services.scoring import score_fields

# Columns a client may write (LEAD_WRITABLE_FIELDS as attnames; the email is the row's key).
_ATTNAMES = {f.name: f.attname for f in Lead._meta.concrete_fields}
WRITABLE_COLUMNS = tuple(_ATTNAMES[name] for name in LEAD_WRITABLE_FIELDS if name != "email")
# (Generated columns are the database's to fill.)
LEAD_INSERT_COLUMNS = tuple(
    f.attname for f in Lead._meta.concrete_fields if not f.primary_key and not f.generated
)


# --- checks -----------------------------------------------------------------------------------


def flag_duplicate_emails(rows: Sequence[CleanRow]) -> None:
    positions: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.email and "email" not in row.errors:
            positions[row.email].append(row.index)
    for email, indexes in positions.items():
        if len(indexes) > 1:
            shown = ", ".join(str(i) for i in indexes)
            for i in indexes:
                rows[i].error(
                    "email",
                    f"{email} appears more than once in this batch (rows {shown}); "
                    "send each lead once.",
                )


def resolve_references(rows: Sequence[CleanRow], actor: Actor | None) -> None:
    """Campaigns and owners named by id or name: two queries for the whole batch."""
    camp_ids = {r.campaign_ref for r in rows if isinstance(r.campaign_ref, int)}
    camp_names = {r.campaign_ref for r in rows if isinstance(r.campaign_ref, str)}
    campaigns: dict[int | str, int] = {}
    if camp_ids or camp_names:
        for pk, name in Campaign.objects.filter(
            Q(pk__in=camp_ids) | Q(name__in=camp_names)
        ).values_list("pk", "name"):
            campaigns[pk] = pk
            campaigns[name] = pk
    user_ids = {r.owner_ref for r in rows if isinstance(r.owner_ref, int)}
    usernames = {r.owner_ref for r in rows if isinstance(r.owner_ref, str)}
    owners: dict[int | str, int] = {}
    if user_ids or usernames:
        for pk, username in (
            get_user_model()
            .objects.filter(Q(pk__in=user_ids) | Q(username__in=usernames))
            .filter(roles.marketer_q(), is_active=True)
            .values_list("pk", "username")
            .distinct()
        ):
            owners[pk] = pk
            owners[username] = pk
    for row in rows:
        if row.has_campaign:
            if row.campaign_ref is None:
                row.values["campaign_id"] = None
            elif row.campaign_ref in campaigns:
                row.values["campaign_id"] = campaigns[row.campaign_ref]
            else:
                row.error("campaign", f'No campaign "{row.campaign_ref}" (give an id or a name).')
        if row.has_owner:
            if row.owner_ref is None:
                row.values["owner_id"] = None
            elif row.owner_ref in owners:
                row.values["owner_id"] = owners[row.owner_ref]
            else:
                row.error("owner", f'No active marketer "{row.owner_ref}".')


def refuse_under_locks(
    good: list[CleanRow], existing: dict[str, Lead], actor: Actor | None
) -> list[CleanRow]:
    """The rows still good once their leads are locked: not an erased email, and an owner
    change the actor may make."""
    # Checked under the locks: an erasure that held one of these rows has committed its
    # blocklist entry by the time the lock is ours.
    erased = erasure.erased_among(r.email for r in good)
    for row in good:
        lead = existing.get(row.email)
        if row.email in erased:
            row.error("email", erasure.ERASED_EMAIL_MESSAGE)
            continue
        if "owner_id" in row.values:
            problem = owner_change_problem(
                actor=actor,
                current_owner_id=lead.owner_id if lead else None,
                new_owner_id=row.values["owner_id"],
            )
            if problem:
                row.error("owner", problem)
    return [r for r in good if not r.errors]


def match_accounts(rows: list[dict[str, Any]]) -> None:
    """Set each row's account_id from its domain: two queries for the whole batch."""
    keys = [account_domain(values["domain"]) for values in rows]
    names: dict[str, str] = {}
    for key, values in zip(keys, rows, strict=True):
        if key and not names.get(key):
            names[key] = values.get("company") or ""
    ids = account_ids_for_domains(names)
    for key, values in zip(keys, rows, strict=True):
        values["account_id"] = ids.get(key) if key else None


# --- each row's plan ------------------------------------------------------------------------


@dataclass
class LeadPlan:
    """What a batch of lead rows writes, worked out row by row before one statement each."""

    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[CleanEvent]] = field(default_factory=dict)  # by email
    re_engaged: list[tuple[int, str, str]] = field(default_factory=list)  # id, before, after


def lead_defaults() -> dict[str, Any]:
    return {
        f.attname: f.get_default()
        for f in Lead._meta.concrete_fields
        if not f.primary_key and not f.generated
    }


def plan_rows(
    good: list[CleanRow],
    existing: dict[str, Lead],
    rules: ScoringRules | None,
    *,
    now: dt.datetime,
    keep_before: bool,
) -> LeadPlan:
    """Each row's lead values: stored (or defaults), then the row's fields, its new events
    and the score they make; and its answer."""
    plan = LeadPlan()
    existing_ids = [existing[r.email].pk for r in good if r.email in existing]
    known_external = _known_external(existing_ids, good)
    stored_events = (
        selectors.events_for_scoring(lead_ids=existing_ids, rules=rules, now=now)
        if rules and existing_ids
        else {}
    )
    qualification = lifecycle.context_for(existing_ids, now)
    defaults = lead_defaults()
    for row in good:
        lead = existing.get(row.email)
        events = _new_events(row, lead.pk if lead else None, known_external)
        plan.events[row.email] = events
        if lead is not None:
            values = {name: getattr(lead, name) for name in LEAD_INSERT_COLUMNS}
        else:
            values = {**defaults, "email": row.email, "created_at": now}
        before = dict(values) if lead is not None and keep_before else None
        values.update(row.values)
        derive_fields(values, given=set(row.values))
        _note_engagement(values, events)
        facts: list[EventFact] = list(stored_events.get(lead.pk, [])) if lead else []
        facts.extend(EventFact(e.kind, e.occurred_at) for e in events)
        assert rules is not None
        view = SimpleNamespace(**values)
        result = score_lead(lead=view, events=facts, rules=rules, now=now)
        product = list(qualification.facts.get(lead.pk, [])) if lead else []
        if qualification.criteria:
            product.extend(_product_facts(events))
        values.update(
            score_fields(view, result, now, facts=product, criteria=qualification.criteria)
        )
        if lead is not None:
            plan.re_engaged.append((lead.pk, lead.ready_reason, values["ready_reason"]))
        values["updated_at"] = now
        plan.answers[row.index] = _answer(row, lead, values, before, result.total, len(events))
        if lead is not None:
            plan.updates.append({"id": lead.pk, **values})
        else:
            plan.inserts.append(values)
    return plan


def _known_external(existing_ids: list[int], good: list[CleanRow]) -> set[tuple[int, str]]:
    """(lead id, external id) of the batch's events the existing leads already have."""
    batch_external = {e.external_id for r in good for e in r.events if e.external_id}
    if not (existing_ids and batch_external):
        return set()
    return set(
        EngagementEvent.objects.filter(
            lead_id__in=existing_ids, external_id__in=batch_external
        ).values_list("lead_id", "external_id")
    )


def _new_events(
    row: CleanRow, lead_id: int | None, known_external: set[tuple[int, str]]
) -> list[CleanEvent]:
    """The row's events minus replays (an external_id the lead already has, or repeated)."""
    seen: set[str] = set()
    kept = []
    for event in row.events:
        if event.external_id:
            if event.external_id in seen or (lead_id, event.external_id) in known_external:
                continue
            seen.add(event.external_id)
        kept.append(event)
    return kept


def _note_engagement(values: dict[str, Any], events: list[CleanEvent]) -> None:
    """Move the lead's last engagement (and last high intent) to its newest new event."""
    for event in events:
        values["last_engaged_at"] = latest(values["last_engaged_at"], event.occurred_at)
        if event.kind in HIGH_INTENT_KINDS:
            values["last_high_intent_at"] = latest(values["last_high_intent_at"], event.occurred_at)


def _product_facts(events: list[CleanEvent]) -> list[lifecycle.ProductFact]:
    facts = (lifecycle.fact_of(e.kind, e.occurred_at, e.payload) for e in events)
    return [fact for fact in facts if fact is not None]


def _answer(
    row: CleanRow,
    lead: Lead | None,
    values: dict[str, Any],
    before: dict[str, Any] | None,
    score: int,
    events: int,
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "row": row.index,
        "status": "updated" if lead else "created",
        "id": lead.pk if lead else None,
        "email": row.email,
        "score": score,
        "ready_for_sales": values["ready_for_sales"],
        "events": events,
    }
    if before is not None:
        answer["before"] = {
            name: before[name]
            for name in LEAD_INSERT_COLUMNS
            if name in WRITABLE_COLUMNS and values[name] != before[name]
        }
    return answer

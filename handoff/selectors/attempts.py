"""The story of a handoff's attempts: the chain from the first promotion to this attempt, how each
attempt ended (a manager's or an automatic reassignment, an escalation), and why a handoff waits
unassigned in the manager's queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model

from core.types import Actor
from handoff.models import Handoff, HandoffEvent
from handoff.states import Status


def _person(user: Actor | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "username": str(user.get_username()),
        "full_name": str(user.get_full_name() or user.get_username()),
    }


DEFAULT_REASSIGN_REASON = "reassigned by a manager"  # handoff.services.handoff_reassign's
_MAX_CHAIN = 50  # attempts followed back; a chain is at most max_reassignments + 1 long


def _ending(events: list[HandoffEvent]) -> dict[str, Any] | None:
    """How an attempt ended, from its own events: reassigned by a manager (with the reason they
    typed) or automatically on breach, returned, accepted, or escalated to the manager."""
    for event in reversed(events):
        if event.kind == HandoffEvent.Kind.TRANSITION and event.to_status == Status.REASSIGNED:
            automatic = bool((event.payload or {}).get("automatic"))
            return {
                "how": "automatic_reassign" if automatic else "manager_reassign",
                "at": event.at,
                "by": _person(event.actor),
                # The service's default when the manager typed nothing is not a reason.
                "reason": ""
                if automatic or event.reason == DEFAULT_REASSIGN_REASON
                else event.reason,
            }
    return None


def attempt_chain(handoff: Handoff) -> dict[str, Any]:
    """The whole story of a handoff's attempts, as every attempt tells it: the original
    promotion (who, when), each earlier attempt with its rep and how it ended (breach, a
    manager's reassignment with the reason typed, an automatic reassignment, an escalation), and
    when this attempt began. Three queries (the lead's handoffs, the chain's events, the reps
    each attempt began with); none for a first attempt whose events and people are at hand
    (the answer to an accept or a return)."""
    quick = _first_attempt_chain(handoff)
    if quick is not None:
        return quick
    rows = {
        h.pk: h
        for h in Handoff.objects.filter(lead_id=handoff.lead_id, pk__lte=handoff.pk)
        .select_related("assigned_to", "promoted_by")
        .only(
            "id", "attempt", "previous_id", "created_at", "closed_at", "breached_at", "status",
            "routing", "assigned_to__username", "assigned_to__first_name", "assigned_to__last_name",
            "promoted_by__username", "promoted_by__first_name", "promoted_by__last_name",
        )
    }  # fmt: skip
    rows[handoff.pk] = rows.get(handoff.pk, handoff)
    chain: list[Handoff] = []
    current: Handoff | None = rows[handoff.pk]
    while current is not None and len(chain) < _MAX_CHAIN:
        chain.append(current)
        current = rows.get(current.previous_id) if current.previous_id else None
    chain.reverse()
    ids = [h.pk for h in chain]
    events: dict[int, list[HandoffEvent]] = {pk: [] for pk in ids}
    for event in (
        HandoffEvent.objects.filter(
            handoff_id__in=ids,
            kind__in=[
                HandoffEvent.Kind.TRANSITION,
                HandoffEvent.Kind.BREACHED,
                HandoffEvent.Kind.ESCALATED,
            ],
        )
        .select_related("actor")
        .order_by("at", "id")
    ):
        events[event.handoff_id].append(event)
    # Who each attempt began with is what routing recorded: an escalation since has cleared
    # `assigned_to` (the attempt now waits in the manager's queue), not who it began with.
    began_with = {h.pk: ((h.routing or {}).get("rep") or {}).get("id") for h in chain}
    people = {
        u.pk: u
        for u in get_user_model()
        .objects.filter(pk__in=[pk for pk in began_with.values() if pk])
        .only("id", "username", "first_name", "last_name")
    }
    return _chain_answer(handoff, chain, events, began_with, people)


_CHAIN_EVENT_KINDS = (HandoffEvent.Kind.TRANSITION, HandoffEvent.Kind.BREACHED, HandoffEvent.Kind.ESCALATED)  # fmt: skip


def _first_attempt_chain(handoff: Handoff) -> dict[str, Any] | None:
    """attempt_chain of a first attempt from what the handoff holds (its prefetched events, its
    rep and promoter), or None when something would have to be read."""
    if handoff.previous_id is not None:
        return None
    prefetched = getattr(handoff, "_prefetched_objects_cache", {}).get("events")
    loaded = handoff._state.fields_cache
    if prefetched is None or "promoted_by" not in loaded or "assigned_to" not in loaded:
        return None
    began = ((handoff.routing or {}).get("rep") or {}).get("id")
    if began and began != handoff.assigned_to_id:
        return None  # began with someone else (escalated since): read them the long way
    events = sorted(
        (e for e in prefetched if e.kind in _CHAIN_EVENT_KINDS), key=lambda e: (e.at, e.pk)
    )
    people = {began: handoff.assigned_to} if began else {}
    return _chain_answer(handoff, [handoff], {handoff.pk: events}, {handoff.pk: began}, people)


def _chain_answer(
    handoff: Handoff,
    chain: list[Handoff],
    events: dict[int, list[HandoffEvent]],
    began_with: dict[int, int | None],
    people: Mapping[int, Actor | None],
) -> dict[str, Any]:
    first = chain[0]
    attempts = []
    for h in chain:
        escalation = next((e for e in events[h.pk] if e.kind == HandoffEvent.Kind.ESCALATED), None)
        attempts.append(
            {
                "id": h.pk,
                "attempt": h.attempt,
                "rep": _person(people.get(began_with[h.pk] or 0) or h.assigned_to),
                "began_at": h.created_at,
                "breached_at": h.breached_at,
                "escalated": escalation_reason(escalation) if escalation is not None else None,
                "ended": _ending(events[h.pk]),
                "current": h.pk == handoff.pk,
            }
        )
    return {
        "promoted_at": first.created_at,
        "promoted_by": _person(first.promoted_by),
        "attempts": attempts,
        "this_attempt_began_at": handoff.created_at,
    }


def reassignment_endings(handoff_ids: list[int]) -> dict[int, dict[str, Any]]:
    """How each reassigned handoff ended (by whom, the reason typed, or automatically), for a
    list of handoffs: one query."""
    events: dict[int, list[HandoffEvent]] = {}
    for event in (
        HandoffEvent.objects.filter(
            handoff_id__in=handoff_ids,
            kind=HandoffEvent.Kind.TRANSITION,
            to_status=Status.REASSIGNED,
        )
        .select_related("actor")
        .order_by("id")
    ):
        events.setdefault(event.handoff_id, []).append(event)
    endings = {}
    for pk, found in events.items():
        ending = _ending(found)
        if ending is not None:
            endings[pk] = ending
    return endings


# --- why a handoff waits in the manager's queue ----------------------------------------------


def escalation_reason(event: HandoffEvent) -> str:
    """The escalation event in words (the sweep records why and after how many reassignments)."""
    payload = event.payload or {}
    if event.reason == "max_reassignments":
        done = payload.get("reassignments", 0)
        limit = payload.get("max_reassignments", 0)
        return (
            f"SLA breached after {done} reassignment{'' if done == 1 else 's'} "
            f"(the policy allows {limit}): escalated to the manager"
        )
    if event.reason == "reassign_failed":
        return "SLA breached and no other rep could take it over: escalated to the manager"
    return f"escalated to the manager ({event.reason or 'no reason recorded'})"


def unassigned_reasons(handoffs: list[Handoff]) -> dict[int, list[str]]:
    """Why each handoff has no rep, from what was recorded when it lost (or never had) one: the
    latest escalation event, else the routing record (who was skipped and why, or a team with
    nobody in its rotation, or a manager's choice). One query for the page's escalations."""
    ids = [h.pk for h in handoffs]
    escalations: dict[int, HandoffEvent] = {}
    for escalation in HandoffEvent.objects.filter(
        handoff_id__in=ids, kind=HandoffEvent.Kind.ESCALATED
    ).order_by("id"):
        escalations[escalation.handoff_id] = escalation
    reasons: dict[int, list[str]] = {}
    for h in handoffs:
        routing = h.routing or {}
        found = escalations.get(h.pk)
        if found is not None:
            reasons[h.pk] = [escalation_reason(found)]
            continue
        skipped = routing.get("skipped") or []
        if skipped:
            reasons[h.pk] = [f"{s['username']}: {s['detail']}" for s in skipped]
        elif routing.get("team") is None:
            reasons[h.pk] = ["no team matched the lead"]
        elif routing.get("rotation") is not None and not (routing["rotation"] or {}).get("cycle"):
            reasons[h.pk] = ["the team had nobody in its rotation at the time"]
        else:
            reasons[h.pk] = ["no reason was recorded"]
    return reasons

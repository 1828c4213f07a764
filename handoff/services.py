"""Every write to handoffs: keyword-only functions, atomic, taking `now`.

Every status change goes through `_transition`, which claims the row with a conditional UPDATE
(`WHERE id = ... AND status = <the status the caller saw>`): of two people pressing accept and
return at the same instant, exactly one UPDATE matches and the other gets HandoffConflict (HTTP
409). It writes exactly one HandoffEvent per transition; notifications are outbox rows written in
the same transaction and sent by a task queued on commit (handoff.notifications.notify).

Lock order, kept by every service here: handoff rows, then the team row (rotation), then
membership rows (capacity), then the lead row (stage). Slow pure work (business-time arithmetic)
happens before the transaction opens, so row locks are held for a few statements only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, Forbidden, ValidationFailed
from core.roles import SALES_MANAGER, is_manager, is_marketer, is_rep
from handoff import sla
from handoff.assignment import (
    RepChoice,
    has_recent_high_intent,
    match_policy,
    match_team,
    pick_rep,
    policy_snapshot,
    region_for_country,
    who_could_take_it,
)
from handoff.models import (
    AutoPromotionRule,
    BusinessCalendar,
    Handoff,
    HandoffEvent,
    Notification,
    SlaPolicy,
    Team,
)
from handoff.notifications import notify

# The reads a promotion and the pages share live in selectors; the services keep their names.
from handoff.selectors import (
    calendar_for,
    handoff_calendar,
)
from handoff.selectors import can_answer as _can_inform
from handoff.selectors import can_work_on as _can_work
from handoff.selectors import history_block as _promotion_block
from handoff.selectors import last_return_at as _last_return_at
from handoff.selectors import lead_history as _lead_history
from handoff.selectors import (
    lead_promotion_block as lead_promotion_block,
)
from handoff.selectors import (
    promotion_block as promotion_block,
)
from handoff.selectors import (
    promotion_preview as promotion_preview,
)
from handoff.selectors import stage_block as _stage_block
from handoff.selectors import user_ref as _user_ref
from handoff.sla import deadlines as _deadlines
from handoff.states import HandoffConflict, InvalidTransition, Status, check_move
from handoff.timezones import local_words
from handoff.webhook_events import publish_handoff_event
from leads.history import audited
from leads.models import HIGH_INTENT_KINDS, Account, Lead, Stage
from leads.services import enqueue_tasks_for_relay, lead_change_stage, lead_move_stage

ENGAGEMENT_SNAPSHOT_SIZE = 10
FIRST_TOUCH_CHANNELS = ("call", "email", "meeting")
BANT_FIELDS = ("budget", "authority", "need", "timeline")
BANT_MAX_LENGTH = 1000
LEAD_EFFECTS = ("recycle", "disqualify")
DEFAULT_RECYCLE_DAYS = 30


# --- small helpers ----------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _require_worker(handoff: Handoff, actor: Any, verb: str) -> None:
    if not _can_work(handoff, actor):
        raise Forbidden(f"Only the assigned rep or a sales manager can {verb} this handoff.")


def _managers_for(team: Team | None) -> list[Any]:
    """Who hears about a handoff nobody could take: the team's manager, or every sales manager
    when the team has none (a handoff is never silently left without an owner)."""
    if team is not None and team.manager is not None and team.manager.is_active:
        return [team.manager]
    user_model = get_user_model()
    return list(user_model.objects.filter(groups__name=SALES_MANAGER, is_active=True))


def _claim_guard(handoff: Handoff) -> Q:
    """Besides the status, the claim matches the deadline the caller saw: a handoff that went
    pending -> waiting -> pending in between has a new deadline, so a stale caller loses."""
    if handoff.status == Status.PENDING:
        return Q(due_at=handoff.due_at) if handoff.due_at else Q(due_at__isnull=True)
    return Q()


def _transition(
    *,
    handoff: Handoff,
    to_status: str | None,
    actor: Any,
    now: dt.datetime,
    kind: str = HandoffEvent.Kind.TRANSITION,
    reason: str = "",
    note: str = "",
    payload: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    guard: Q | None = None,
) -> HandoffEvent:
    """Claim the handoff in the status the caller saw, apply the change, write one event.

    `to_status=None` records an event without a status change (first touch), still claiming the
    row so that two concurrent writers cannot both win. Call inside a transaction.
    """
    from_status = handoff.status
    if to_status is not None:
        check_move(from_status, to_status)
    values: dict[str, Any] = {**(fields or {}), "updated_at": now}
    if to_status is not None:
        values["status"] = to_status
    claim = Handoff.objects.filter(pk=handoff.pk, status=from_status).filter(
        guard if guard is not None else _claim_guard(handoff)
    )
    if claim.update(**values) != 1:
        current = Handoff.objects.filter(pk=handoff.pk).values_list("status", flat=True).first()
        if current is None:
            raise HandoffConflict(f"Handoff #{handoff.pk} no longer exists.")
        if current != from_status:
            raise HandoffConflict(
                f"Someone else got there first: handoff #{handoff.pk} is now "
                f"{Status(current).label.lower()}. Reload it and try again."
            )
        raise HandoffConflict(
            f"Handoff #{handoff.pk} changed while you were looking at it. Reload it and try again."
        )
    for name, value in values.items():
        setattr(handoff, name, value)
    return HandoffEvent.objects.create(
        handoff=handoff,
        kind=kind,
        from_status=from_status,
        to_status=to_status or from_status,
        actor=actor,
        reason=reason[:100],
        note=note,
        at=now,
        payload=payload or {},
    )


def _lock_lead(handoff: Handoff, *, with_owner: bool = False) -> Lead:
    """The handoff's lead, row-locked and fresh (after the handoff claim: see the lock order);
    `with_owner` reads its owner in the same query (only the lead row is locked)."""
    leads = Lead.objects.select_for_update(of=("self",))
    if with_owner:
        leads = leads.select_related("owner")
    lead = leads.get(pk=handoff.lead_id)
    handoff.lead = lead
    return lead


def _move_lead(
    *,
    lead: Lead,
    to_stage: str,
    actor: Any,
    reason: str,
    now: dt.datetime,
    extra_fields: dict[str, Any] | None = None,
) -> None:
    if lead.stage == to_stage and not extra_fields:
        return
    if lead.stage == to_stage:
        # Same stage, new attributes (a second return while recycled is not possible, but a
        # reassigned lead stays an MQL): update in place without a history row.
        Lead.objects.filter(pk=lead.pk).update(**extra_fields, updated_at=now)  # type: ignore[arg-type]
        for name, value in (extra_fields or {}).items():
            setattr(lead, name, value)
        return
    lead_change_stage(
        lead=lead, to_stage=to_stage, actor=actor, reason=reason, now=now, extra_fields=extra_fields
    )


def _lock_and_move_lead(
    handoff: Handoff,
    *,
    to_stage: str,
    actor: Any,
    reason: str,
    now: dt.datetime,
    extra_fields: dict[str, Any] | None = None,
    count_return: bool = False,
    queue_rescore: bool = True,
) -> Lead:
    """Lock the handoff's lead and move it, in one statement (leads.services.lead_move_stage);
    when its stage refuses the move, the long way (lock, read, move) that says why."""
    lead = handoff.lead
    if lead_move_stage(
        lead=lead,
        to_stage=to_stage,
        actor=actor,
        reason=reason,
        now=now,
        extra_fields=extra_fields,
        count_return=count_return,
        queue_rescore=queue_rescore,
    ):
        return lead
    lead = _lock_lead(handoff, with_owner=True)
    extra = dict(extra_fields or {})
    if count_return:
        extra["return_count"] = lead.return_count + 1
    _move_lead(
        lead=lead,
        to_stage=to_stage,
        actor=actor,
        reason=reason,
        now=now,
        extra_fields=extra or None,
    )
    return lead


# --- promotion --------------------------------------------------------------------------------


def _history_snapshot(history: list[Handoff]) -> list[dict[str, Any]]:
    return [
        {
            "id": h.pk,
            "attempt": h.attempt,
            "created_at": _iso(h.created_at),
            "status": h.status,
            "assigned_to": h.assigned_to.get_username() if h.assigned_to else None,
            "ended_at": _iso(h.closed_at),
            "accepted_late": h.accepted_late,
            "return_reason_code": h.return_reason_code,
            "return_note": h.return_note,
        }
        for h in history
    ]


def _engagement_snapshot(lead: Lead, now: dt.datetime) -> list[dict[str, Any]]:
    """The lead's latest events, plus the latest of each high-intent kind (contact form, demo,
    pricing, trial) when a run of page views pushed it out: those drive the intent points the
    rep sees in the score, so the activity beside the score must show them."""
    events = lead.events.filter(occurred_at__lte=now).order_by("-occurred_at", "-id")
    latest = list(events[:ENGAGEMENT_SNAPSHOT_SIZE])
    shown_kinds = {e.kind for e in latest}
    missing = [kind for kind in HIGH_INTENT_KINDS if kind not in shown_kinds]
    if missing:
        for kind in sorted(missing):
            found = events.filter(kind=kind).first()
            if found is not None:
                latest.append(found)
        latest.sort(key=lambda e: (e.occurred_at, e.pk), reverse=True)
    return [
        {
            "kind": e.kind,
            "label": e.get_kind_display(),
            "occurred_at": _iso(e.occurred_at),
            "is_high_intent": e.is_high_intent,
            "payload": e.payload,
        }
        for e in latest
    ]


def _routing(
    *,
    team: Team | None,
    rule: str,
    matched: dict[str, Any],
    policy: dict[str, Any],
    choice: RepChoice | None,
    now: dt.datetime,
    lead: Lead,
    chosen_by: Any = None,
    to_rep: Any = None,
) -> dict[str, Any]:
    routing: dict[str, Any] = {
        "decided_at": _iso(now),
        "team": {"id": team.pk, "name": team.name} if team else None,
        "rule": rule,
        "matched": matched,
        "lead": {
            "region": region_for_country(lead.country),
            "country": lead.country,
            "industry": lead.industry,
            "employee_band": lead.employee_band,
            "score": lead.score,
            "high_intent": has_recent_high_intent(lead, now),
        },
        "policy": {"id": policy["id"], "name": policy["name"], "version": policy["version"]},
    }
    if choice is not None:
        routing.update(choice.as_routing())
    else:
        routing.update(
            {
                "rotation": None,
                "rep": _user_ref(to_rep),
                "skipped": [],
                "queue": "rep" if to_rep else "manager",
                "chosen_by": _user_ref(chosen_by),
            }
        )
    return routing


def _advance_rotation(team: Team, choice: RepChoice) -> None:
    if choice.position_chosen is not None:
        Team.objects.filter(pk=team.pk).update(rotation_position=choice.position_after)
        team.rotation_position = choice.position_after


def _announce(*, handoff: Handoff, event: HandoffEvent, now: dt.datetime) -> None:
    """Tell the rep at once, or the manager when nobody could take the handoff."""
    routing = handoff.routing or {}
    publish_handoff_event(
        "handoff.assigned" if handoff.assigned_to is not None else "handoff.unassigned",
        handoff=handoff,
        now=now,
        why=routing.get("rule") or "",
    )
    if handoff.assigned_to is not None:
        auto = handoff.auto_promotion
        body = f"Why you: {routing.get('rule') or 'assigned'}."
        if auto:
            body = f'Promoted automatically (rule "{auto["name"]}") the moment it asked. {body}'
        notify(
            kind=Notification.Kind.ASSIGNED,
            handoff=handoff,
            recipients=[handoff.assigned_to],
            event=event,
            now=now,
            body=body,
        )
        return
    skipped = routing.get("skipped") or []
    why = "; ".join(f"{s['username']}: {s['detail']}" for s in skipped) or (
        "nobody is in the team's rotation"
    )
    notify(
        kind=Notification.Kind.UNASSIGNED,
        handoff=handoff,
        recipients=_managers_for(handoff.team),
        event=event,
        now=now,
        body=f"Nobody in {handoff.team or 'any team'} could take it ({why}).",
    )


def _latest_signal(lead: Lead, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The lead's latest high-intent event before `now`: (occurred_at, received at)."""
    if lead.last_high_intent_at is None:
        return None
    row = (
        lead.events.filter(is_high_intent=True, occurred_at__lte=now)
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", "created_at")
        .first()
    )
    return (row[0], row[1]) if row else None


# The context note is the warm handoff: a rep reads it first. A few words ("Hot one") tell them
# nothing the score does not, so a promotion needs a sentence.
CONTEXT_NOTE_MIN_CHARS = 20


def handoff_promote(
    *,
    lead: Lead,
    actor: Any,
    note: str = "",
    team: Team | None = None,
    now: dt.datetime | None = None,
    auto_rule: AutoPromotionRule | None = None,
    signal: tuple[dt.datetime, dt.datetime] | None = None,
) -> Handoff:
    """Marketing hands a lead to sales: snapshot the warm-handoff packet, start the SLA clock,
    assign a rep by rotation and tell them at once.

    With `auto_rule` the system promotes (no actor; handoff.autopromotion calls this), with
    `signal` the triggering event's (occurred_at, received_at); every guard applies the same.
    """
    now = now or timezone.now()
    if auto_rule is None and not (is_marketer(actor) or is_manager(actor)):
        raise Forbidden("Only marketing (or a sales manager) promotes leads to sales.")
    history = _lead_history(lead)
    blocked = _promotion_block(lead, now, history)
    if blocked is not None:
        raise blocked
    note = (note or "").strip()
    if len(note) < CONTEXT_NOTE_MIN_CHARS:
        raise ValidationFailed(
            f"Write the context for the rep (at least {CONTEXT_NOTE_MIN_CHARS} characters): "
            "why this lead, why now, what they asked for. It is the warm handoff.",
            code="note_too_short",
            field="note",
        )
    chosen_team, match = match_team(lead=lead, team=team)
    policy = match_policy(lead=lead, team=chosen_team, now=now)
    calendar_row = policy.calendar or chosen_team.calendar
    snapshot = policy_snapshot(policy, calendar_row.pk, calendar_row.name, calendar_row.timezone)
    due_at, at_risk_at = _deadlines(
        now, policy.accept_within_minutes, policy.at_risk_ratio, calendar_for(calendar_row)
    )
    engagement = _engagement_snapshot(lead, now)
    if signal is None:
        signal = _latest_signal(lead, now)
    auto = {"id": auto_rule.pk, "name": auto_rule.name} if auto_rule is not None else None

    with transaction.atomic():
        try:
            # The partial unique constraint is the real guard against two open handoffs (two
            # marketers promoting the same lead at once); the check above only explains it.
            with transaction.atomic():
                handoff = Handoff.objects.create(
                    lead=lead,
                    promoted_by=actor,
                    team=chosen_team,
                    policy=policy,
                    policy_snapshot=snapshot,
                    calendar=calendar_row,
                    status=Status.PENDING,
                    context_note=note,
                    score_snapshot=lead.score,
                    lead_source=lead.source,
                    lead_campaign_id=lead.campaign_id,
                    score_breakdown=lead.score_breakdown or {},
                    engagement_snapshot=engagement,
                    pql_criteria=lead.pql_criteria if lead.pql else [],
                    history_snapshot=_history_snapshot(history),
                    created_at=now,
                    due_at=due_at,
                    at_risk_at=at_risk_at,
                    auto_rule=auto_rule,
                    auto_promotion=auto,
                    signal_at=signal[0] if signal else None,
                    signal_received_at=signal[1] if signal else None,
                )
        except IntegrityError as exc:
            raise HandoffConflict(
                "The lead was promoted by someone else at the same moment.",
                code="open_handoff_exists",
            ) from exc
        choice = pick_rep(
            team=chosen_team,
            now=now,
            skip_off_hours=policy.skip_reps_off_hours,
            account_owner_id=(
                _account_owner_id(lead) if chosen_team.route_to_account_owner else None
            ),
        )
        _advance_rotation(chosen_team, choice)
        handoff.routing = _routing(
            team=chosen_team,
            rule=match["rule"],
            matched=match["matched"],
            policy=snapshot,
            choice=choice,
            now=now,
            lead=lead,
        )
        handoff.assigned_to = choice.rep
        Handoff.objects.filter(pk=handoff.pk).update(
            assigned_to=handoff.assigned_to, routing=handoff.routing
        )

        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        # Re-checked on the locked row: the stage may have moved since the first look.
        stage_blocked = _stage_block(locked, now, _last_return_at(locked, history))
        if stage_blocked is not None:
            raise stage_blocked
        _move_lead(
            lead=locked,
            to_stage=Stage.MQL,
            actor=actor,
            reason=(
                f"Promoted to sales (handoff #{handoff.pk})"
                if auto is None
                else f"Promoted to sales automatically by rule {auto['name']} "
                f"(handoff #{handoff.pk})"
            ),
            now=now,
        )
        handoff.lead = locked
        event = HandoffEvent.objects.create(
            handoff=handoff,
            kind=HandoffEvent.Kind.CREATED,
            to_status=Status.PENDING,
            actor=actor,
            reason=handoff.routing["queue"],
            note=note,
            at=now,
            payload={
                "team": handoff.routing["team"],
                "rep": handoff.routing["rep"],
                "policy": handoff.routing["policy"],
                "due_at": _iso(due_at),
                "at_risk_at": _iso(at_risk_at),
                **({"auto_promotion": auto} if auto else {}),
            },
        )
        publish_handoff_event("lead.promoted", handoff=handoff, now=now)
        _announce(handoff=handoff, event=event, now=now)
    for name in ("stage", "mql_at", "updated_at"):
        setattr(lead, name, getattr(locked, name))
    return handoff


def _account_owner_id(lead: Lead) -> int | None:
    if lead.account_id is None:
        return None
    return Account.objects.filter(pk=lead.account_id).values_list("owner_id", flat=True).first()


def lead_reopen(
    *, lead: Lead, actor: Any, reason: str = "", now: dt.datetime | None = None
) -> Lead:
    """A manager reopens a disqualified lead (back to `lead`), so marketing may promote it again."""
    now = now or timezone.now()
    if not is_manager(actor):
        raise Forbidden("Only a sales manager can reopen a disqualified lead.")
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.stage != Stage.DISQUALIFIED:
            raise Conflict(
                f"Only a disqualified lead can be reopened; this one is in stage "
                f"{Stage(locked.stage).label}.",
                code="lead_not_disqualified",
            )
        lead_change_stage(
            lead=locked,
            to_stage=Stage.LEAD,
            actor=actor,
            reason=reason or "Reopened by a manager",
            now=now,
            extra_fields={"recycle_until": None},
        )
    for name in ("stage", "recycle_until", "updated_at"):
        setattr(lead, name, getattr(locked, name))
    return lead


# --- the rep's answer -------------------------------------------------------------------------


def handoff_accept(*, handoff: Handoff, actor: Any, now: dt.datetime | None = None) -> Handoff:
    """The rep takes the lead (it becomes a SAL); the first-touch clock starts."""
    now = now or timezone.now()
    _require_worker(handoff, actor, "accept")
    check_move(handoff.status, Status.ACCEPTED)
    calendar = handoff_calendar(handoff)
    snap = handoff.policy_snapshot or {}
    late = handoff.due_at is not None and now > handoff.due_at
    fields: dict[str, Any] = {"responded_at": now, "accepted_at": now, "accepted_late": late}
    payload: dict[str, Any] = {"late": late, "due_at": _iso(handoff.due_at)}
    if late and handoff.due_at is not None:
        payload["late_by_business_minutes"] = round(
            sla.business_minutes_between(handoff.due_at, now, calendar), 2
        )
        payload["late_by_seconds"] = round((now - handoff.due_at).total_seconds())
    # Business minutes the accept clock ran: the window minus what was left, plus what it was
    # late by. A pause for marketing is excluded, since the resumed deadline was computed from
    # the time that was left. Stored so that percentiles are one SQL aggregate.
    window = snap.get("accept_within_minutes")
    if window is not None and handoff.due_at is not None:
        if late:
            used = window + sla.business_minutes_between(handoff.due_at, now, calendar)
        else:
            used = window - sla.business_minutes_between(now, handoff.due_at, calendar)
    else:
        used = sla.business_minutes_between(handoff.created_at, now, calendar)
    fields["accept_business_minutes"] = round(max(used, 0.0), 2)
    if snap.get("first_touch_within_minutes") is not None:
        ft_due, ft_risk = _deadlines(
            now, snap["first_touch_within_minutes"], snap.get("at_risk_ratio", 0.75), calendar
        )
        fields.update({"first_touch_due_at": ft_due, "first_touch_at_risk_at": ft_risk})
        payload["first_touch_due_at"] = _iso(ft_due)
    if handoff.assigned_to_id is None:
        # A manager taking a handoff from their own queue becomes its owner.
        fields["assigned_to"] = actor
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=Status.ACCEPTED,
            actor=actor,
            now=now,
            reason="accepted late" if late else "accepted",
            payload=payload,
            fields=fields,
        )
        _lock_and_move_lead(
            handoff,
            to_stage=Stage.SAL,
            actor=actor,
            now=now,
            reason=f"Accepted by sales (handoff #{handoff.pk})",
        )
        publish_handoff_event("handoff.accepted", handoff=handoff, now=now, late=late)
    return handoff


def handoff_request_info(
    *, handoff: Handoff, actor: Any, question: str, now: dt.datetime | None = None
) -> Handoff:
    """The rep asks marketing for missing information: the accept clock pauses (status waiting)
    with the business time that was left, and the promoting marketer is told."""
    now = now or timezone.now()
    question = (question or "").strip()
    if not question:
        raise ValidationFailed("Say what information is missing.", field="question")
    _require_worker(handoff, actor, "ask about")
    check_move(handoff.status, Status.WAITING)
    remaining = 0.0
    if handoff.due_at is not None and now < handoff.due_at:
        remaining = sla.business_minutes_between(now, handoff.due_at, handoff_calendar(handoff))
    with transaction.atomic():
        event = _transition(
            handoff=handoff,
            to_status=Status.WAITING,
            actor=actor,
            now=now,
            reason="info requested",
            note=question,
            payload={
                "remaining_business_minutes": round(remaining, 4),
                "due_at_before": _iso(handoff.due_at),
            },
            # The deadline is cleared while paused, so nothing (the sweep included) can see a
            # paused handoff as due; resuming computes a new one from the time that was left.
            fields={
                "paused_at": now,
                "remaining_business_minutes": remaining,
                "due_at": None,
                "at_risk_at": None,
                "info_question": question,
                "info_answer": "",
            },
        )
        notify(
            kind=Notification.Kind.INFO_REQUESTED,
            handoff=handoff,
            recipients=[handoff.promoted_by, handoff.lead.owner],
            event=event,
            now=now,
            body=f"{actor.get_full_name() or actor.get_username()} asks: {question}",
        )
        publish_handoff_event("handoff.info_requested", handoff=handoff, now=now)
    return handoff


def handoff_provide_info(
    *, handoff: Handoff, actor: Any, answer: str, now: dt.datetime | None = None
) -> Handoff:
    """Marketing answers: the clock resumes with the business time that was left when it paused."""
    now = now or timezone.now()
    answer = (answer or "").strip()
    if not answer:
        raise ValidationFailed("Write the answer for the rep.", field="answer")
    if not _can_inform(handoff, actor):
        raise Forbidden(
            "Only the marketer who promoted the lead, its owner or a sales manager can answer."
        )
    check_move(handoff.status, Status.PENDING)
    snap = handoff.policy_snapshot or {}
    remaining = max(handoff.remaining_business_minutes or 0.0, 0.0)
    total = float(snap.get("accept_within_minutes") or remaining)
    ratio = float(snap.get("at_risk_ratio", 0.75))
    calendar = handoff_calendar(handoff)
    due_at = sla.add_business_minutes(now, remaining, calendar)
    # The at-risk warning keeps its place in the whole window: it fires once `ratio` of the
    # window has elapsed, counting the business time used before the pause.
    until_risk = min(max(total * ratio - (total - remaining), 0.0), remaining)
    at_risk_at = sla.add_business_minutes(now, until_risk, calendar)
    paused_seconds = (
        max(round((now - handoff.paused_at).total_seconds()), 0) if handoff.paused_at else 0
    )
    with transaction.atomic():
        event = _transition(
            handoff=handoff,
            to_status=Status.PENDING,
            actor=actor,
            now=now,
            reason="info provided",
            note=answer,
            payload={
                "paused_seconds": paused_seconds,
                "paused_business_minutes": round(
                    sla.business_minutes_between(handoff.paused_at, now, calendar), 2
                )
                if handoff.paused_at
                else 0,
                "remaining_business_minutes": round(remaining, 4),
                "due_at": _iso(due_at),
                "at_risk_at": _iso(at_risk_at),
            },
            fields={
                "paused_at": None,
                "remaining_business_minutes": None,
                "due_at": due_at,
                "at_risk_at": at_risk_at,
                "paused_seconds_total": handoff.paused_seconds_total + paused_seconds,
                "pause_count": handoff.pause_count + 1,
                "info_answer": answer,
            },
            # The pause the caller saw is still the current one (not an earlier, ended pause).
            guard=Q(paused_at=handoff.paused_at),
        )
        notify(
            kind=Notification.Kind.INFO_PROVIDED,
            handoff=handoff,
            recipients=[handoff.assigned_to]
            if handoff.assigned_to
            else _managers_for(handoff.team),
            event=event,
            now=now,
            body=f"Answer from marketing: {answer}",
        )
        publish_handoff_event("handoff.info_provided", handoff=handoff, now=now)
    return handoff


def _clean_bant(bant: Any) -> dict[str, str]:
    if not isinstance(bant, dict):
        raise ValidationFailed(
            "Give the BANT answers as an object with budget, authority, need and timeline.",
            field="bant",
        )
    unknown = sorted(set(bant) - set(BANT_FIELDS))
    if unknown:
        raise ValidationFailed(f"Unknown BANT field: {unknown[0]}.", field=f"bant.{unknown[0]}")
    cleaned: dict[str, str] = {}
    for name in BANT_FIELDS:
        value = bant.get(name)
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise ValidationFailed(f"Answer the {name} question.", field=f"bant.{name}")
        if len(text) > BANT_MAX_LENGTH:
            raise ValidationFailed(
                f"The {name} answer is longer than {BANT_MAX_LENGTH} characters.",
                field=f"bant.{name}",
            )
        cleaned[name] = text
    return cleaned


def handoff_qualify(
    *, handoff: Handoff, actor: Any, bant: dict, note: str = "", now: dt.datetime | None = None
) -> Handoff:
    """After the first conversation the rep qualifies the SAL as an SQL, with the BANT answers."""
    now = now or timezone.now()
    cleaned = _clean_bant(bant)
    _require_worker(handoff, actor, "qualify")
    check_move(handoff.status, Status.QUALIFIED)
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=Status.QUALIFIED,
            actor=actor,
            now=now,
            reason="qualified",
            note=note,
            payload={"bant": cleaned},
            fields={"qualified_at": now, "bant": cleaned, "closed_at": now},
        )
        lead = _lock_lead(handoff)
        _move_lead(
            lead=lead,
            to_stage=Stage.SQL,
            actor=actor,
            now=now,
            reason=f"Qualified by sales (handoff #{handoff.pk})",
        )
        publish_handoff_event("handoff.qualified", handoff=handoff, now=now)
    return handoff


def handoff_return(
    *,
    handoff: Handoff,
    actor: Any,
    reason_code: str,
    note: str = "",
    lead_effect: str = "recycle",
    recycle_until: dt.datetime | None = None,
    effect_note: str = "",
    now: dt.datetime | None = None,
) -> Handoff:
    """Sales sends the lead back: recycled to nurture until `recycle_until`, or disqualified, in
    the same transaction. The feedback app wraps this with its reason rules."""
    now = now or timezone.now()
    reason_code = (reason_code or "").strip()
    if not reason_code:
        raise ValidationFailed(
            "Give a reason for the return.", code="reason_required", field="reason"
        )
    if lead_effect not in LEAD_EFFECTS:
        raise ValidationFailed(
            f"lead_effect must be one of {', '.join(LEAD_EFFECTS)}.", field="lead_effect"
        )
    _require_worker(handoff, actor, "return")
    check_move(handoff.status, Status.RETURNED)
    if lead_effect == "recycle":
        recycle_until = recycle_until or now + dt.timedelta(days=DEFAULT_RECYCLE_DAYS)
        if recycle_until <= now:
            raise ValidationFailed("recycle_until must be in the future.", field="recycle_until")
    else:
        recycle_until = None
    was_pending = handoff.status == Status.PENDING
    late = was_pending and handoff.due_at is not None and now > handoff.due_at
    fields: dict[str, Any] = {
        "returned_at": now,
        "return_reason_code": reason_code[:50],
        "return_note": note,
        "closed_at": now,
    }
    if was_pending:
        fields["responded_at"] = now
    # No savepoint: the feedback app calls this inside its own transaction and catches nothing,
    # and on the busiest write path a savepoint is two more round trips.
    with transaction.atomic(savepoint=False):
        event = _transition(
            handoff=handoff,
            to_status=Status.RETURNED,
            actor=actor,
            now=now,
            reason=reason_code,
            note=note,
            payload={
                "lead_effect": lead_effect,
                "recycle_until": _iso(recycle_until),
                "effect_note": effect_note,
                "late": late,
            },
            fields=fields,
        )
        to_stage = Stage.RECYCLED if lead_effect == "recycle" else Stage.DISQUALIFIED
        lead = _lock_and_move_lead(
            handoff,
            to_stage=to_stage,
            actor=actor,
            now=now,
            reason=f"Returned by sales: {reason_code}"
            + (f" ({effect_note})" if effect_note else ""),
            extra_fields={"recycle_until": recycle_until},
            count_return=True,
            queue_rescore=False,
        )
        notify(
            kind=Notification.Kind.RETURNED,
            handoff=handoff,
            recipients=[handoff.promoted_by, lead.owner],
            event=event,
            now=now,
            body=f"Returned ({reason_code}): {note or '-'}"
            + (f"\n{effect_note}" if effect_note else ""),
            send=False,
        )
        # The sender and the rescore in one INSERT, published by the outbox relay: the request
        # neither talks to the broker nor updates the outbox rows after commit.
        tasks: list[tuple[str, dict[str, Any]]] = [("handoff.tasks.notifications_send", {})]
        if to_stage == Stage.RECYCLED:
            tasks.append(("leads.tasks.lead_rescore", {"lead_id": lead.pk}))
        enqueue_tasks_for_relay(tasks)
        publish_handoff_event(
            "handoff.returned",
            handoff=handoff,
            now=now,
            reason=reason_code,
            lead_effect=lead_effect,
        )
    return handoff


def handoff_reassign(
    *,
    handoff: Handoff,
    actor: Any = None,
    to_rep: Any = None,
    reason: str = "",
    automatic: bool = False,
    now: dt.datetime | None = None,
) -> Handoff:
    """Give a pending handoff to another rep: the old one becomes `reassigned` and a new attempt
    starts with a fresh deadline and the same packet. Returns the NEW handoff.

    By a manager (to a chosen rep, or the next one in the rotation), or by the sweep on breach
    (automatic=True). Nobody available: the new attempt waits in the manager's queue."""
    now = now or timezone.now()
    if not automatic and not is_manager(actor):
        raise Forbidden("Only a sales manager can reassign a handoff.")
    if to_rep is not None:
        if not (to_rep.is_active and is_rep(to_rep)):
            raise ValidationFailed(
                f"{to_rep.get_username()} is not an active sales rep.", field="to_rep"
            )
        if to_rep.pk == handoff.assigned_to_id:
            raise ValidationFailed(
                f"The handoff is already assigned to {to_rep.get_username()}.", field="to_rep"
            )
    check_move(handoff.status, Status.REASSIGNED)
    snap = handoff.policy_snapshot or {}
    calendar = handoff_calendar(handoff)
    minutes = snap.get("accept_within_minutes")
    if minutes is None:
        minutes = round(_business_minutes_or_zero(handoff.created_at, handoff.due_at, calendar))
    due_at, at_risk_at = _deadlines(now, minutes, float(snap.get("at_risk_ratio", 0.75)), calendar)
    reason = reason or ("automatic: SLA breached" if automatic else "reassigned by a manager")
    team = handoff.team
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=Status.REASSIGNED,
            actor=actor,
            now=now,
            reason=reason,
            payload={
                "automatic": automatic,
                "from_rep": _user_ref(handoff.assigned_to),
                "to_rep": _user_ref(to_rep),
                "next_attempt": handoff.attempt + 1,
            },
            fields={"closed_at": now},
        )
        choice: RepChoice | None = None
        if to_rep is None and team is not None:
            exclude = {handoff.assigned_to_id} if handoff.assigned_to_id else set()
            choice = pick_rep(
                team=team,
                now=now,
                skip_off_hours=bool(snap.get("skip_reps_off_hours")),
                exclude_rep_ids=exclude,
            )
            if choice.rep is None and not automatic:
                # A new attempt with nobody on it would go straight back to the manager's
                # queue with a fresh clock: refuse, and say who could take it and when.
                raise Conflict(
                    nobody_available_message(team=team, now=now, choice=choice),
                    code="nobody_available",
                    field="to_rep",
                )
            _advance_rotation(team, choice)
        by = actor.get_username() if actor is not None else "the SLA sweep"
        if to_rep is not None:
            rule = f"reassigned by {by} to {to_rep.get_username()}"
        elif automatic:
            rule = "reassigned on breach to the next rep in the rotation"
        else:
            rule = f"reassigned by {by} to the next rep in the rotation"
        rule += f" (attempt {handoff.attempt + 1})"
        routing = _routing(
            team=team,
            rule=rule,
            matched={},
            policy=snap or {"id": handoff.policy_id, "name": "", "version": None},
            choice=choice,
            now=now,
            lead=handoff.lead,
            chosen_by=actor,
            to_rep=to_rep,
        )
        routing["previous"] = {"id": handoff.pk, "rep": _user_ref(handoff.assigned_to)}
        try:
            with transaction.atomic():
                new = Handoff.objects.create(
                    lead_id=handoff.lead_id,
                    promoted_by_id=handoff.promoted_by_id,
                    assigned_to=to_rep if to_rep is not None else (choice.rep if choice else None),
                    team=team,
                    policy_id=handoff.policy_id,
                    policy_snapshot=handoff.policy_snapshot,
                    calendar_id=handoff.calendar_id,
                    status=Status.PENDING,
                    context_note=handoff.context_note,
                    score_snapshot=handoff.score_snapshot,
                    lead_source=handoff.lead_source,
                    lead_campaign_id=handoff.lead_campaign_id,
                    score_breakdown=handoff.score_breakdown,
                    engagement_snapshot=handoff.engagement_snapshot,
                    history_snapshot=handoff.history_snapshot,
                    routing=routing,
                    attempt=handoff.attempt + 1,
                    previous=handoff,
                    created_at=now,
                    due_at=due_at,
                    at_risk_at=at_risk_at,
                    auto_rule_id=handoff.auto_rule_id,
                    auto_promotion=handoff.auto_promotion,
                    signal_at=handoff.signal_at,
                    signal_received_at=handoff.signal_received_at,
                )
        except IntegrityError as exc:
            raise HandoffConflict("The lead got another open handoff at the same moment.") from exc
        new.lead = handoff.lead
        event = HandoffEvent.objects.create(
            handoff=new,
            kind=HandoffEvent.Kind.ASSIGNED if new.assigned_to_id else HandoffEvent.Kind.UNASSIGNED,
            to_status=Status.PENDING,
            actor=actor,
            reason=reason[:100],
            at=now,
            payload={
                "previous": handoff.pk,
                "attempt": new.attempt,
                "automatic": automatic,
                "rep": routing["rep"],
                "due_at": _iso(due_at),
            },
        )
        publish_handoff_event(
            "handoff.reassigned",
            handoff=handoff,
            now=now,
            automatic=automatic,
            next_handoff_id=new.pk,
        )
        _announce(handoff=new, event=event, now=now)
    return new


def nobody_available_message(*, team: Team, now: dt.datetime, choice: RepChoice) -> str:
    """ "Nobody in Inside Sales can take it now. Rob Rep: outside working hours (US East),
    back Mon 8 Dec 09:00 EST; Olga Rep: marked away." """
    people = who_could_take_it(team=team, now=now, choice=choice)
    parts = []
    for person in people:
        when = f", back {local_words(person['from'])}" if person["from"] else ""
        parts.append(f"{person['username']}: {person['detail']}{when}")
    who = "; ".join(parts) if parts else "the team has nobody in its rotation"
    return (
        f"Nobody in {team.name} can take it now ({who}). Nothing was changed: pick a rep, take "
        "it yourself, or assign it when someone is back."
    )


def reassign_preview(*, handoff: Handoff, now: dt.datetime | None = None) -> dict[str, Any]:
    """Who "next in rotation" would give the handoff to now, as the promotion preview does;
    when nobody, who could take it and from when. Writes nothing."""
    now = now or timezone.now()
    team = handoff.team
    if team is None:
        return {"rep": None, "message": "No team: pick a rep.", "people": []}
    skip_off_hours = bool((handoff.policy_snapshot or {}).get("skip_reps_off_hours"))
    exclude = {handoff.assigned_to_id} if handoff.assigned_to_id else set()
    choice = pick_rep(
        team=team, now=now, skip_off_hours=skip_off_hours, lock=False, exclude_rep_ids=exclude
    )
    if choice.rep is not None:
        return {"rep": _user_ref(choice.rep), "rep_name": _name(choice.rep), "people": []}
    return {
        "rep": None,
        "message": nobody_available_message(team=team, now=now, choice=choice),
        "people": who_could_take_it(team=team, now=now, choice=choice),
    }


def _name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def _business_minutes_or_zero(
    a: dt.datetime | None, b: dt.datetime | None, calendar: sla.Calendar
) -> float:
    if a is None or b is None:
        return 0.0
    return sla.business_minutes_between(a, b, calendar)


def handoff_log_first_touch(
    *, handoff: Handoff, actor: Any, channel: str, note: str = "", now: dt.datetime | None = None
) -> Handoff:
    """The rep reached the lead (call, email or meeting): stops the first-touch clock."""
    now = now or timezone.now()
    if channel not in FIRST_TOUCH_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(FIRST_TOUCH_CHANNELS)}.", field="channel"
        )
    _require_worker(handoff, actor, "log a first touch on")
    if handoff.status != Status.ACCEPTED:
        raise InvalidTransition(
            f"This handoff is {Status(handoff.status).label.lower()} now: a first touch is "
            "logged on an accepted handoff only.",
            current_status=handoff.status,
        )
    if handoff.first_touch_at is not None:
        raise Conflict(
            f"The first touch was already logged at {handoff.first_touch_at:%Y-%m-%d %H:%M} UTC.",
            code="first_touch_logged",
        )
    due = handoff.first_touch_due_at
    late = due is not None and now > due
    with transaction.atomic():
        _transition(
            handoff=handoff,
            to_status=None,
            actor=actor,
            now=now,
            kind=HandoffEvent.Kind.FIRST_TOUCH,
            reason=channel,
            note=note,
            payload={"channel": channel, "late": late, "due_at": _iso(due)},
            fields={"first_touch_at": now, "first_touch_channel": channel},
            guard=Q(first_touch_at__isnull=True),
        )
    return handoff


# --- admin-side writes ------------------------------------------------------------------------


def sla_policy_save(*, policy: SlaPolicy, actor: Any = None) -> SlaPolicy:
    """Save a policy; an edit bumps its version (handoffs keep the version they were timed by)."""
    with transaction.atomic():
        audited(policy, actor=actor)
        if policy.pk is None:
            policy.version = 1
            policy.save()
            return policy
        current = (
            SlaPolicy.objects.select_for_update()
            .values_list("version", flat=True)
            .get(pk=policy.pk)
        )
        policy.version = current + 1
        policy.save()
    return policy


def calendar_touch(*, calendar: BusinessCalendar) -> None:
    """Mark a calendar changed (after editing its windows or dates), retiring cached copies."""
    now = timezone.now()
    BusinessCalendar.objects.filter(pk=calendar.pk).update(updated_at=now)
    calendar.updated_at = now

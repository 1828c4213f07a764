"""Writes of the feedback loop: sales returns a handoff with a reason, marketing reviews it,
managers settle disputes and reopen leads. Keyword-only, atomic, `now` injected."""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from core import roles
from core.errors import Conflict, Forbidden, ValidationFailed
from feedback.models import RejectionReason, ReturnFeedback
from handoff.models import Handoff, Notification
from handoff.notifications import notify
from handoff.webhook_events import publish_handoff_event
from leads.events import listening
from leads.models import Lead, Stage
from leads.services import lead_change_stage

Effect = RejectionReason.Effect


# Reasons by code, remembered per process for REASON_CACHE_SECONDS (a return looked its reason
# up on every request). Saving or deleting a reason forgets them in this process at once
# (feedback.apps connects the signals); other processes within REASON_CACHE_SECONDS.
_reasons: dict[str, tuple[RejectionReason | None, float]] = {}
REASON_CACHE_SECONDS = 30.0


def forget_reasons(*args: Any, **kwargs: Any) -> None:
    _reasons.clear()


def _reason_named(code: str) -> RejectionReason | None:
    now = time.monotonic()
    hit = _reasons.get(code)
    if hit is not None and hit[1] > now:
        return copy.copy(hit[0]) if hit[0] is not None else None
    found = RejectionReason.objects.filter(code=code).first()
    if found is not None:  # unknown codes are not remembered: the cache holds real reasons only
        if len(_reasons) > 1000:
            _reasons.clear()
        _reasons[code] = (copy.copy(found), now + REASON_CACHE_SECONDS)
    return found


def _resolve_reason(reason: RejectionReason | str | None) -> RejectionReason:
    """The active reason named by a code or instance; a clear error naming `reason` otherwise.

    An instance is looked up again by its code, so a reason deactivated in the admin a moment
    ago is refused."""
    code = reason.code if isinstance(reason, RejectionReason) else (reason or "").strip()
    if not code:
        raise ValidationFailed(
            "Pick a reason for returning the lead.", code="reason_required", field="reason"
        )
    found = _reason_named(code)
    if found is None:
        raise ValidationFailed(
            f"There is no return reason {code!r}.", code="invalid_reason", field="reason"
        )
    if not found.active:
        raise ValidationFailed(
            f"The reason \u201c{found.label}\u201d is no longer in use; pick another.",
            code="invalid_reason",
            field="reason",
        )
    return found


def _recycle_cap() -> int:
    return int(getattr(settings, "RECYCLE_CAP", 3) or 0)


def return_effect(
    *, reason: RejectionReason, return_count: int, now: dt.datetime
) -> tuple[str, dt.datetime | None, str]:
    """What a return does to the lead: (effect, recycle_until, effect_note), given how many times
    it was returned before. Pure: the rules in one place, read by the service and the preview.

    The recycle cap: the Nth return (N = settings.RECYCLE_CAP) disqualifies instead of
    recycling, and says so, so marketing knows why the lead left nurture for good.
    """
    nth = return_count + 1
    cap = _recycle_cap()
    if reason.effect == Effect.DISQUALIFY:
        return (
            Effect.DISQUALIFY,
            None,
            f"Disqualified: \u201c{reason.label}\u201d disqualifies the lead.",
        )
    if cap and nth >= cap:
        return (
            Effect.DISQUALIFY,
            None,
            f"Disqualified instead of recycled: this is return {nth} of this lead and the "
            f"recycle cap is {cap}. A sales manager can reopen it.",
        )
    until = now + dt.timedelta(days=reason.recycle_days)
    return (
        Effect.RECYCLE,
        until,
        f"Recycled to nurture until {until:%Y-%m-%d} (return {nth}"
        + (f"; return {cap} disqualifies)." if cap else ")."),
    )


def _check_can_return(*, handoff: Handoff, actor: Any) -> None:
    if roles.is_manager(actor):
        return
    if roles.is_rep(actor) and handoff.assigned_to_id == actor.pk:
        return
    if roles.is_rep(actor):
        raise Forbidden("Only the rep the handoff is assigned to may return it.")
    raise Forbidden("Only sales (the assigned rep or a manager) may return a handoff.")


def feedback_return_handoff(
    *,
    handoff: Handoff,
    actor: Any,
    reason: RejectionReason | str | None,
    note: str = "",
    now: dt.datetime | None = None,
) -> ReturnFeedback:
    """Sales returns a handoff to marketing with a reason (and a note where the reason asks).

    In one transaction: the handoff moves to `returned` (handoff.services.handoff_return claims
    it, writes its event, moves the lead to recycled or disqualified and records the stage
    change), and the feedback row for marketing's review queue is written. Bad input raises
    before anything is written; a lost race raises HandoffConflict (409) and writes nothing.
    """
    from handoff.services import handoff_return

    now = now or timezone.now()
    _check_can_return(handoff=handoff, actor=actor)
    reason_obj = _resolve_reason(reason)
    note = (note or "").strip()
    if reason_obj.note_required and not note:
        raise ValidationFailed(
            f"\u201c{reason_obj.label}\u201d needs a note saying what was wrong.",
            code="note_required",
            field="note",
        )
    with transaction.atomic():
        # No lock on the lead here: the claim inside handoff_return serialises returns of this
        # handoff, and the one-open-handoff-per-lead constraint means no other return of the
        # same lead can run at the same time, so the count read now is the count the return
        # bumps. (Locking the lead before the handoff would invert the accept path's lock order
        # and deadlock against a concurrent accept.)
        # The lead read with the handoff a moment ago has the same count (nothing else
        # returns it meanwhile, for the reason above); read it only when not at hand.
        lead = handoff._state.fields_cache.get("lead")
        if lead is not None:
            return_count = lead.return_count
        else:
            return_count = Lead.objects.filter(pk=handoff.lead_id).values_list(
                "return_count", flat=True
            )[0]
        effect, recycle_until, effect_note = return_effect(
            reason=reason_obj, return_count=return_count, now=now
        )
        updated = handoff_return(
            handoff=handoff,
            actor=actor,
            reason_code=reason_obj.code,
            note=note,
            lead_effect=effect,
            recycle_until=recycle_until,
            effect_note=effect_note,
            now=now,
        )
        return ReturnFeedback.objects.create(
            handoff=updated,
            lead_id=updated.lead_id,
            reason=reason_obj,
            note=note,
            returned_by=actor,
            returned_at=now,
            lead_effect=effect,
            effect_note=effect_note[:200],
            recycle_until=recycle_until,
        )


def feedback_acknowledge(
    *,
    feedback: ReturnFeedback,
    actor: Any,
    reply: str = "",
    follow_up: str = "",
    now: dt.datetime | None = None,
) -> ReturnFeedback:
    """Marketing has read a return: optionally a reply to sales and a follow-up action.

    `follow_up="dispute"` sends the return to the sales managers' dispute queue, and then the
    reply (why marketing disagrees) is required. Acknowledging twice is a conflict (409): the
    second marketer lost the race and the first one's reply stands.
    """
    now = now or timezone.now()
    if not roles.is_marketer(actor):
        raise Forbidden("Only marketing acknowledges returned leads.")
    follow_up = (follow_up or "").strip()
    if follow_up not in ReturnFeedback.FollowUp.values:
        raise ValidationFailed(
            f"Unknown follow-up {follow_up!r}; use one of "
            f"{', '.join(v for v in ReturnFeedback.FollowUp.values if v)} or leave it empty.",
            code="invalid_follow_up",
            field="follow_up",
        )
    reply = (reply or "").strip()
    disputed = follow_up == ReturnFeedback.FollowUp.DISPUTE
    if disputed and not reply:
        raise ValidationFailed(
            "Say why you dispute the return: the sales manager reads it.",
            code="reply_required",
            field="reply",
        )
    fields: dict[str, Any] = {
        "acknowledged_at": now,
        "acknowledged_by": actor,
        "reply": reply,
        "follow_up": follow_up,
    }
    if disputed:
        fields["dispute_status"] = ReturnFeedback.DisputeStatus.OPEN
    with transaction.atomic():
        claimed = ReturnFeedback.objects.filter(
            pk=feedback.pk, acknowledged_at__isnull=True
        ).update(**fields)
        if not claimed:
            raise Conflict(
                "This return was already acknowledged by someone else.",
                code="already_acknowledged",
            )
        handoff = None
        if disputed:
            handoff = _handoff_for_message(feedback)
            notify(
                kind=Notification.Kind.DISPUTED,
                handoff=handoff,
                recipients=_managers_for(handoff),
                now=now,
                body=f"Marketing ({actor.get_username()}) says: {reply}",
            )
        if listening():
            handoff = handoff or _handoff_for_message(feedback)
            feedback_data = {
                "id": feedback.pk,
                "follow_up": follow_up,
                "acknowledged_by": {"id": actor.pk, "username": actor.get_username()},
            }
            publish_handoff_event(
                "feedback.acknowledged", handoff=handoff, now=now, feedback=feedback_data
            )
            if disputed:
                publish_handoff_event(
                    "feedback.disputed", handoff=handoff, now=now, feedback=feedback_data
                )
    for name, value in fields.items():
        setattr(feedback, name, value)
    return feedback


def _handoff_for_message(feedback: ReturnFeedback) -> Handoff:
    return Handoff.objects.select_related("lead", "team__manager", "assigned_to", "calendar").get(
        pk=feedback.handoff_id
    )


def _managers_for(handoff: Handoff) -> list[Any]:
    """Who settles a dispute: the team's manager, else every active sales manager (the rule
    the SLA escalations follow)."""
    manager = handoff.team.manager if handoff.team is not None else None
    if manager is not None and manager.is_active and manager.email:
        return [manager]
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=roles.SALES_MANAGER)
        .exclude(email="")
        .order_by("id")
    )


def feedback_resolve_dispute(
    *,
    feedback: ReturnFeedback,
    actor: Any,
    upheld: bool,
    resolution: str,
    now: dt.datetime | None = None,
) -> ReturnFeedback:
    """A sales manager settles marketing's dispute of a return.

    Upheld: the return stands. Overturned: the return is marked overturned, it no longer counts
    towards the lead's recycle cap, and if it is still the lead's latest return and the lead is
    still recycled or disqualified by it, the lead goes back to stage `lead` with no cooldown,
    so marketing may promote it again at once (promotion stays marketing's act).
    """
    now = now or timezone.now()
    if not roles.is_manager(actor):
        raise Forbidden("Only a sales manager resolves disputes.")
    resolution = (resolution or "").strip()
    if not resolution:
        raise ValidationFailed(
            "Write the resolution: marketing and the rep read it.",
            code="resolution_required",
            field="resolution",
        )
    status = (
        ReturnFeedback.DisputeStatus.UPHELD if upheld else ReturnFeedback.DisputeStatus.OVERTURNED
    )
    fields: dict[str, Any] = {
        "dispute_status": status,
        "dispute_resolved_by": actor,
        "dispute_resolved_at": now,
        "dispute_resolution": resolution,
    }
    with transaction.atomic():
        claimed = ReturnFeedback.objects.filter(
            pk=feedback.pk, dispute_status=ReturnFeedback.DisputeStatus.OPEN
        ).update(**fields)
        if not claimed:
            current = (
                ReturnFeedback.objects.filter(pk=feedback.pk)
                .values_list("dispute_status", flat=True)
                .first()
            )
            if current in (
                ReturnFeedback.DisputeStatus.UPHELD,
                ReturnFeedback.DisputeStatus.OVERTURNED,
            ):
                raise Conflict(
                    "Another manager already resolved this dispute.", code="already_resolved"
                )
            raise Conflict("This return is not disputed.", code="no_open_dispute")
        if upheld:
            message = f"The return stands. {resolution}"
        elif _overturn_return(feedback=feedback, actor=actor, resolution=resolution, now=now):
            message = (
                f"The return is overturned: the lead is open again for marketing to promote. "
                f"{resolution}"
            )
        else:
            message = (
                "The return is overturned and no longer counts towards the recycle cap; the "
                f"lead has moved on since, so its stage is unchanged. {resolution}"
            )
        people = ReturnFeedback.objects.select_related("acknowledged_by", "returned_by").get(
            pk=feedback.pk
        )
        notify(
            kind=Notification.Kind.DISPUTE_RESOLVED,
            handoff=_handoff_for_message(feedback),
            recipients=[people.acknowledged_by, people.returned_by],
            now=now,
            body=message,
        )
    for name, value in fields.items():
        setattr(feedback, name, value)
    return feedback


def _overturn_return(
    *, feedback: ReturnFeedback, actor: Any, resolution: str, now: dt.datetime
) -> bool:
    """Take the return off the lead's count; reopen the lead if this return is what parked it.
    Returns whether the lead was reopened."""
    Lead.objects.filter(pk=feedback.lead_id).update(
        return_count=Greatest(F("return_count") - 1, 0), updated_at=now
    )
    lead = Lead.objects.select_for_update().get(pk=feedback.lead_id)
    later_return = (
        ReturnFeedback.objects.filter(lead_id=lead.pk, returned_at__gt=feedback.returned_at)
        .exclude(pk=feedback.pk)
        .exists()
    )
    if later_return or lead.stage not in (Stage.RECYCLED, Stage.DISQUALIFIED):
        return False
    lead_change_stage(
        lead=lead,
        to_stage=Stage.LEAD,
        actor=actor,
        reason=f"Return overturned by a sales manager: {resolution}"[:500],
        now=now,
        extra_fields={"recycle_until": None},
    )
    return True

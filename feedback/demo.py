"""Demo data for the feedback loop (called by `manage.py seed_demo` after leads.demo and
handoff.demo): the reason taxonomy, a few weeks of decided handoffs so the analytics have
something to show, feedback rows for returned handoffs that lack one, and marketing's answers
(some acknowledged with replies, one disputed).

Everything goes through the real services with `now` in the past (promote, accept, qualify,
return), so the history obeys the same rules as live use. Idempotent: the history is made once
(its handoffs carry HISTORY_NOTE), and only missing feedback rows are added.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction
from django.db.models import F

from core.errors import DomainError
from feedback import services
from feedback.models import RejectionReason, ReturnFeedback
from feedback.taxonomy import ensure_default_reasons
from handoff.models import Handoff, Notification, SlaPolicy, Team
from handoff.services import handoff_accept, handoff_promote, handoff_qualify
from handoff.states import Status
from leads.models import FitRule, Lead, Stage

HISTORY_NOTE = "Demo history: promoted in an earlier week."
HISTORY_MAX = 160
# The rule each fit reason says was wrong, when leads.demo installed the default rules.
CONTRADICTS = {"not-icp": "200+ employees", "student": "Student or intern"}
NOTES = {
    "not-icp": ["Only 8 people, no sales team.", "Agency reselling, not an end user."],
    "no-authority": ["Intern doing research; CTO is the buyer.", "Wrong department (HR)."],
    "bad-data": ["Phone number bounces.", "Email domain does not exist."],
    "duplicate": ["Same person as an open opportunity.", "Already in the pipeline via partner."],
}
REPLIES = [
    "Thanks, added to the Q3 nurture track.",
    "Fixed the contact data from the enrichment tool.",
    "Lowered the points for this campaign's leads.",
    "Noted: we will exclude agencies from this list.",
]
BANT = {
    "budget": "Approved for this year.",
    "authority": "Head of sales ops signs.",
    "need": "Manual routing is losing leads.",
    "timeline": "Wants to start next quarter.",
}


def _link_rules() -> None:
    for code, rule_name in CONTRADICTS.items():
        rule = FitRule.objects.filter(name=rule_name).first()
        if rule is not None:
            RejectionReason.objects.filter(code=code, contradicts_rule__isnull=True).update(
                contradicts_rule=rule
            )


def _business_moment(day: dt.datetime, rng: random.Random) -> dt.datetime:
    """A weekday mid-morning in New York (14:00-17:00 UTC), on or after `day`."""
    moment = day.replace(
        hour=14 + rng.randrange(0, 3), minute=rng.randrange(0, 60), second=0, microsecond=0
    )
    while moment.weekday() >= 5:
        moment += dt.timedelta(days=1)
    return moment


def _return_reason(lead: Lead, rng: random.Random) -> str:
    email_domain = lead.email.rsplit("@", 1)[-1]
    if "student" in lead.title.lower() or "intern" in lead.title.lower():
        return "student"
    if lead.employee_band in ("1-10", "11-50"):
        return "not-icp"
    if email_domain in ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com"):
        return rng.choice(["bad-data", "student", "spam"])
    return rng.choices(
        ["not-ready", "no-budget", "no-authority", "bad-data", "duplicate", "competitor"],
        weights=[30, 22, 16, 12, 8, 3],
    )[0]


def _history(*, rng: random.Random, now: dt.datetime, users: dict[str, Any], stdout: Any) -> int:
    """Promote a share of the older leads in past weeks and record what sales decided, with the
    odds of acceptance rising with the score (so the threshold advisor has a story to tell)."""
    if Handoff.objects.filter(context_note=HISTORY_NOTE).exists():
        return 0
    marketer = users.get("maria")
    manager = users.get("nina")
    if marketer is None or not Team.objects.filter(active=True).exists():
        stdout.write("Feedback history skipped: no teams yet (handoff.demo makes them).")
        return 0
    if not SlaPolicy.objects.filter(active=True).exists():
        stdout.write("Feedback history skipped: no SLA policies yet (handoff.demo makes them).")
        return 0
    cutoff = now - dt.timedelta(days=4)
    candidates = list(
        Lead.objects.filter(stage=Stage.LEAD, created_at__lt=cutoff, erased_at__isnull=True)
        .exclude(handoffs__isnull=False)
        .order_by("id")
    )
    rng.shuffle(candidates)
    # Leave most of the leads that are ready for sales now to the live demo (a marketer promotes
    # one of them); a third of them give the history its high scores.
    ready_quota = sum(1 for lead in candidates if lead.ready_for_sales) // 3
    picked = []
    for lead in candidates:
        if lead.ready_for_sales:
            if ready_quota <= 0:
                continue
            ready_quota -= 1
        picked.append(lead)
    made = 0
    for lead in picked[: min(HISTORY_MAX, len(candidates) * 2 // 5)]:
        promoted_at = _business_moment(lead.created_at + dt.timedelta(days=rng.randint(1, 3)), rng)
        decided_at = promoted_at + dt.timedelta(minutes=rng.randint(5, 240))
        if decided_at >= cutoff:
            continue
        try:
            with transaction.atomic():
                handoff = handoff_promote(
                    lead=lead, actor=marketer, note=HISTORY_NOTE, now=promoted_at
                )
                rep = handoff.assigned_to or manager
                p_accept = min(0.92, max(0.08, 0.1 + (handoff.score_snapshot - 25) / 75 * 0.8))
                if rng.random() < p_accept:
                    handoff_accept(handoff=handoff, actor=rep, now=decided_at)
                    if rng.random() < 0.55:
                        handoff_qualify(
                            handoff=handoff,
                            actor=rep,
                            bant=BANT,
                            now=decided_at + dt.timedelta(days=rng.randint(1, 3)),
                        )
                else:
                    reason = _return_reason(lead, rng)
                    services.feedback_return_handoff(
                        handoff=handoff,
                        actor=rep,
                        reason=reason,
                        note=rng.choice(NOTES.get(reason, [""])),
                        now=decided_at,
                    )
        except DomainError as exc:  # e.g. no team takes this lead: skip it, keep the rest
            stdout.write(f"  history: lead {lead.pk} skipped ({exc.message})")
            continue
        made += 1
    # History is history: its notifications were delivered back then, not to be sent now.
    Notification.objects.filter(handoff__context_note=HISTORY_NOTE, sent_at__isnull=True).update(
        sent_at=F("created_at")
    )
    return made


def _attach_missing_feedback(*, now: dt.datetime) -> int:
    """Feedback rows for returned handoffs that have none (handoff.demo returns them with a bare
    reason code); the reason comes from the code, the effect from what happened to the lead."""
    reasons = {r.code: r for r in RejectionReason.objects.all()}
    fallback = reasons.get("not-ready") or next(iter(reasons.values()))
    rows = []
    for handoff in Handoff.objects.filter(
        status=Status.RETURNED, feedback__isnull=True
    ).select_related("lead"):
        reason = reasons.get(handoff.return_reason_code, fallback)
        disqualified = handoff.lead.stage == Stage.DISQUALIFIED
        effect = (
            RejectionReason.Effect.DISQUALIFY if disqualified else RejectionReason.Effect.RECYCLE
        )
        rows.append(
            ReturnFeedback(
                handoff=handoff,
                lead=handoff.lead,
                reason=reason,
                note=handoff.return_note,
                returned_by=handoff.assigned_to,
                returned_at=handoff.returned_at or handoff.closed_at or now,
                lead_effect=effect,
                effect_note="Disqualified." if disqualified else "Recycled to nurture.",
                recycle_until=None if disqualified else handoff.lead.recycle_until,
            )
        )
    ReturnFeedback.objects.bulk_create(rows)
    return len(rows)


def _answers(*, rng: random.Random, now: dt.datetime, users: dict[str, Any]) -> tuple[int, int]:
    """Marketing acknowledges the older half of the returns (with a reply now and then) and
    disputes one, so the queue shows both sides. Only when nothing was answered yet."""
    marketer = users.get("maria") or users.get("mark")
    if marketer is None or ReturnFeedback.objects.filter(acknowledged_at__isnull=False).exists():
        return 0, 0
    waiting = list(ReturnFeedback.objects.order_by("returned_at", "id"))
    acknowledged, disputed = 0, 0
    for feedback in waiting[: len(waiting) // 2]:
        at = min(now, feedback.returned_at + dt.timedelta(hours=rng.randint(2, 48)))
        if not disputed and feedback.reason.category == RejectionReason.Category.FIT:
            services.feedback_acknowledge(
                feedback=feedback,
                actor=marketer,
                reply="They downloaded three guides and asked for pricing: please look again.",
                follow_up=ReturnFeedback.FollowUp.DISPUTE,
                now=at,
            )
            disputed += 1
        else:
            follow_up = rng.choice(["", "nurture", "nurture", "fix_data"])
            services.feedback_acknowledge(
                feedback=feedback,
                actor=marketer,
                reply=rng.choice(REPLIES) if rng.random() < 0.6 else "",
                follow_up=follow_up,
                now=at,
            )
        acknowledged += 1
    # Answered in the past: the managers were told back then.
    Notification.objects.filter(
        kind=Notification.Kind.DISPUTED, sent_at__isnull=True, created_at__lte=now
    ).update(sent_at=F("created_at"))
    return acknowledged, disputed


def _digest_history(*, now: dt.datetime) -> int:
    """The digest each recipient last got, as sent at its moment (the latest send weekday at
    DIGEST_SEND_HOUR in their zone): the admin shows last week's digest went out, and beat at
    demo start sends nobody a digest that was history. A recipient whose Monday morning is
    still to come gets it live from beat."""
    from django.conf import settings

    from feedback import digest
    from feedback.models import DigestDelivery
    from handoff import timezones

    recipients = digest.digest_recipients()
    names = timezones.zone_names_for(user.pk for user in recipients)
    rows = []
    for user in recipients:
        local = now.astimezone(timezones.zone(names[user.pk]))
        back = (local.weekday() - settings.DIGEST_SEND_WEEKDAY) % 7
        day = local.date() - dt.timedelta(days=back)
        moment = dt.datetime.combine(day, dt.time(settings.DIGEST_SEND_HOUR), tzinfo=local.tzinfo)
        if moment > local:
            day -= dt.timedelta(weeks=1)
            moment = dt.datetime.combine(
                day, dt.time(settings.DIGEST_SEND_HOUR), tzinfo=local.tzinfo
            )
        rows.append(
            DigestDelivery(
                week=digest.last_week(day).label,
                recipient=user,
                email=user.email,
                created_at=moment,
                next_attempt_at=moment,
                attempts=1,
                sent_at=moment,
            )
        )
    DigestDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def seed(
    *,
    rng: random.Random,
    now: dt.datetime,
    users: dict[str, Any],
    lead_count: int,
    stdout: Any,
    **_: Any,
) -> None:
    created_reasons = ensure_default_reasons(RejectionReason)
    _link_rules()
    history = _history(rng=rng, now=now, users=users, stdout=stdout)
    attached = _attach_missing_feedback(now=now)
    acknowledged, disputed = _answers(rng=rng, now=now, users=users)
    _digest_history(now=now)
    stdout.write(
        f"Feedback: {RejectionReason.objects.count()} reasons ({created_reasons} new); "
        f"{history} historical handoffs decided; {attached} returns given feedback rows; "
        f"{acknowledged} acknowledged, {disputed} disputed; "
        f"{ReturnFeedback.objects.filter(acknowledged_at__isnull=True).count()} waiting for "
        "marketing."
    )

"""The weekly alignment digest: one email (HTML and text) to marketing and the sales managers,
built from the same metrics as the dashboard and the feedback report, and the same digest as a
page for any past week.

Each recipient gets it on Monday morning in their own zone (handoff.timezones: the zone they
chose, else their team calendar's, else TIME_ZONE), for the ISO week that just ended there:
beat runs hourly and writes the row of whoever has reached DIGEST_SEND_HOUR on Monday.

Sending is an outbox of its own: one `DigestDelivery` row per ISO week and recipient (a unique
constraint), claimed by a conditional update before the mail goes out and marked sent after.
Beat firing twice, or two workers, cannot send a week twice to anyone; a send that fails is
retried with the notifications' backoff; a worker that dies mid-send leaves its claim, which is
taken again once its lease is over.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone

from core.errors import ValidationFailed
from core.roles import MARKETING, SALES_MANAGER
from feedback import contradictions, selectors
from feedback.models import DigestDelivery
from handoff import metrics, timezones
from handoff.models import Handoff
from handoff.notifications import retry_delay
from pipeline import metrics as revenue

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
TOP_REASONS = 5


@dataclass(frozen=True)
class Week:
    monday: dt.date

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def previous(self) -> Week:
        return Week(self.monday - dt.timedelta(weeks=1))


def parse_week(text: str | None, *, today: dt.date) -> Week:
    """`YYYY-Www` (ISO week), or last week when empty. A malformed or future week raises
    ValidationFailed naming `week`."""
    if not text:
        return last_week(today)
    match = WEEK.match(text.strip())
    if not match:
        raise ValidationFailed("Give an ISO week as YYYY-Www, e.g. 2026-W49.", field="week")
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValidationFailed(f"{text} is not a week of that year.", field="week") from None
    if monday > today:
        raise ValidationFailed("That week has not started yet.", field="week")
    return Week(monday)


def last_week(today: dt.date) -> Week:
    return Week(today - dt.timedelta(days=today.weekday(), weeks=1))


def digest_zone() -> ZoneInfo:
    return ZoneInfo(settings.DIGEST_TIME_ZONE)


# --- building --------------------------------------------------------------------------------


def _week_figures(week: Week) -> dict[str, Any]:
    filters = selectors.MetricsFilters(date_from=week.monday, date_to=week.sunday)
    by_path = {row["key"]: row for row in selectors.outcomes_by("qualification", filters)}
    totals = selectors.outcome_totals(filters)
    compliance = metrics.compliance(
        metrics.SlaFilters(start=week.monday, end=week.sunday), now=timezone.now()
    )
    return {
        "mqls": by_path["mql"]["handoffs"],
        "pqls": by_path["pql"]["handoffs"],
        "acceptance_rate": totals.get("acceptance_rate"),
        "sla_compliance": compliance.get("compliance"),
        "filters": filters,
    }


def _change(now: float | int | None, before: float | int | None) -> float | int | None:
    if now is None or before is None:
        return None
    return round(now - before, 4) if isinstance(now, float) else now - before


def digest_build(week: Week) -> dict[str, Any]:
    """The digest's figures: this week beside the previous one."""
    this, before = _week_figures(week), _week_figures(week.previous)
    start = dt.datetime.combine(week.monday, dt.time.min, tzinfo=digest_zone())
    end = start + dt.timedelta(weeks=1)
    breaches = list(
        Handoff.objects.filter(breached_at__gte=start, breached_at__lt=end)
        .values("team__name")
        .annotate(n=Count("id"))
        .order_by("-n", "team__name")
    )
    filters = this.pop("filters")
    before.pop("filters")
    return {
        "week": week.label,
        "previous_week": week.previous.label,
        "start": week.monday,
        "end": week.sunday,
        "this": this,
        "before": before,
        "change": {key: _change(this[key], before[key]) for key in this},
        "breaches_by_team": [
            {"team": row["team__name"] or "No team", "breaches": row["n"]} for row in breaches
        ],
        "top_reasons": selectors.reason_mix(filters)[:TOP_REASONS],
        "contradicted_rules": [
            r for r in contradictions.contradicted_rules(filters) if r["returns"]
        ][:TOP_REASONS],
        "threshold": selectors.threshold_advisor(filters),
        # Deals won during the week (whenever promoted), by the source they came from.
        "won_by_source": revenue.won_by_source(start=start, end=end),
        "currency": settings.DEFAULT_CURRENCY,
        "site_url": settings.SITE_URL,
    }


def digest_render(digest: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of the email."""
    subject = f"Alignment digest, week {digest['week']}"
    text = render_to_string("feedback/digest_email.txt", {"d": digest})
    html = render_to_string("feedback/digest_email.html", {"d": digest})
    return subject, text, html


# --- sending ---------------------------------------------------------------------------------


def digest_recipients() -> list[Any]:
    """Marketing and the sales managers, active, with an address."""
    return list(
        get_user_model()
        .objects.filter(
            Q(groups__name__in=[MARKETING, SALES_MANAGER]), is_active=True, email__gt=""
        )
        .distinct()
        .order_by("id")
    )


def digest_due(now: dt.datetime, zone: dt.tzinfo | None = None) -> Week | None:
    """The week that just ended in `zone` (default: DIGEST_TIME_ZONE), once it is the send
    moment there (DIGEST_SEND_WEEKDAY from DIGEST_SEND_HOUR on, until that day ends), else
    None. The whole rest of the day counts, so a beat that missed the hour still sends."""
    local = now.astimezone(zone or digest_zone())
    if local.weekday() != settings.DIGEST_SEND_WEEKDAY or local.hour < settings.DIGEST_SEND_HOUR:
        return None
    return last_week(local.date())


def digest_due_recipients(now: dt.datetime) -> list[tuple[Any, Week, str]]:
    """(recipient, week, zone name) for every recipient whose send moment it is in their own
    zone (handoff.timezones: their choice, else their team calendar's, else TIME_ZONE): at any
    instant Auckland may be on Monday morning while Los Angeles is still on Sunday. Two
    queries, whatever the number of recipients."""
    recipients = digest_recipients()
    names = timezones.zone_names_for(user.pk for user in recipients)
    due = []
    for user in recipients:
        week = digest_due(now, timezones.zone(names[user.pk]))
        if week is not None:
            due.append((user, week, names[user.pk]))
    return due


def digest_send_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """What beat runs (hourly by default): write the row of each recipient whose Monday
    morning it is (one per week and recipient, whatever the number of runs), then send every
    due row, this week's and earlier failures alike."""
    now = now or timezone.now()
    _rows_write(now=now, due=[(user, week) for user, week, _name in digest_due_recipients(now)])
    return digest_deliver(now=now)


def _rows_write(*, now: dt.datetime, due: list[tuple[Any, Week]]) -> None:
    # The unique (week, recipient) row is the "once": a second run, or a second worker,
    # conflicts and writes nothing.
    DigestDelivery.objects.bulk_create(
        [
            DigestDelivery(
                week=week.label,
                recipient=user,
                email=user.email,
                created_at=now,
                next_attempt_at=now,
            )
            for user, week in due
        ],
        ignore_conflicts=True,
    )


def digest_send(*, week: Week, now: dt.datetime | None = None) -> dict[str, int]:
    """Send one week's digest to every recipient who has not had it, whatever their zone (the
    command's `--week`): one row per recipient (created once), claimed, sent, marked."""
    now = now or timezone.now()
    _rows_write(now=now, due=[(user, week) for user in digest_recipients()])
    return digest_deliver(now=now, week=week)


def digest_deliver(*, now: dt.datetime | None = None, week: Week | None = None) -> dict[str, int]:
    """Send the due rows (a week's, or any week's retries)."""
    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.NOTIFICATION_SEND_LEASE_SECONDS)
    due = DigestDelivery.objects.filter(
        sent_at__isnull=True,
        attempts__lt=settings.NOTIFICATION_MAX_ATTEMPTS,
        next_attempt_at__lte=now,
    )
    if week is not None:
        due = due.filter(week=week.label)
    result = {"sent": 0, "failed": 0, "skipped": 0}
    rendered: dict[str, tuple[str, str, str]] = {}
    for row in list(due.order_by("id")):
        # The claim: only one worker moves the lease forward from what it read.
        claimed = DigestDelivery.objects.filter(
            pk=row.pk, sent_at__isnull=True, next_attempt_at=row.next_attempt_at
        ).update(next_attempt_at=now + lease)
        if not claimed:
            result["skipped"] += 1
            continue
        if row.week not in rendered:
            year, number = (int(x) for x in row.week.split("-W"))
            rendered[row.week] = digest_render(
                digest_build(Week(dt.date.fromisocalendar(year, number, 1)))
            )
        subject, text, html = rendered[row.week]
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[row.email],
            headers={"Message-ID": f"<digest-{row.week}-{row.recipient_id}@handoff-desk>"},
        )
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except Exception as exc:  # the mail server: retried with backoff, never lost
            attempts = row.attempts + 1
            DigestDelivery.objects.filter(pk=row.pk).update(
                attempts=attempts,
                last_error=str(exc)[:500],
                next_attempt_at=now + retry_delay(attempts),
            )
            result["failed"] += 1
            continue
        DigestDelivery.objects.filter(pk=row.pk).update(
            sent_at=timezone.now(), attempts=row.attempts + 1, last_error=""
        )
        result["sent"] += 1
    return result

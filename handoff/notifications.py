"""The notification outbox: rows written in the transaction that caused them, sent by a task.

Writing: `notify()` (one kind, one handoff, some recipients) adds rows in the caller's
transaction, so a rolled-back transition notifies nobody and a committed one is never lost. The
sweep builds the same rows with `message_values()` and inserts a batch in one statement. Each
message is rendered when the row is written, from the per-kind templates below: the email says
what was true at that moment.

Sending: `notifications_send()` claims due rows (SKIP LOCKED on PostgreSQL) by leasing them,
sends each through Django's email backend outside any transaction, and marks a row sent only
after its send returned. A failure is retried with exponential backoff; a sender killed
mid-send leaves the row leased, and it is sent again once the lease expires (at least once:
each message carries a Message-ID derived from the row, so mail systems can drop a duplicate).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.roles import SALES_MANAGER
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.timezones import ZoneBook
from leads.services import enqueue_task

logger = logging.getLogger(__name__)

Kind = Notification.Kind

# One (subject, body) pair of str.format templates per kind. Plain format strings rather than
# Django templates: the sweep renders thousands in one batch, and these cost microseconds.
TEMPLATES: dict[str, tuple[str, str]] = {
    Kind.ASSIGNED: (
        "New lead for you: {lead} (answer by {due})",
        "{greeting}\n\n{lead} ({company}, score {score}) was handed to you by marketing.\n"
        "Accept it or return it with a reason by {due}.\n\n{context}{message}{link}",
    ),
    Kind.AT_RISK: (
        "At risk: {lead} is due {due}",
        "{greeting}\n\n{lead} ({company}) is still waiting for your answer: the SLA runs out "
        "at {due}. Accept it or return it with a reason before then, or your manager will be "
        "told.\n\n{message}{link}",
    ),
    Kind.BREACHED: (
        "SLA breached: {lead} was due {due}",
        "{greeting}\n\nNobody answered the handoff of {lead} ({company}) by its deadline, {due}.\n"
        "Assigned to: {rep}. Attempt {attempt}.\n\n{message}{link}",
    ),
    Kind.FIRST_TOUCH_AT_RISK: (
        "First touch due soon: {lead}",
        "{greeting}\n\nYou accepted {lead} ({company}); the first contact is due by "
        "{first_touch_due}. Log it once you have reached out.\n\n{message}{link}",
    ),
    Kind.FIRST_TOUCH_BREACHED: (
        "First touch overdue: {lead}",
        "{greeting}\n\n{rep} accepted {lead} ({company}) but logged no first contact by "
        "{first_touch_due}.\n\n{message}{link}",
    ),
    Kind.UNASSIGNED: (
        "Needs an owner: {lead}",
        "{greeting}\n\nThe handoff of {lead} ({company}) is in your queue with nobody assigned. "
        "Assign a rep.\n\n{message}{link}",
    ),
    Kind.INFO_REQUESTED: (
        "Sales asked about {lead}",
        "{greeting}\n\n{rep} needs more information before taking {lead} ({company}). The SLA "
        "clock is paused until you answer.\n\n{message}{link}",
    ),
    Kind.INFO_PROVIDED: (
        "Marketing answered about {lead}",
        "{greeting}\n\nMarketing answered your question about {lead} ({company}). The SLA clock "
        "runs again: answer by {due}.\n\n{message}{link}",
    ),
    Kind.RETURNED: (
        "Returned to marketing: {lead}",
        "{greeting}\n\n{rep} returned {lead} ({company}) to marketing.\n\n{message}{link}",
    ),
    Kind.DISPUTED: (
        "Disputed return: {lead}",
        "{greeting}\n\nMarketing disputes the return of {lead} ({company}) by {rep}. Uphold the "
        "return or overturn it.\n\n{message}{link}",
    ),
    Kind.DISPUTE_RESOLVED: (
        "Dispute resolved: {lead}",
        "{greeting}\n\nThe disputed return of {lead} ({company}) was resolved.\n\n{message}{link}",
    ),
    Kind.RE_ENGAGED: (
        "Re-engaged after return: {lead}",
        "{greeting}\n\n{lead} ({company}, score {score}) showed new high intent during its "
        "cooldown after a return to nurture. It is ready for sales again (re-engaged after "
        "return) and heads your ready list.\n\n{message}{link}",
    ),
}


# --- writing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A recipient (or the rep named in a message), flattened from a user row."""

    pk: int
    email: str
    username: str
    first_name: str = ""
    last_name: str = ""
    is_active: bool = True

    @classmethod
    def of(cls, user: Any) -> Person:
        return cls(
            pk=user.pk,
            email=user.email or "",
            username=user.get_username(),
            first_name=user.first_name or "",
            last_name=user.last_name or "",
            is_active=bool(user.is_active),
        )

    @property
    def display(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.username


@dataclass(frozen=True, slots=True)
class About:
    """What a message is about: the handoff and its lead, flattened, with the zone its times
    are shown in (the handoff's calendar)."""

    handoff_id: int
    lead: str
    company: str
    score: int
    attempt: int
    due_at: dt.datetime | None
    first_touch_due_at: dt.datetime | None
    rep: str
    context_note: str
    zone: dt.tzinfo

    @classmethod
    def of(cls, handoff: Handoff) -> About:
        lead = handoff.lead
        rep = handoff.assigned_to if handoff.assigned_to_id else None
        calendar = handoff.calendar if handoff.calendar_id else None
        return cls(
            handoff_id=handoff.pk,
            lead=lead.full_name or lead.email,
            company=lead.company or lead.domain,
            score=handoff.score_snapshot,
            attempt=handoff.attempt,
            due_at=handoff.due_at,
            first_touch_due_at=handoff.first_touch_due_at,
            rep=Person.of(rep).display if rep is not None else "",
            context_note=handoff.context_note,
            zone=zone_named(calendar.timezone if calendar is not None else ""),
        )


@functools.lru_cache(maxsize=64)
def zone_named(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def when_in(moment: dt.datetime | None, zone: dt.tzinfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z") if moment else "-"


# The handoff page's URL name, whichever the pages app gives it. Looked up once per process and
# kept as a template: a reverse() (or a failed one) per message would cost the sweep more than
# rendering the message itself.
_PAGE_NAMES = ("handoff:detail", "handoff:handoff-detail", "handoff:handoff")
_ID_PLACEHOLDER = 987654321


@functools.cache
def _link_template() -> str | None:
    for name in _PAGE_NAMES:
        try:
            path = reverse(name, args=[_ID_PLACEHOLDER])
        except NoReverseMatch:
            continue
        return settings.SITE_URL.rstrip("/") + path
    return None


def handoff_link(handoff_id: int) -> str:
    """The page of a handoff, absolute (emails leave the site); "" while there is no page."""
    template = _link_template()
    return template.replace(str(_ID_PLACEHOLDER), str(handoff_id)) if template else ""


def render(
    *,
    kind: str,
    about: About,
    recipient: Person,
    message: str = "",
    link: str | None = None,
    zone: dt.tzinfo | None = None,
) -> tuple[str, str]:
    """Subject and body of one message, from the kind's templates; times in `zone` (the
    recipient's), else the handoff calendar's."""
    subject_template, body_template = TEMPLATES[kind]
    link = handoff_link(about.handoff_id) if link is None else link
    zone = zone or about.zone
    context = {
        "lead": about.lead,
        "company": about.company or "company unknown",
        "score": about.score,
        "due": when_in(about.due_at, zone),
        "first_touch_due": when_in(about.first_touch_due_at, zone),
        "rep": about.rep or "nobody",
        "attempt": about.attempt,
        "greeting": f"Hello {recipient.first_name or recipient.username},",
        "context": f"Marketing's note: {about.context_note}\n\n" if about.context_note else "",
        "message": f"{message}\n\n" if message else "",
        "link": f"Open it: {link}\n" if link else "",
    }
    return subject_template.format(**context)[:200], body_template.format(**context)


def message_values(
    *,
    kind: str,
    about: About,
    recipients: Iterable[Person],
    event_id: int | None,
    now: dt.datetime,
    message: str = "",
    zones: ZoneBook | None = None,
) -> list[dict[str, Any]]:
    """Outbox rows as field values, one per distinct recipient with an email address: the
    sweep inserts thousands of these in one statement. Times are in each recipient's zone
    (`zones`: a book kept across calls, so each person is looked up once)."""
    link = handoff_link(about.handoff_id)
    rows = []
    people = {p.pk: p for p in recipients if p.email}
    book = zones if zones is not None else ZoneBook()
    book.prefetch(people)
    for person in people.values():
        subject, body = render(
            kind=kind,
            about=about,
            recipient=person,
            message=message,
            link=link,
            zone=book.zone_for(person.pk),
        )
        rows.append(
            {
                "kind": kind,
                "handoff_id": about.handoff_id,
                "event_id": event_id,
                "recipient_id": person.pk,
                "to_email": person.email,
                "subject": subject,
                "body": body,
                "created_at": now,
                "next_attempt_at": now,
            }
        )
    return rows


def outbox_write(rows: Sequence[Notification], *, send: bool = True) -> list[Notification]:
    """Insert outbox rows; with `send`, queue the sender once the transaction commits.

    The unique (event, recipient, kind) constraint refuses a second copy of a message: the
    transaction that tried to write it fails instead of notifying twice.
    """
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    if send:
        enqueue_task("handoff.tasks.notifications_send")
    return created


def notify(
    *,
    kind: str,
    handoff: Handoff,
    recipients: Iterable[Any],
    event: HandoffEvent | None = None,
    now: dt.datetime | None = None,
    body: str = "",
    send: bool = True,
) -> list[Notification]:
    """Write one outbox row per recipient with an email address; the sender task runs on commit.

    Call inside the transaction that caused the notification. `body` is an extra message shown
    in the email (the rep's question, the return reason...). `send=False`: the caller queues
    the sender task (handoff.tasks.notifications_send) itself.
    """
    now = now or timezone.now()
    about = About.of(handoff)
    people = [Person.of(u) for u in recipients if u is not None]
    values = message_values(
        kind=kind,
        about=about,
        recipients=people,
        event_id=event.pk if event is not None else None,
        now=now,
        message=body,
    )
    return outbox_write([Notification(**row) for row in values], send=send)


def notify_re_engaged(*, lead_ids: Sequence[int], now: dt.datetime) -> list[Notification]:
    """The leads hook (leads.hooks.on_leads_re_engaged): one outbox row per lead whose owner
    has an address, telling them the recycled lead came back with new high intent in its
    cooldown and is ready for sales again. Written in the rescoring transaction, sent by the
    same sender as every notification (retried with backoff; the demo's seed marks its history
    sent like the rest). Two queries, whatever the number of leads."""
    from leads.models import Lead

    leads = list(
        Lead.objects.filter(pk__in=lead_ids, owner__isnull=False, owner__email__gt="")
        .select_related("owner")
        .order_by("pk")
    )
    if not leads:
        return []
    owners = {lead.pk: lead.owner for lead in leads if lead.owner is not None}
    book = ZoneBook()
    book.prefetch(owner.pk for owner in owners.values())
    rows = []
    for lead in leads:
        owner = owners[lead.pk]
        zone = book.zone_for(owner.pk)
        try:
            link = settings.SITE_URL.rstrip("/") + reverse("handoff:lead-detail", args=[lead.pk])
        except NoReverseMatch:
            link = ""
        about = About(
            handoff_id=0,
            lead=lead.full_name or lead.email,
            company=lead.company or lead.domain,
            score=lead.score,
            attempt=0,
            due_at=None,
            first_touch_due_at=None,
            rep="",
            context_note="",
            zone=zone,
        )
        subject, body = render(
            kind=Kind.RE_ENGAGED,
            about=about,
            recipient=Person.of(owner),
            message=(
                f"Returned to nurture: {when_in(lead.recycled_at, zone)}. "
                f"New high intent: {when_in(lead.last_high_intent_at, zone)}."
            ),
            link=link,
            zone=zone,
        )
        rows.append(
            Notification(
                kind=Kind.RE_ENGAGED,
                recipient_id=owner.pk,
                to_email=owner.email,
                subject=subject,
                body=body,
                created_at=now,
                next_attempt_at=now,
            )
        )
    return outbox_write(rows)


class ManagerDirectory:
    """Who is told when a team's handoff breaches: the team's manager, else every active sales
    manager. Caches the fallback, so a sweep asks once, not once per handoff."""

    def __init__(self) -> None:
        self._fallback: list[Person] | None = None

    def fallback(self) -> list[Person]:
        if self._fallback is None:
            self._fallback = [
                Person.of(user)
                for user in get_user_model()
                .objects.filter(is_active=True, groups__name=SALES_MANAGER)
                .exclude(email="")
                .order_by("id")
            ]
        return self._fallback

    def team_manager_or_fallback(self, manager: Person | None) -> list[Person]:
        if manager is not None and manager.is_active and manager.email:
            return [manager]
        return self.fallback()

    def for_handoff(self, handoff: Handoff) -> list[Person]:
        team = handoff.team if handoff.team_id else None
        manager = team.manager if team is not None and team.manager_id else None
        return self.team_manager_or_fallback(Person.of(manager) if manager else None)


def managers_of(handoff: Handoff) -> list[Person]:
    return ManagerDirectory().for_handoff(handoff)


# --- sending -----------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait before the next try after `attempts` failed ones: base * 2**(attempts-1), capped."""
    base = float(settings.NOTIFICATION_RETRY_BASE_SECONDS)
    cap = float(settings.NOTIFICATION_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _claim(*, now: dt.datetime, lease_from: dt.datetime, batch_size: int) -> list[Notification]:
    """Lease a batch of due rows in one short transaction.

    The lease (next_attempt_at pushed into the future, attempts counted) is what keeps two
    senders apart once the transaction has committed; SKIP LOCKED keeps them apart while it
    runs, so a second sender takes the next rows instead of waiting.
    """
    lease = dt.timedelta(seconds=float(settings.NOTIFICATION_SEND_LEASE_SECONDS))
    due = Notification.objects.filter(
        sent_at__isnull=True,
        next_attempt_at__lte=now,
        attempts__lt=settings.NOTIFICATION_MAX_ATTEMPTS,
    ).order_by("next_attempt_at", "id")
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due[:batch_size])
        if not rows:
            return []
        # attempts counts tries started, so a send killed mid-way still counts toward giving up.
        Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
            next_attempt_at=lease_from + lease, attempts=F("attempts") + 1
        )
    for row in rows:
        row.attempts += 1
    return rows


def _message(row: Notification, mail_connection: Any) -> EmailMessage:
    return EmailMessage(
        subject=row.subject,
        body=row.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.to_email],
        connection=mail_connection,
        headers={"Message-ID": f"<notification-{row.pk}@handoff-desk>"},
    )


def notifications_send(
    *,
    now: dt.datetime | None = None,
    batch_size: int = 100,
    clock: Callable[[], dt.datetime] | None = None,
) -> SendResult:
    """Send every due unsent notification; mark each sent only after its send succeeded.

    Runs until no due row is left. Rows that fail get their next try at now + backoff, so one
    run never retries a row it just failed.
    """
    if clock is None:
        fixed = now
        clock = (lambda: fixed) if fixed is not None else timezone.now
    now = now or clock()
    result = SendResult()
    while True:
        rows = _claim(now=now, lease_from=clock(), batch_size=batch_size)
        if not rows:
            return result
        mail_connection = get_connection(fail_silently=False)
        opened = False
        try:
            mail_connection.open()
            opened = True
        except Exception as exc:  # the mail server is down: this batch waits, the rest too
            for row in rows:
                _failed(row, exc, now=clock(), result=result)
            return result
        try:
            for row in rows:
                try:
                    _message(row, mail_connection).send()
                except Exception as exc:
                    _failed(row, exc, now=clock(), result=result)
                    continue
                Notification.objects.filter(pk=row.pk, sent_at__isnull=True).update(
                    sent_at=clock(), last_error=""
                )
                result.sent.append(row.pk)
        finally:
            if opened:
                try:
                    mail_connection.close()
                except Exception:
                    logger.warning("closing the mail connection failed", exc_info=True)


def _failed(row: Notification, exc: BaseException, *, now: dt.datetime, result: SendResult) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    Notification.objects.filter(pk=row.pk, sent_at__isnull=True).update(
        next_attempt_at=now + retry_delay(row.attempts), last_error=error
    )
    if row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        logger.error("gave up notification %s to %s: %s", row.pk, row.to_email, error)
        result.gave_up.append(row.pk)
    else:
        logger.warning("notification %s failed (try %s): %s", row.pk, row.attempts, error)
        result.failed.append(row.pk)


def unsent_backlog(*, now: dt.datetime | None = None) -> dict[str, int]:
    """How many rows wait, are retrying, or were given up: for operators and the admin."""
    now = now or timezone.now()
    unsent = Notification.objects.filter(sent_at__isnull=True)
    limit = settings.NOTIFICATION_MAX_ATTEMPTS
    return {
        "due": unsent.filter(next_attempt_at__lte=now, attempts__lt=limit).count(),
        "retrying": unsent.filter(~Q(last_error=""), attempts__lt=limit).count(),
        "gave_up": unsent.filter(attempts__gte=limit).count(),
    }

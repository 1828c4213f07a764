"""Composing notifications: the per-kind subject and body templates, the people and the handoff
a message is about (flattened from rows), and the rendered outbox row values.

Each message is rendered when its row is written, from the per-kind templates below: the email
says what was true at that moment. The sweep builds its rows with `message_values()` and inserts
a batch in one statement; handoff.notifications.outbox writes the rows of one event."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from handoff.models import Handoff, Notification
from handoff.timezones import ZoneBook

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
ID_PLACEHOLDER = 987654321


@functools.cache
def link_template() -> str | None:
    for name in _PAGE_NAMES:
        try:
            path = reverse(name, args=[ID_PLACEHOLDER])
        except NoReverseMatch:
            continue
        return settings.SITE_URL.rstrip("/") + path
    return None


def handoff_link(handoff_id: int) -> str:
    """The page of a handoff, absolute (emails leave the site); "" while there is no page."""
    template = link_template()
    return template.replace(str(ID_PLACEHOLDER), str(handoff_id)) if template else ""


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


# --- grouped breach alerts ------------------------------------------------------------------

# One message for many breaches (Kind.BREACHES): when one sweep batch breaches more than
# handoff.sweep.ladder.group_breaches_above() handoffs for the same manager, that manager gets
# this instead of one "SLA breached" message each (storm suppression: an outage, a team away).
# It lists the first GROUP_LIST_CAP of them (deadline order), then links the breached list.
BREACHES_TEMPLATES = (
    "{count} handoffs breached their SLA",
    "{greeting}\n\n{count} handoffs were not answered by their deadlines:\n\n{items}{more}\n{list}",
)
# One listed handoff; {link} is ": <its page>" (nothing while there is no page).
BREACHES_ITEM = "- {lead} ({company}), due {due}, assigned to {rep}{link}\n"
GROUP_LIST_CAP = 10


@functools.cache
def breached_list_link() -> str:
    """The list of breached handoffs (the handoff admin, filtered), absolute; "" without it."""
    try:
        path = reverse("admin:handoff_handoff_changelist")
    except NoReverseMatch:
        return ""
    return settings.SITE_URL.rstrip("/") + path + "?breached=yes"


def render_breaches(*, recipient: Person, items: list[About], zone: dt.tzinfo) -> tuple[str, str]:
    """Subject and body of one grouped breach alert about `items` (in deadline order), times in
    the recipient's `zone`. handoff.sweep.sql renders the same words in SQL."""
    lines = []
    for about in items[:GROUP_LIST_CAP]:
        link = handoff_link(about.handoff_id)
        lines.append(
            BREACHES_ITEM.format(
                lead=about.lead,
                company=about.company or "company unknown",
                due=when_in(about.due_at, zone),
                rep=about.rep or "nobody",
                link=f": {link}" if link else "",
            )
        )
    count = len(items)
    url = breached_list_link()
    context = {
        "count": count,
        "greeting": f"Hello {recipient.first_name or recipient.username},",
        "items": "".join(lines),
        "more": f"... and {count - GROUP_LIST_CAP} more.\n" if count > GROUP_LIST_CAP else "",
        "list": f"All breached handoffs: {url}\n" if url else "",
    }
    subject, body = BREACHES_TEMPLATES
    return subject.format(**context)[:200], body.format(**context)


def breaches_values(
    *, recipient: Person, items: list[About], now: dt.datetime, zones: ZoneBook | None = None
) -> dict[str, Any]:
    """The outbox row (field values) of one grouped breach alert: about no single handoff or
    event."""
    book = zones if zones is not None else ZoneBook()
    book.prefetch([recipient.pk])
    subject, body = render_breaches(
        recipient=recipient, items=items, zone=book.zone_for(recipient.pk)
    )
    return {
        "kind": Kind.BREACHES,
        "handoff_id": None,
        "event_id": None,
        "recipient_id": recipient.pk,
        "to_email": recipient.email,
        "subject": subject,
        "body": body,
        "created_at": now,
        "next_attempt_at": now,
    }

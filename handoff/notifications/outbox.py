"""Writing notifications: `notify()` (one kind, one handoff, some recipients) adds outbox rows in
the caller's transaction, so a rolled-back transition notifies nobody and a committed one is
never lost; the re-engaged lead's notice; who hears about a team's handoffs (the managers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.roles import SALES_MANAGER
from handoff.models import Handoff, HandoffEvent, Notification
from handoff.notifications.messages import About, Kind, Person, message_values, render, when_in
from handoff.timezones import ZoneBook
from leads.services import enqueue_task

_NOTIFICATION_FIELDS = tuple(f for f in Notification._meta.concrete_fields if not f.primary_key)


def _insert(rows: Sequence[Notification]) -> None:
    """bulk_create's INSERT ... RETURNING id on PostgreSQL, written out: a few rows through the
    ORM (an InsertQuery built and compiled per call) cost more than running the statement.
    Every value goes through its field's own pre_save and get_db_prep_save, as the ORM's."""
    alias = router.db_for_write(Notification)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        Notification.objects.bulk_create(rows)
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in _NOTIFICATION_FIELDS)
    one = "(" + ", ".join(["%s"] * len(_NOTIFICATION_FIELDS)) + ")"
    params: list[Any] = []
    for row in rows:
        params += [
            f.get_db_prep_save(f.pre_save(row, True), connection) for f in _NOTIFICATION_FIELDS
        ]
    sql = (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) "
        f"VALUES {', '.join([one] * len(rows))} "
        f"RETURNING {quote(str(Notification._meta.pk.column))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [found[0] for found in cursor.fetchall()]
    for row, pk in zip(rows, ids, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = alias


def outbox_write(rows: Sequence[Notification], *, send: bool = True) -> list[Notification]:
    """Insert outbox rows; with `send`, queue the sender once the transaction commits.

    The unique (event, recipient, kind) constraint refuses a second copy of a message: the
    transaction that tried to write it fails instead of notifying twice.
    """
    if not rows:
        return []
    _insert(rows)
    if send:
        enqueue_task("handoff.tasks.notifications_send")
    return list(rows)


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

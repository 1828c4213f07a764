"""The notification outbox: rows written with the transaction that caused them, sent by the
sender, marked sent only after the mail server took them, retried with backoff."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, transaction

from handoff.models import Notification
from handoff.notifications import (
    TEMPLATES,
    About,
    Person,
    notifications_send,
    notify,
    render,
    retry_delay,
    unsent_backlog,
)
from handoff.sweep import sla_sweep
from tests.factories import UserFactory
from tests.handoff.conftest import NOW

SEC = dt.timedelta(seconds=1)


@pytest.fixture
def handoff(sweep_world):
    return sweep_world.make_handoff(due_at=NOW + dt.timedelta(hours=2), context_note="Hot lead")


def test_notify_writes_one_row_per_recipient_with_an_email(sweep_world, handoff):
    nobody = UserFactory(username="no.mail", email="")

    rows = notify(
        kind=Notification.Kind.ASSIGNED,
        handoff=handoff,
        recipients=[sweep_world.rep, sweep_world.rep, nobody, None],
        now=NOW,
    )

    assert [r.recipient for r in rows] == [sweep_world.rep]
    row = Notification.objects.get()
    assert row.to_email == sweep_world.rep.email
    assert row.subject.startswith("New lead for you: ")
    assert "Hot lead" in row.body
    assert row.sent_at is None and row.attempts == 0 and row.next_attempt_at == NOW


def test_a_rolled_back_transition_notifies_nobody(sweep_world, handoff):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(kind="assigned", handoff=handoff, recipients=[sweep_world.rep], now=NOW)
        raise RuntimeError("the transition failed")

    assert not Notification.objects.exists()


def test_every_kind_has_a_subject_and_body_template(sweep_world, handoff):
    # A grouped breach alert is about many handoffs: render_breaches words it (tested in
    # test_sweep_grouping.py).
    assert set(TEMPLATES) == set(Notification.Kind.values) - {Notification.Kind.BREACHES}
    for kind in TEMPLATES:
        subject, body = render(
            kind=kind,
            about=About.of(handoff),
            recipient=Person.of(sweep_world.manager),
            message="Extra words.",
        )
        lead_name = handoff.lead.full_name
        assert lead_name in subject, kind
        assert body.startswith("Hello ") and "Extra words." in body, kind


def test_the_sender_sends_due_rows_and_marks_them_sent(sweep_world, handoff, mailoutbox):
    notify(kind="assigned", handoff=handoff, recipients=[sweep_world.rep], now=NOW)
    later = notify(
        kind="at_risk", handoff=handoff, recipients=[sweep_world.rep], now=NOW + 60 * SEC
    )

    result = notifications_send(now=NOW)

    assert len(result.sent) == 1
    [message] = mailoutbox
    assert message.to == [sweep_world.rep.email]
    assert message.subject.startswith("New lead for you")
    assert message.extra_headers["Message-ID"].startswith("<notification-")
    sent = Notification.objects.get(kind="assigned")
    assert sent.sent_at == NOW and sent.attempts == 1 and sent.last_error == ""
    assert Notification.objects.get(pk=later[0].pk).sent_at is None  # not due yet


def test_a_sent_notification_is_never_sent_again(sweep_world, handoff, mailoutbox):
    notify(kind="assigned", handoff=handoff, recipients=[sweep_world.rep], now=NOW)
    notifications_send(now=NOW)

    again = notifications_send(now=NOW + dt.timedelta(days=1))

    assert again.sent == [] and len(mailoutbox) == 1


def test_a_failing_mail_server_is_retried_with_exponential_backoff(
    sweep_world, handoff, flaky_mail, settings
):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 60
    flaky_mail.failures = 2
    [row] = notify(kind="breached", handoff=handoff, recipients=[sweep_world.manager], now=NOW)

    first = notifications_send(now=NOW)
    row.refresh_from_db()
    assert first.failed == [row.pk] and row.sent_at is None
    assert row.attempts == 1 and row.next_attempt_at == NOW + 60 * SEC
    assert "SMTPServerDisconnected" in row.last_error

    assert notifications_send(now=NOW + 59 * SEC).failed == []  # not due before its backoff
    notifications_send(now=NOW + 60 * SEC)
    row.refresh_from_db()
    assert row.attempts == 2 and row.next_attempt_at == NOW + 180 * SEC  # waited 2 x 60 s now

    last = notifications_send(now=NOW + 180 * SEC)
    row.refresh_from_db()
    assert last.sent == [row.pk]
    assert row.sent_at == NOW + 180 * SEC and row.attempts == 3 and row.last_error == ""
    assert [m.to for m in mail.outbox] == [[sweep_world.manager.email]]


def test_the_backoff_doubles_up_to_its_cap(settings):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 60
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 600

    assert [retry_delay(n).total_seconds() for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


def test_the_sender_gives_up_after_the_last_attempt_and_keeps_the_row(
    sweep_world, handoff, flaky_mail, settings
):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    flaky_mail.failures = 99
    [row] = notify(kind="breached", handoff=handoff, recipients=[sweep_world.manager], now=NOW)

    notifications_send(now=NOW)
    gave_up = notifications_send(now=NOW + dt.timedelta(hours=1))
    never = notifications_send(now=NOW + dt.timedelta(days=30))

    assert gave_up.gave_up == [row.pk] and never.sent == never.failed == []
    row.refresh_from_db()
    assert row.sent_at is None and row.attempts == 2 and row.last_error
    assert unsent_backlog(now=NOW + dt.timedelta(days=30)) == {
        "due": 0,
        "retrying": 0,
        "gave_up": 1,
    }


def test_a_mail_server_that_refuses_connections_delays_the_batch(sweep_world, handoff, flaky_mail):
    flaky_mail.refuse_connection = True
    notify(kind="assigned", handoff=handoff, recipients=[sweep_world.rep], now=NOW)
    notify(kind="breached", handoff=handoff, recipients=[sweep_world.manager], now=NOW)

    result = notifications_send(now=NOW)

    assert len(result.failed) == 2
    assert set(Notification.objects.values_list("last_error", flat=True)) == {
        "ConnectionRefusedError: mail server down"
    }
    flaky_mail.refuse_connection = False
    assert len(notifications_send(now=NOW + dt.timedelta(minutes=5)).sent) == 2


def test_a_sender_killed_mid_send_leaves_the_row_leased_then_retries_it(
    sweep_world, handoff, settings, mailoutbox
):
    from handoff.notifications.delivery import _claim

    settings.NOTIFICATION_SEND_LEASE_SECONDS = 300
    [row] = notify(kind="assigned", handoff=handoff, recipients=[sweep_world.rep], now=NOW)
    # What a sender that died after claiming leaves behind: a leased, unsent row.
    assert [r.pk for r in _claim(now=NOW, lease_from=NOW, batch_size=10)] == [row.pk]

    assert notifications_send(now=NOW + 299 * SEC).sent == []
    assert notifications_send(now=NOW + 300 * SEC).sent == [row.pk]
    row.refresh_from_db()
    assert row.attempts == 2 and len(mailoutbox) == 1


def test_a_breach_notified_by_the_sweep_is_sent_by_the_sender(sweep_world, mailoutbox):
    sweep_world.make_handoff(due_at=NOW - SEC)
    sla_sweep(now=NOW)

    notifications_send(now=NOW)

    [message] = mailoutbox
    assert message.to == [sweep_world.manager.email]
    assert message.subject.startswith("SLA breached")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_senders_at_once_never_send_the_same_row(sweep_world, mailoutbox):
    handoffs = [sweep_world.make_handoff(due_at=NOW + dt.timedelta(hours=2)) for _ in range(60)]
    for h in handoffs:
        notify(kind="assigned", handoff=h, recipients=[sweep_world.rep], now=NOW)
    barrier = threading.Barrier(2)
    results = []
    errors = []

    def sender() -> None:
        try:
            barrier.wait()
            results.append(notifications_send(now=NOW, batch_size=7))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    sent = [pk for r in results for pk in r.sent]
    assert len(sent) == len(set(sent)) == 60
    assert len(mailoutbox) == 60
    assert Notification.objects.filter(sent_at__isnull=True).count() == 0


def test_the_sender_task_sends_and_reports_what_it_did(sweep_world, handoff, mailoutbox):
    from handoff.tasks import notifications_send as send_task

    notify(kind="assigned", handoff=handoff, recipients=[sweep_world.rep])

    assert send_task.run() == {"sent": 1, "failed": 0, "gave_up": 0}
    assert send_task.run() == {"sent": 0, "failed": 0, "gave_up": 0}  # safe to run twice
    assert len(mailoutbox) == 1

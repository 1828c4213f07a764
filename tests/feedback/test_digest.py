"""The weekly alignment digest: its figures, the page for any past week, the command, and a
send that happens once per week and recipient, retried when the mail server fails."""

from __future__ import annotations

import datetime as dt
import io
import smtplib

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from core.errors import ValidationFailed
from feedback import digest
from feedback.models import DigestDelivery
from feedback.tasks import alignment_digest
from tests.factories import UserFactory
from tests.handoff.world import TUESDAY_10, World, make_world

WEEK = "2025-W10"  # TUESDAY_10 is in it


@pytest.fixture
def world(db, marketer, rep, other_rep, manager) -> World:
    marketer.email, manager.email = "mia@example.com", "max@example.com"
    marketer.save()
    manager.save()
    return make_world(marketer=marketer, rep=rep, other_rep=other_rep, manager=manager)


def test_a_week_is_parsed_and_a_malformed_or_future_one_names_the_field():
    today = dt.date(2026, 12, 7)
    assert digest.parse_week("2026-W48", today=today).monday == dt.date(2026, 11, 23)
    assert digest.parse_week("", today=today).label == "2026-W49"
    for bad in ("2026-48", "2026-W54", "2027-W01"):
        with pytest.raises(ValidationFailed) as err:
            digest.parse_week(bad, today=today)
        assert err.value.field == "week"


def test_the_digest_counts_mqls_and_pqls_against_the_previous_week(world):
    world.promote(world.lead())
    world.promote(world.lead(pql=True, pql_criteria=[{"name": "x", "detail": "y"}]))
    built = digest.digest_build(digest.parse_week(WEEK, today=dt.date(2026, 1, 1)))
    assert (built["this"]["mqls"], built["this"]["pqls"]) == (1, 1)
    assert (built["before"]["mqls"], built["change"]["mqls"]) == (0, 1)
    subject, text, html = digest.digest_render(built)
    assert subject == "Alignment digest, week 2025-W10"
    assert "PQLs (product usage):  1 (+1)" in text
    assert "<table" in html and "2025-W09" in html


def test_a_week_is_sent_once_per_recipient_even_when_beat_fires_twice(world):
    week = digest.parse_week(WEEK, today=dt.date(2026, 1, 1))
    first = digest.digest_send(week=week)
    second = digest.digest_send(week=week)
    assert first["sent"] == 2 and second["sent"] == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["max@example.com", "mia@example.com"]
    assert mail.outbox[0].alternatives[0][1] == "text/html"
    assert DigestDelivery.objects.filter(week=WEEK).count() == 2


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("mail server down")


def test_a_failing_mail_server_is_retried_later(world):
    week = digest.parse_week(WEEK, today=dt.date(2026, 1, 1))
    with override_settings(EMAIL_BACKEND="tests.feedback.test_digest.FailingBackend"):
        assert digest.digest_send(week=week)["failed"] == 2
    row = DigestDelivery.objects.get(email="mia@example.com")
    assert row.attempts == 1 and "mail server down" in row.last_error and row.sent_at is None
    assert digest.digest_deliver(now=row.next_attempt_at - dt.timedelta(seconds=1))["sent"] == 0
    assert digest.digest_deliver(now=row.next_attempt_at + dt.timedelta(seconds=1))["sent"] == 2
    assert DigestDelivery.objects.filter(sent_at__isnull=False).count() == 2


def test_beat_sends_last_weeks_digest_on_monday_morning_only(world, time_machine):
    # The world's marketer and manager have no zone of their own; the manager's team calendar
    # is New York's, the marketer falls back to TIME_ZONE (UTC).
    time_machine.move_to(dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC))  # Monday 07:00 UTC
    alignment_digest()
    assert not DigestDelivery.objects.exists()
    time_machine.move_to(dt.datetime(2026, 12, 7, 8, 5, tzinfo=dt.UTC))
    alignment_digest()
    alignment_digest()
    assert set(DigestDelivery.objects.values_list("week", flat=True)) == {"2026-W49"}
    assert "alignment-digest" in settings.CELERY_BEAT_SCHEDULE
    sent = {m.to[0] for m in mail.outbox}
    time_machine.move_to(dt.datetime(2026, 12, 7, 13, 5, tzinfo=dt.UTC))  # 08:05 in New York
    alignment_digest()
    assert {m.to[0] for m in mail.outbox} == {"max@example.com", "mia@example.com"}
    assert len(mail.outbox) == 2 and len(sent) >= 1


def test_the_command_dry_run_prints_and_sends_nothing(world):
    out = io.StringIO()
    call_command("alignment_digest", "--week", WEEK, "--dry-run", stdout=out)
    assert "Alignment digest, week 2025-W10" in out.getvalue()
    assert "mia@example.com (UTC)" in out.getvalue()
    assert not DigestDelivery.objects.exists() and not mail.outbox
    with pytest.raises(CommandError, match="--week"):
        call_command("alignment_digest", "--week", "last", stdout=out)
    call_command("alignment_digest", "--week", WEEK, stdout=out)
    assert len(mail.outbox) == 2


def test_the_digest_page_shows_any_past_week_and_refuses_a_malformed_one(world):
    world.promote(world.lead(), now=TUESDAY_10)
    page = Client()
    page.force_login(world.marketer)
    ok = page.get(f"/digest/?week={WEEK}")
    assert ok.status_code == 200 and 'id="digest-headline"' in ok.content.decode()
    bad = page.get("/digest/?week=2025-13")
    assert bad.status_code == 400 and 'id="error-week"' in bad.content.decode()
    rep = Client()
    rep.force_login(UserFactory(username="ray.rep", role="Sales"))
    assert rep.get("/digest/").status_code == 403


# --- Monday morning in each recipient's zone ---------------------------------------------------

ZONES = {
    "aroha": "Pacific/Auckland",  # UTC+13 in December: Monday 08:00 is Sunday 19:00 UTC
    "pierre": "Europe/Paris",  # UTC+1: Monday 08:00 is 07:00 UTC
    "lucy": "America/Los_Angeles",  # UTC-8: Monday 08:00 is 16:00 UTC
}


@pytest.fixture
def travellers(db):
    from leads.models import UserProfile

    people = {}
    for index, (name, zone_name) in enumerate(ZONES.items()):
        user = UserFactory(username=name, role="Marketing" if index % 2 else "Sales Manager")
        UserProfile.objects.create(user=user, time_zone=zone_name)
        people[name] = user
    return people


def _weeks() -> dict[str, str]:
    return dict(DigestDelivery.objects.values_list("recipient__username", "week"))


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_each_recipient_gets_the_week_that_ended_in_their_zone_on_their_monday_morning(
    travellers,
):
    # Sunday 18:30 UTC: Monday 07:30 in Auckland, before the send hour; nobody yet.
    assert digest.digest_send_due(now=_utc(2026, 12, 6, 18, 30))["sent"] == 0
    # Sunday 19:05 UTC is Monday 08:05 in Auckland: the week that just ended there is
    # 2026-W49 (30 Nov - 6 Dec), although in UTC it is still Sunday of that week.
    assert digest.digest_send_due(now=_utc(2026, 12, 6, 19, 5))["sent"] == 1
    assert _weeks() == {"aroha": "2026-W49"}
    # Monday 07:05 UTC: 08:05 in Paris; Auckland already has its row and gets nothing more.
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 7, 5))["sent"] == 1
    assert _weeks() == {"aroha": "2026-W49", "pierre": "2026-W49"}
    # Monday 15:00 UTC is 07:00 in Los Angeles: not yet. 16:05 UTC is 08:05 there.
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 15, 0))["sent"] == 0
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 16, 5))["sent"] == 1
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 16, 5))["sent"] == 0  # beat twice
    assert _weeks() == dict.fromkeys(ZONES, "2026-W49")
    assert sorted(m.to[0] for m in mail.outbox) == [f"{n}@example.com" for n in sorted(ZONES)]
    assert all(m.subject == "Alignment digest, week 2026-W49" for m in mail.outbox)
    # Tuesday morning everywhere: nothing new, ever, for that week.
    assert digest.digest_send_due(now=_utc(2026, 12, 8, 17, 0))["sent"] == 0
    assert DigestDelivery.objects.count() == 3


@override_settings(DIGEST_SEND_HOUR=9)
def test_the_send_hour_is_configurable_and_a_late_run_still_sends_that_monday(travellers):
    assert digest.digest_send_due(now=_utc(2026, 12, 6, 19, 30))["sent"] == 0  # 08:30 Auckland
    assert digest.digest_send_due(now=_utc(2026, 12, 6, 20, 5))["sent"] == 1  # 09:05 Auckland
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 7, 30))["sent"] == 0  # 08:30 Paris
    # Beat was down all day: 22:00 in Paris and 13:00 in Los Angeles are still Monday there.
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 21, 0))["sent"] == 2
    assert _weeks() == dict.fromkeys(ZONES, "2026-W49")


def test_a_recipients_failed_send_is_retried_by_a_later_hourly_run(travellers):
    with override_settings(EMAIL_BACKEND="tests.feedback.test_digest.FailingBackend"):
        assert digest.digest_send_due(now=_utc(2026, 12, 7, 7, 5))["failed"] == 2
    row = DigestDelivery.objects.get(recipient__username="pierre")
    assert row.attempts == 1 and row.sent_at is None and not mail.outbox
    # An hour later (after the backoff) the hourly run sends Auckland's and Paris's rows.
    assert digest.digest_send_due(now=_utc(2026, 12, 7, 8, 5))["sent"] == 2
    assert DigestDelivery.objects.filter(sent_at__isnull=True).count() == 0
    assert settings.CELERY_BEAT_SCHEDULE["alignment-digest"]["schedule"] == 3600.0

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

from feedback import digest
from feedback.models import DigestDelivery
from feedback.tasks import alignment_digest
from leads.errors import ValidationFailed
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
    time_machine.move_to(dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC))  # Monday 07:00
    alignment_digest()
    assert not DigestDelivery.objects.exists()
    time_machine.move_to(dt.datetime(2026, 12, 7, 8, 5, tzinfo=dt.UTC))
    alignment_digest()
    alignment_digest()
    assert set(DigestDelivery.objects.values_list("week", flat=True)) == {"2026-W49"}
    assert len(mail.outbox) == 2
    assert "alignment-digest" in settings.CELERY_BEAT_SCHEDULE


def test_the_command_dry_run_prints_and_sends_nothing(world):
    out = io.StringIO()
    call_command("alignment_digest", "--week", WEEK, "--dry-run", stdout=out)
    assert "Alignment digest, week 2025-W10" in out.getvalue()
    assert "mia@example.com" in out.getvalue()
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

"""A quiet run: the worker logs work done at INFO and idle ticks at DEBUG, the demo's history
does not mail anyone at start, and a normal stop of `manage.py up` logs no error."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

import config.celery  # noqa: F401  (installs the filter, as the worker does)
from core.models import OutboxMessage
from handoff.models import Handoff, Notification
from handoff.sweep import sla_sweep
from leads.tasks import outbox_relay


def tick_lines(name: str) -> None:
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "tick", name)
    logging.getLogger("celery.worker.strategy").info(LOG_RECEIVED, {"id": "1", "name": name})
    logging.getLogger("celery.app.trace").info(
        LOG_SUCCESS, {"id": "1", "name": name, "return_value": "{}", "runtime": 0.01}
    )
    logging.getLogger("celery.worker.request").info("Discarding revoked task: %s[%s]", name, "1")


def test_idle_housekeeping_ticks_are_not_logged_at_info(caplog):
    caplog.set_level(logging.INFO)
    tick_lines("leads.tasks.outbox_relay")
    tick_lines("handoff.tasks.sla_sweep")
    assert [r.getMessage() for r in caplog.records] == []


def test_idle_ticks_are_still_there_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    tick_lines("leads.tasks.outbox_relay")
    assert len(caplog.records) == 4
    assert {r.levelname for r in caplog.records} == {"DEBUG"}


def test_the_switch_turns_the_ticks_back_to_info(caplog, settings):
    settings.LOG_QUIET_TICKS = False
    caplog.set_level(logging.INFO)
    tick_lines("handoff.tasks.sla_sweep")
    assert [r.levelname for r in caplog.records] == ["INFO"] * 4


def test_other_tasks_keep_their_info_lines(caplog):
    caplog.set_level(logging.INFO)
    tick_lines("leads.tasks.leads_rescore_all")
    assert [r.levelname for r in caplog.records] == ["INFO"] * 4


@pytest.mark.django_db
def test_a_relay_that_published_says_so_at_info(caplog):
    now = timezone.now()
    OutboxMessage.objects.create(
        task="leads.tasks.idempotency_purge", kwargs={}, created_at=now, available_at=now
    )
    caplog.set_level(logging.INFO)
    assert outbox_relay()["published"] == 1
    assert [r.getMessage() for r in caplog.records if r.name == "leads.tasks"] == [
        "outbox relay: published 1 task messages"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("utc_hour", [3, 15, 20])  # before, during and after New York's day
def test_the_demo_leaves_no_old_deadline_for_the_first_sweep_to_mail(settings, utc_hour):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    moment = dt.datetime(2026, 12, 2, utc_hour, 10, tzinfo=dt.UTC)  # a Wednesday
    with time_machine.travel(moment, tick=True):
        call_command("seed_demo", "--leads", "150", stdout=io.StringIO())
        assert not Notification.objects.filter(sent_at__isnull=True).exists()
        now = timezone.now()
        first = sla_sweep(now=now)
    # What the worker's first sweep finds fell due in the last half hour, not weeks ago.
    recent = now - dt.timedelta(minutes=31)
    for h in Handoff.objects.filter(pk__in=first.breached):
        assert h.due_at >= recent, (h.pk, h.due_at, now)
    for h in Handoff.objects.filter(pk__in=first.first_touch_breached):
        assert h.first_touch_due_at >= recent, (h.pk, h.first_touch_due_at, now)


@pytest.mark.django_db
def test_the_demos_re_engaged_leads_mail_nobody_at_start_but_a_live_one_tells_its_owner(settings):
    from django.core import mail

    from handoff.notifications import notifications_send
    from leads import services as lead_services
    from leads.models import Lead, Stage

    settings.CELERY_TASK_ALWAYS_EAGER = False
    moment = dt.datetime(2026, 12, 2, 15, 10, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=True):
        call_command("seed_demo", "--leads", "150", stdout=io.StringIO())
        seeded = Notification.objects.filter(kind=Notification.Kind.RE_ENGAGED)
        assert seeded.exists() and not seeded.filter(sent_at__isnull=True).exists()
        assert not OutboxMessage.objects.filter(task="leads.tasks.lead_re_engaged_notify").exists()
        mail.outbox.clear()
        notifications_send(now=timezone.now())
        assert not [m for m in mail.outbox if "Re-engaged after return" in m.subject]

        # A recycled lead in its cooldown comes back with a demo request now: one email, once.
        now = timezone.now()
        lead = (
            Lead.objects.filter(stage=Stage.RECYCLED, recycle_until__gt=now, owner__isnull=False)
            .exclude(ready_reason="re_engaged")
            .order_by("id")
            .first()
        )
        assert lead is not None
        lead_services.event_record(
            lead=lead, kind="demo_request", occurred_at=now, external_id="live-again", now=now
        )
        notifications_send(now=now)
        notifications_send(now=now + dt.timedelta(minutes=5))
    notices = [m for m in mail.outbox if "Re-engaged after return" in m.subject]
    assert [m.to for m in notices] == [[lead.owner.email]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_normal_stop_of_up_logs_no_error(tmp_path: Path):
    base = Path(settings.BASE_DIR)
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'up.sqlite3'}",
        # A queue of its own: tasks other tests publish (to another database) are not its own.
        "CELERY_TASK_DEFAULT_QUEUE": f"uptest-{tmp_path.name}-{port}",
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--no-seed", "--addrport", f"127.0.0.1:{port}"],
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while b"celery@" not in log.read_bytes() or b"ready." not in log.read_bytes():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            time.sleep(3)  # a few beat ticks
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert "ERROR" not in text and "Traceback" not in text, text[-4000:]
    assert "exited with 'signal" not in text, text[-4000:]

"""`manage.py up`: migrate, seed the demo, and run web + Celery worker (with embedded beat).

Uses whatever DATABASE_URL / CELERY_BROKER_URL say: SQLite and kombu's filesystem broker under
var/ by default, PostgreSQL and Redis when they are set. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from leads.models import Lead


class Command(BaseCommand):
    help = "Migrate, seed demo data and run the web server with a Celery worker and beat."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        settings.VAR_DIR.mkdir(exist_ok=True)
        for sub in ("broker/queue", "broker/control"):
            (settings.VAR_DIR / sub).mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=1)
        if not options["no_seed"] and not Lead.objects.exists():
            call_command("seed_demo")
        else:
            self.stdout.write("Demo data already present (password 'handoff-demo').")

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--loglevel=INFO",
             "--concurrency=2", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            env=env,
            start_new_session=True,
        )  # fmt: skip
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", options["addrport"], "--noreload"],
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,
        )
        self.stdout.write(self.style.SUCCESS(f"Open http://{options['addrport']}/ (Ctrl-C stops)"))

        def stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        # A SIGTERM (a supervisor, `kill`) stops the children too, not just this process.
        signal.signal(signal.SIGTERM, stop)
        try:
            while worker.poll() is None and web.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            # SIGTERM to each main process only: the worker then shuts down warm, stopping its
            # pool and embedded beat itself. Signalling the whole group killed the pool's
            # children under it, which the worker logs as an ERROR ("exited with signal 15").
            for proc in (web, worker):
                if proc.poll() is None:
                    proc.terminate()
            for proc in (web, worker):
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Stopped.")

import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger

from config import kombu_fixes, quiet_logs

# Before any worker connects: see config/kombu_fixes.py (a worker exiting when Redis is lost
# mid-task).
kombu_fixes.apply()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("handoff_desk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

quiet_logs.install()


@after_setup_logger.connect
def _quiet_ticks(**_: Any) -> None:
    quiet_logs.install()

import os

from celery import Celery

from config import kombu_fixes

# Before any worker connects: see config/kombu_fixes.py (a worker exiting when Redis is lost
# mid-task).
kombu_fixes.apply()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("handoff_desk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

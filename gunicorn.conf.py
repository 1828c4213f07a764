"""gunicorn's settings for production, read by `gunicorn config.wsgi` from the working directory.

gunicorn alone starts ONE sync worker: one slow request (a password check, a large export)
would then stall every other user. Sync workers run one request each, so the count is the
number of requests served at once; the usual figure is two per core plus one.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# A request that takes longer than this is killed and its worker restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))

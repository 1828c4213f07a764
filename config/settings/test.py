"""Settings for pytest. SQLite by default; DATABASE_URL switches to PostgreSQL (as CI does)."""

from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY

SECRET_KEY = SECRET_KEY or "test-key-not-for-production"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files come from the finders (no collectstatic in tests).
STATIC_ROOT = None  # type: ignore[assignment]  # no collectstatic: the finders serve
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Test receivers listen on loopback (and nowhere else).
WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]

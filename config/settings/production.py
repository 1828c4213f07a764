"""Production: PostgreSQL, Redis, gunicorn behind TLS. Refuses to start without a real secret key."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY

# The same bar as Django's deploy check (security.W009), plus the throwaway keys of local and test
# settings: a missing or weak key stops the process before it serves anything.
if (
    not SECRET_KEY
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith(("local-", "test-", "django-insecure-"))
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters in production."
    )

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A persistent connection (DATABASE_CONN_MAX_AGE) is checked before reuse, so a database restart
# costs one reconnect, not an error.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
# Webhooks and team chat: https only.
WEBHOOK_REQUIRE_HTTPS = True

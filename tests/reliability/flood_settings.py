"""Settings for the gunicorn of the login-flood test: the test settings with Django's production
password hasher, so that a password check costs what it costs in production and an attempt's
lock is held as long as it is there."""

from config.settings.test import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

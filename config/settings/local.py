"""The demo / development settings used by `manage.py up`."""

from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY

DEBUG = True
SECRET_KEY = SECRET_KEY or "local-demo-key-not-for-production"

# Static files come from the finders: the demo needs no collectstatic step.
STATIC_ROOT = None  # type: ignore[assignment]  # no collectstatic: the finders serve
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

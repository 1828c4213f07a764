"""Settings shared by every environment. The environment is read here and only here."""

from __future__ import annotations

from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# production.py refuses to start when this is missing; local and test fill in a throwaway key.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "django_htmx",
    "axes",
    "csp",
    "simple_history",
    # The shared ground floor below every app (core/__init__.py): its models come first.
    "core",
    "leads",
    "handoff",
    "pipeline",
    "feedback",
    "integrations",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise: static files keep their own caching headers and need no policy.
    "csp.middleware.CSPMiddleware",
    "config.headers.PrivacyHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The audit rows (django-simple-history) name the signed-in person behind an admin or page
    # edit; services pass their actor explicitly as well.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Every time on a page in the viewer's zone (theirs, else their team calendar's).
    "handoff.timezones.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # HTMX refreshes carry the navigation's counts (feedback.nav).
    "feedback.nav.NavCountsMiddleware",
    # Refusals (404/403) on pages render our own pages, DEBUG or not (core.error_pages).
    "core.error_pages.RefusalPages",
    # Last, as django-axes asks: turns a locked-out login into its 429 (config.security).
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts, styles, images, fonts and requests from our own
# origin only; no inline script, no inline style (nor `style=` attributes), no plugins, no
# framing. The API docs pages relax style-src for their bundled UIs (config.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.roles.roles_context",
                "feedback.nav.context",
            ],
        },
    },
]

# Embedded default: a SQLite file under var/. Production and CI set DATABASE_URL (PostgreSQL).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A single writer at a time on SQLite: wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) serve the PostgreSQL production; SQLite, the demo's database, just
# ignores the extra columns.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login abuse (django-axes): failures counted per client address; after AXES_FAILURE_LIMIT
# within the cool-off every attempt gets 429 with Retry-After (config.security, which also
# serialises one client's attempts so that concurrent guesses cannot overrun the limit).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_LOCKOUT_CALLABLE = "config.security.lockout_response"
AXES_VERBOSE = False
# The address is REMOTE_ADDR (X-Forwarded-For is not trusted: a client could forge it to escape
# the limit). Behind a reverse proxy, point AXES_CLIENT_IP_CALLABLE at the proxy's real-IP logic.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # the zone of people with no team and no zone of their own
USE_I18N = True
USE_TZ = True
# Date-times in the admin name their zone ("Mon 7 Dec 2026, 09:15 EST").
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "templates" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="handoff-desk@localhost")

# Seconds a process remembers an API token's user and a user's roles (core.api.token_auth): a
# deleted token or a deactivated user is refused by every process within this time.
TOKEN_CACHE_SECONDS = env.float("TOKEN_CACHE_SECONDS", default=10.0)
ROLE_CACHE_SECONDS = env.float("ROLE_CACHE_SECONDS", default=10.0)

REST_FRAMEWORK = {
    # Token first: DRF answers a missing or bad credential with the first class's challenge, so
    # an API client gets 401 with `WWW-Authenticate: Token` (session first made it a 403 that a
    # client cannot tell from "not allowed"). Pages keep their login redirect.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.token_auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The API speaks JSON only: the schema declares application/json for every body and any
    # other content type is a 415.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "core.api.params.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handoff desk API",
    "DESCRIPTION": "Leads, engagement, SLA-bound handoffs to sales and the feedback loop.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Signed-in users only (session or token); anonymous clients get 401.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": [
        "core.api.token_auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The events the desk POSTs (integrations.schema), under `x-webhooks` (core.api.schema).
    "WEBHOOKS": [
        f"integrations.schema.{name}"
        for name in (
            "LEAD_PROMOTED",
            "HANDOFF_ASSIGNED",
            "HANDOFF_UNASSIGNED",
            "HANDOFF_ACCEPTED",
            "HANDOFF_INFO_REQUESTED",
            "HANDOFF_INFO_PROVIDED",
            "HANDOFF_RETURNED",
            "HANDOFF_QUALIFIED",
            "HANDOFF_AT_RISK",
            "HANDOFF_BREACHED",
            "HANDOFF_REASSIGNED",
            "FEEDBACK_ACKNOWLEDGED",
            "FEEDBACK_DISPUTED",
        )
    ],
    # The errors every operation can answer whatever its view (401/403/400/404/415), and
    # nullable nested objects in the form OpenAPI 3.0 validators read (core.api.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_standard_errors",
        "core.api.schema.nullable_refs",
        "core.api.schema.webhooks_as_extension",
    ],
    "ENUM_NAME_OVERRIDES": {
        # feedback: a reason's effect and what a return did to the lead share one choice set.
        "ReturnEffectEnum": "feedback.models.RejectionReason.Effect",
        # handoff: status, from_status and to_status share one choice set; event kinds.
        "HandoffStatusEnum": "handoff.states.Status",
        "HandoffEventKindEnum": "handoff.models.HandoffEvent.Kind",
        # leads: engagement event kinds; sources (a lead's, a rule's list); lead stages.
        "EngagementEventKindEnum": "leads.models.EventKind",
        "SourceEnum": "leads.models.Source",
        "LeadStageEnum": "leads.models.Stage",
        # pipeline: an opportunity's stage; what a lost deal does to its lead.
        "OpportunityStageEnum": "pipeline.states.Stage",
        "OpportunityLeadEffectEnum": "pipeline.services.LEAD_EFFECTS",
        # integrations: a webhook endpoint's kind.
        "EndpointKindEnum": "integrations.models.Endpoint.Kind",
    },
}

# Celery. Embedded default: kombu's filesystem transport under var/ (no server needed).
# Production and CI set CELERY_BROKER_URL (Redis; RabbitMQ works too).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
# Redis (and the other network brokers): publishing (core.outbox) must fail fast when the broker
# is down or hung, never hang a request. One connection attempt (kombu would otherwise retry for
# broker_connection_timeout, and redis-py on top), each bounded by these timeouts; workers and
# beat reconnect by their own loop, which max_retries does not limit.
BROKER_NETWORK_TRANSPORT_OPTIONS: dict = {
    # A task that outlives the visibility timeout is redelivered: keep it well above any task.
    "visibility_timeout": 3600,
    "max_retries": 0,
    "socket_connect_timeout": env.float("CELERY_BROKER_SOCKET_CONNECT_TIMEOUT", default=1.0),
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0),
}
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # The filesystem transport fails to publish into folders that do not exist yet.
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(BROKER_NETWORK_TRANSPORT_OPTIONS)
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
# Workers and beat keep reconnecting however long the broker is away (the default gives up after
# 100 tries, and a worker that gave up stays dead after the broker is back).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

SLA_SWEEP_INTERVAL_SECONDS = env.float("SLA_SWEEP_INTERVAL_SECONDS", default=30.0)
# Handoffs claimed per short transaction: bounds lock time and how much a crash rolls back.
# 2,000 (a batch is ~0.1-0.3 s on PostgreSQL): fewer statements to plan and commit than 500.
SLA_SWEEP_BATCH_SIZE = env.int("SLA_SWEEP_BATCH_SIZE", default=2000)
# The outbox sender: beat runs it this often as a safety net (it is also queued on every commit
# that writes a notification); a failed send is retried after BASE * 2**(attempts-1) seconds,
# capped at MAX, and given up after MAX_ATTEMPTS (the row stays unsent, with its last error).
# A claimed row is leased for LEASE seconds: a sender killed mid-send is retried after that.
NOTIFICATION_SEND_INTERVAL_SECONDS = env.float("NOTIFICATION_SEND_INTERVAL_SECONDS", default=60.0)
NOTIFICATION_RETRY_BASE_SECONDS = env.float("NOTIFICATION_RETRY_BASE_SECONDS", default=60.0)
NOTIFICATION_RETRY_MAX_SECONDS = env.float("NOTIFICATION_RETRY_MAX_SECONDS", default=3600.0)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=10)
NOTIFICATION_SEND_LEASE_SECONDS = env.float("NOTIFICATION_SEND_LEASE_SECONDS", default=300.0)
# Links in notification emails point here.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# Lets a test worker (or a second deployment on a shared broker) use a queue of its own.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# The weekly alignment digest: each recipient gets the ISO week that just ended in their own
# zone (their profile's, else their team calendar's, else TIME_ZONE) from this weekday and hour
# on, local time (Monday 08:00 by default); beat checks every DIGEST_CHECK_INTERVAL_SECONDS
# (hourly; any interval works, a late run still sends that day), and the same run retries
# unsent rows of earlier weeks. DIGEST_TIME_ZONE is the zone of `manage.py alignment_digest`'s
# default week and of the digest's breach counts.
DIGEST_TIME_ZONE = env("DIGEST_TIME_ZONE", default="UTC")
DIGEST_SEND_WEEKDAY = env.int("DIGEST_SEND_WEEKDAY", default=0)
DIGEST_SEND_HOUR = env.int("DIGEST_SEND_HOUR", default=8)
DIGEST_CHECK_INTERVAL_SECONDS = env.float("DIGEST_CHECK_INTERVAL_SECONDS", default=3600.0)
# Static schedule; beat drops a run not started within one interval (the next one is coming).
CELERY_BEAT_SCHEDULE: dict = {
    "sla-sweep": {
        "task": "handoff.tasks.sla_sweep",
        "schedule": SLA_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": SLA_SWEEP_INTERVAL_SECONDS},
    },
    "notifications-send": {
        "task": "handoff.tasks.notifications_send",
        "schedule": NOTIFICATION_SEND_INTERVAL_SECONDS,
        "options": {"expires": NOTIFICATION_SEND_INTERVAL_SECONDS},
    },
    "alignment-digest": {
        "task": "feedback.tasks.alignment_digest",
        "schedule": DIGEST_CHECK_INTERVAL_SECONDS,
        "options": {"expires": DIGEST_CHECK_INTERVAL_SECONDS},
    },
}

# Domain settings (edited by operators, not per request).
LEAD_BULK_MAX_ROWS = 1000
LEAD_BULK_MAX_BYTES = env.int("LEAD_BULK_MAX_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LEAD_BULK_MAX_BYTES
# CSV imports: the import page and the admin's import (one flow) keep the uploaded file in the
# database until the import is done; `manage.py import_leads` streams its file.
LEAD_IMPORT_PAGE_MAX_BYTES = env.int("LEAD_IMPORT_PAGE_MAX_BYTES", default=64 * 1024 * 1024)
# Bigger files are dry-run by a task the page polls, rather than in the request.
LEAD_IMPORT_INLINE_CHECK_BYTES = env.int("LEAD_IMPORT_INLINE_CHECK_BYTES", default=1024 * 1024)
LEAD_IMPORT_FILE_MAX_BYTES = env.int("LEAD_IMPORT_FILE_MAX_BYTES", default=1024 * 1024 * 1024)
IDEMPOTENCY_KEY_TTL_HOURS = 24
# The key of the erased-emails blocklist's HMAC (config.erasure). Empty: SECRET_KEY. Keep it
# stable: a new key forgets every erased email (set this before rotating SECRET_KEY).
ERASURE_HASH_KEY = env("ERASURE_HASH_KEY", default="")
# Leads: engagement points decay as days pass, so beat rescores every lead this often (a rule
# change queues its own rescore at once); expired Idempotency-Key records are purged hourly.
LEADS_RESCORE_INTERVAL_SECONDS = env.float("LEADS_RESCORE_INTERVAL_SECONDS", default=6 * 3600.0)
# Auto-promotions held for a team's working hours are released by the same period as the sweep.
# The revenue rollup: changes only mark their promotion day dirty; this recounts the dirty days.
REVENUE_ROLLUP_REFRESH_SECONDS = env.float("REVENUE_ROLLUP_REFRESH_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["revenue-rollup-refresh"] = {
    "task": "pipeline.tasks.revenue_rollup_refresh",
    "schedule": REVENUE_ROLLUP_REFRESH_SECONDS,
    "options": {"expires": REVENUE_ROLLUP_REFRESH_SECONDS},
}
# The feedback rollup: the handoff triggers append correction rows; this folds them in.
FEEDBACK_ROLLUP_COMPACT_SECONDS = env.float("FEEDBACK_ROLLUP_COMPACT_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["feedback-rollup-compact"] = {
    "task": "feedback.tasks.feedback_rollup_compact",
    "schedule": FEEDBACK_ROLLUP_COMPACT_SECONDS,
    "options": {"expires": FEEDBACK_ROLLUP_COMPACT_SECONDS},
}
CELERY_BEAT_SCHEDULE["auto-promotions-release"] = {
    "task": "handoff.tasks.auto_promotions_release",
    "schedule": SLA_SWEEP_INTERVAL_SECONDS,
    "options": {"expires": SLA_SWEEP_INTERVAL_SECONDS},
}
CELERY_BEAT_SCHEDULE["leads-rescore-all"] = {
    "task": "leads.tasks.leads_rescore_all",
    "schedule": LEADS_RESCORE_INTERVAL_SECONDS,
    "options": {"expires": LEADS_RESCORE_INTERVAL_SECONDS},
}
# Imports from the import page keep their file and before values for the 24 hours of undo.
CELERY_BEAT_SCHEDULE["leads-imports-purge"] = {
    "task": "leads.tasks.lead_imports_purge",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
CELERY_BEAT_SCHEDULE["leads-idempotency-purge"] = {
    "task": "leads.tasks.idempotency_purge",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# The task outbox (core.outbox): every Celery task is a row written in the caller's
# transaction. After commit the request tries one quick publish (unless OUTBOX_PUBLISH_ON_COMMIT
# is off), and a failure makes that process leave its rows to the relay for BREAKER seconds.
# The relay publishes what is pending every RELAY_INTERVAL seconds (rows the committing process
# publishes itself are left to it for GRACE seconds); a batch the broker refuses waits
# BASE * 2**(attempts-1) seconds, capped at MAX. Published rows are kept KEEP_PUBLISHED hours.
OUTBOX_PUBLISH_ON_COMMIT = env.bool("OUTBOX_PUBLISH_ON_COMMIT", default=True)
OUTBOX_PUBLISH_GRACE_SECONDS = env.float("OUTBOX_PUBLISH_GRACE_SECONDS", default=5.0)
OUTBOX_BREAKER_SECONDS = env.float("OUTBOX_BREAKER_SECONDS", default=5.0)
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=2.0)
OUTBOX_RELAY_BATCH_SIZE = env.int("OUTBOX_RELAY_BATCH_SIZE", default=500)
OUTBOX_RETRY_BASE_SECONDS = env.float("OUTBOX_RETRY_BASE_SECONDS", default=1.0)
OUTBOX_RETRY_MAX_SECONDS = env.float("OUTBOX_RETRY_MAX_SECONDS", default=60.0)
OUTBOX_KEEP_PUBLISHED_HOURS = env.float("OUTBOX_KEEP_PUBLISHED_HOURS", default=24.0)
CELERY_BEAT_SCHEDULE["leads-outbox-relay"] = {
    "task": "leads.tasks.outbox_relay",
    "schedule": OUTBOX_RELAY_INTERVAL_SECONDS,
    "options": {"expires": OUTBOX_RELAY_INTERVAL_SECONDS},
}
CELERY_BEAT_SCHEDULE["leads-outbox-purge"] = {
    "task": "leads.tasks.outbox_purge",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# Outbound webhooks and team chat (integrations.delivery). A POST may take CONNECT seconds to
# connect and TOTAL in all; at most READ_BYTES of the answer are read. A failed message is
# retried after each of RETRY_SCHEDULE (seconds, +-20% jitter; about 3 days in all), then given
# up; an endpoint failing for DISABLE_AFTER_HOURS without a success is disabled. A worker
# delivers to one endpoint for at most WORKER_BUDGET seconds before giving the slot to others.
# Only https is sent to in production; addresses inside the network (loopback, private,
# link-local...) are refused unless inside ALLOWED_NETWORKS (comma-separated CIDRs).
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=False)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_TOTAL_TIMEOUT_SECONDS = env.float("WEBHOOK_TOTAL_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RESPONSE_READ_BYTES = 1024
WEBHOOK_RETRY_SCHEDULE_SECONDS = env.list(
    "WEBHOOK_RETRY_SCHEDULE_SECONDS",
    cast=float,
    default=[5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 50400, 57600],
)
WEBHOOK_DISABLE_AFTER_HOURS = env.float("WEBHOOK_DISABLE_AFTER_HOURS", default=72.0)
WEBHOOK_WORKER_BUDGET_SECONDS = env.float("WEBHOOK_WORKER_BUDGET_SECONDS", default=5.0)
WEBHOOK_BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", default=100)
WEBHOOK_SECRET_ROTATION_HOURS = env.float("WEBHOOK_SECRET_ROTATION_HOURS", default=24.0)
WEBHOOK_DISPATCH_INTERVAL_SECONDS = env.float("WEBHOOK_DISPATCH_INTERVAL_SECONDS", default=5.0)
WEBHOOK_KEEP_DAYS = env.float("WEBHOOK_KEEP_DAYS", default=30.0)
CELERY_BEAT_SCHEDULE["webhooks-dispatch"] = {
    "task": "integrations.tasks.webhooks_dispatch",
    "schedule": WEBHOOK_DISPATCH_INTERVAL_SECONDS,
    "options": {"expires": WEBHOOK_DISPATCH_INTERVAL_SECONDS},
}
CELERY_BEAT_SCHEDULE["webhooks-purge"] = {
    "task": "integrations.tasks.webhook_messages_purge",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
RECYCLE_CAP = env.int("RECYCLE_CAP", default=3)
# Feedback analytics: score bands (lower bound, label) of the handoff's score snapshot; the
# candidate MQL thresholds the advisor tries; the acceptance rate it looks for, and how many
# decided handoffs (accepted or returned) a threshold needs before its rate is trusted.
# Lower bounds of the score bands; the labels are derived from them (feedback.selectors
# .score_bands), so the first band says "under 40" and the last "100+": scores have no ceiling.
FEEDBACK_SCORE_BANDS = [0, 40, 60, 80, 100]
FEEDBACK_THRESHOLD_CANDIDATES = list(range(30, 100, 5))
FEEDBACK_TARGET_ACCEPTANCE = env.float("FEEDBACK_TARGET_ACCEPTANCE", default=0.6)
FEEDBACK_MIN_DECIDED = env.int("FEEDBACK_MIN_DECIDED", default=20)

# Housekeeping ticks (outbox relay, sweep, sender) log at DEBUG; false logs them at INFO
# (config.quiet_logs).
LOG_QUIET_TICKS = env.bool("LOG_QUIET_TICKS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Revenue (the pipeline app): the company currency (ISO 4217). Amounts in another currency are
# stored as given and reported apart, never summed with this one.
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD").upper()
# A lost deal whose rep recycles the lead: marketing may promote it again after this many days.
PIPELINE_RECYCLE_DAYS = env.int("PIPELINE_RECYCLE_DAYS", default=90)
PIPELINE_SYNC_MAX_ROWS = 1000
# The threshold advisor names the threshold keeping this share of won revenue with fewest MQLs.
PIPELINE_REVENUE_KEEP_SHARE = 0.95

# The audit trail (django-simple-history): the admin shows each object's history; reverting
# from there is off, since it would save past the services (versions, rescoring, checks).
SIMPLE_HISTORY_REVERT_DISABLED = True

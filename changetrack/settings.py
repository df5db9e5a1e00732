"""Django settings, all from the environment.

Unset ``DATABASE_URL`` / ``REDIS_URL`` mean "development": the embedded servers of ``changetrack.embedded``
are started. Bad values fail fast with a message naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

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


def env_secret(name: str) -> str:
    """``name`` from the environment, or the content of the file ``<name>_FILE`` points to (a mounted Kubernetes
    or Docker Secret), its trailing newline stripped. Setting both is an error naming both."""
    value, path = os.environ.get(name, ""), os.environ.get(f"{name}_FILE", "")
    if value and path:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    if not path:
        return value
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None


def _public_url(raw: str) -> str:
    """The address users reach: an absolute http(s) URL, optionally with a path prefix, nothing after it."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"PUBLIC_URL must be an absolute http(s) URL without query or fragment, e.g. https://changetrack.example.com,"
            f" not {raw!r}"
        )
    return raw.strip().rstrip("/")


# Unset means "development": the embedded servers are started and their URLs exported for child processes.
# lower case: not a setting, so the URL with its password is not one more place a debug page could show it
database_url = env_secret("DATABASE_URL")
if not database_url:
    database_url = os.environ["DATABASE_URL"] = embedded.postgres_url()
REDIS_URL = env_secret("REDIS_URL")
if not REDIS_URL:
    REDIS_URL = os.environ["REDIS_URL"] = embedded.redis_url()
EMBEDDED = str(embedded.PG_DIR) in database_url  # development against the embedded server

DEBUG = _env_bool("DEBUG", default=EMBEDDED)
# With DEBUG off the key must come from outside and must not be a development key (anyone holding it can forge
# sessions, decrypt stored connection secrets and recompute Secret value hashes). With DEBUG on and no key, a
# random key is generated once into .data (git-ignored), so sessions and connection secrets survive restarts.
SECRET_KEY = env_secret("SECRET_KEY")
SECRET_KEY_FALLBACKS = [k.strip() for k in env_secret("SECRET_KEY_FALLBACKS").split(",") if k.strip()]
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or SECRET_KEY_FILE) when DEBUG is off")
    SECRET_KEY = embedded.dev_secret_key()
if not DEBUG:
    for _name, _key in [("SECRET_KEY", SECRET_KEY), *(("SECRET_KEY_FALLBACKS", k) for k in SECRET_KEY_FALLBACKS)]:
        if embedded.is_dev_secret_key(_key):
            raise ImproperlyConfigured(f"{_name} holds a development key; set a random one when DEBUG is off")
CHANGETRACK_ADMIN_PASSWORD = env_secret("CHANGETRACK_ADMIN_PASSWORD")  # the first admin's (ensure_superuser)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h.strip()
]
#: The address users reach this changetrack at: every URL it prints or sends (webhook URLs, links in notifications
#: and annotations) is built from it (``changetrack.infra.urls.absolute_url``), never from the host a request named.
#: The default is what ``manage.py serve`` (``make run``) listens on: ``HOST``/``PORT``.
PUBLIC_URL = _public_url(
    os.environ.get("PUBLIC_URL") or f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

try:
    DATABASES = {"default": dj_database_url.parse(database_url, conn_max_age=60, conn_health_checks=True)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (postgres:// or postgresql://)")
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5

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
    "changetrack.audit.AuditContextMiddleware",
    "csp.middleware.CSPMiddleware",
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
# password logins pass a failure counter (changetrack/web/login_throttle.py); other backends (SSO) go after it
AUTHENTICATION_BACKENDS = ["changetrack.web.login_throttle.ThrottledModelBackend"]
LOGIN_FAILURE_LIMIT = _env_int("LOGIN_FAILURE_LIMIT", 10)
LOGIN_LOCKOUT_SECONDS = _env_int("LOGIN_LOCKOUT_SECONDS", 900)
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
# Every script is a static file of ours (htmx and Swagger UI vendored): no inline script, no eval, no other host.
# Inline styles stay allowed: bar widths are style attributes, and htmx and Swagger UI insert style elements.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
    "expire-trace-edges": {"task": "changetrack.ingest.tasks.expire_trace_edges", "schedule": 3600.0},
    # every pull source (GitHub, LaunchDarkly, Datadog events) at its own Integration.poll_interval
    "poll-due": {"task": "changetrack.poll_due", "schedule": 60.0},
    "github-commit-ranges": {"task": "changetrack.attach_pending_commit_ranges", "schedule": 60.0},
    "resync-kubernetes": {"task": "changetrack.collect.tasks.resync_kubernetes", "schedule": 900.0},
    "learn-dependencies": {"task": "changetrack.correlation.tasks.learn_dependencies", "schedule": 3600.0},
    # Slack clicks and notices whose task was never enqueued (broker down when they were stored)
    "sweep-notify": {"task": "changetrack.notify.tasks.sweep", "schedule": 60.0},
    # announced alerts whose ranking moved without a trigger (a new edge, a verdict on a similar alert)
    "refresh-notices": {"task": "changetrack.notify.tasks.refresh", "schedule": 60.0},
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
# SNS signing certificates and subscription URLs are fetched over HTTPS with certificate verification against this
# CA bundle (a path; empty: the system's/certifi's). Only for a private CA in front of AWS, or a test server.
AWS_SNS_CA_BUNDLE = os.environ.get("AWS_SNS_CA_BUNDLE", "")
# the OpenAPI schema: public, or only for a logged-in viewer or a token with the read scope (the default)
API_SCHEMA_PUBLIC = _env_bool("API_SCHEMA_PUBLIC", default=False)
# /metrics: with METRICS_TOKEN set, only requests bearing it; otherwise public unless METRICS_PUBLIC=false
METRICS_TOKEN = env_secret("METRICS_TOKEN")
METRICS_PUBLIC = _env_bool("METRICS_PUBLIC", default=not METRICS_TOKEN)
API_MAX_BODY_BYTES = _env_int("API_MAX_BODY_BYTES", 8 * 1024 * 1024)  # 1,000 changes with details fit
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES, 2_621_440) * 4
RETENTION_DAYS = _env_int("RETENTION_DAYS", 90)
# dependency edges read from traces that no tracing source has reported for this long are dropped
TRACE_EDGE_EXPIRY_DAYS = _env_int("TRACE_EDGE_EXPIRY_DAYS", 7)
DELIVERY_DEDUPE_WINDOW = __import__("datetime").timedelta(days=_env_int("DELIVERY_DEDUPE_DAYS", 7))
DELIVERY_RETENTION_DAYS = _env_int("DELIVERY_RETENTION_DAYS", 14)
PARTITION_PRECREATE_DAYS = _env_int("PARTITION_PRECREATE_DAYS", 7)
INGEST_BATCH_SIZE = _env_int("INGEST_BATCH_SIZE", 2000)
INGEST_KICK_DELAY_MS = _env_int("INGEST_KICK_DELAY_MS", 200)
# a drain task returns (the rest pending, another drain asked for) after this long: a warm shutdown (SIGTERM)
# of a prefork worker then ends within an orchestrator's grace period
INGEST_DRAIN_SECONDS = _env_int("INGEST_DRAIN_SECONDS", 20)
DEFAULT_CORRELATION_WINDOW_MINUTES = _env_int("CORRELATION_WINDOW_MINUTES", 24 * 60)
CORRELATION_SKEW_MINUTES = _env_int("CORRELATION_SKEW_MINUTES", 5)
# Slack's Web API; tests and staging point it at a local server speaking the same wire format
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/")

# SSO (OpenID Connect): off unless OIDC_ISSUER / OIDC_CLIENT_ID are set; changetrack/sso/config.py reads every OIDC_*
# variable into this one object. The password backend stays listed first: the break-glass admin logs in without the
# provider. (Appended to whatever backends are set above, so a throttling backend put first keeps its place.)
from changetrack.sso import config as sso_config  # noqa: E402 (kept in this block so the SSO edit stays in one place)

# the client secret may come from a mounted file like every other secret (OIDC_CLIENT_SECRET_FILE)
SSO = sso_config.from_env({**os.environ, "OIDC_CLIENT_SECRET": env_secret("OIDC_CLIENT_SECRET")})
if SSO is not None:
    AUTHENTICATION_BACKENDS = [
        *AUTHENTICATION_BACKENDS,
        sso_config.BACKEND,
    ]

LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")  # json lines for collectors; text for reading in a terminal
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = logs.logging_config(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO"))

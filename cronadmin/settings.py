import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cronadmin.env import (
    env_bool,
    env_choice,
    env_fernet_keys,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# Production is the default: a deployment that forgets a variable fails loudly or stays locked
# down. `make run`, `make test`, the benchmarks and the test suite set CRONADMIN_DEV=1, which
# relaxes only what plain-HTTP localhost needs (a development key, local hosts, cookies and
# redirects without TLS).
DEVELOPMENT = env_bool("CRONADMIN_DEV", False)
DEBUG = env_bool("DEBUG", False)

if DEVELOPMENT:
    SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-change-me")
elif not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured(
        "SECRET_KEY is required in production: set it to a long random value, e.g. the output "
        "of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
        "For local development set CRONADMIN_DEV=1 instead."
    )
else:
    SECRET_KEY = os.environ["SECRET_KEY"]

LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", LOCAL_HOSTS if DEVELOPMENT else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is required in production: the comma-separated host names this service "
        "answers to, e.g. cron.example.com."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- behind a reverse proxy (each opt-in: trusting a header a client can forge is a hole) ---
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
# How many proxies append to X-Forwarded-For in front of the web; 0 = the client connects
# directly and X-Forwarded-For is ignored (anyone can send one).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- transport and browser protections ---
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEVELOPMENT)
# Container and load-balancer health checks speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^metrics/?$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEVELOPMENT else 31_536_000, minimum=0)
# Both reach beyond this host (every subdomain; browsers' built-in lists), so each is a choice.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEVELOPMENT)
COOKIE_SAMESITE = env_choice("COOKIE_SAMESITE", "Lax", ("Lax", "Strict"))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
# No script needs a cookie: pages and the API docs take the CSRF token from the page itself.
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = LANGUAGE_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = LANGUAGE_COOKIE_SAMESITE = COOKIE_SAMESITE
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600, minimum=60)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jobs.audit.AuditContextMiddleware",
    # After authentication: the person's saved language and time zone win over the browser's.
    "jobs.views.preferences.UserPreferencesMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cronadmin.urls"
WSGI_APPLICATION = "cronadmin.wsgi.application"

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
                "jobs.views.preferences.ui",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'cronadmin.sqlite3'}"),
        # Reusing a connection skips a new connect (and the SQLite pragmas) per request.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web read while the scheduler writes; IMMEDIATE transactions take the write
    # lock up front so concurrent writers wait (busy_timeout) instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_float("SQLITE_BUSY_TIMEOUT", 20.0, minimum=0.1),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests start real scheduler processes, which need a database file they can open too; one
    # file per test session, so two sessions on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
else:
    # One test database per test session here too, for the same reason.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out client is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "jobs:login"
LOGIN_REDIRECT_URL = "jobs:dashboard"
LOGOUT_REDIRECT_URL = "jobs:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production serves collected files under content-hashed names, pre-compressed, cached
    # forever by browsers; development and tests read the source folder as it is.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEVELOPMENT
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# The pages load only their own scripts and styles (htmx comes from django-htmx as a static
# file; nothing is inline), so the policy needs no 'unsafe-inline' and no 'unsafe-eval'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- login throttling (django-axes) ---
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# A person guessing one account from one address is stopped, but a colleague mistyping behind
# the same office NAT does not lock everyone else out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "jobs.views.lockout.lockout_response"
# The audit log and the throttle agree on who the client is (see TRUSTED_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "jobs.audit.client_ip"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# json: one object per line (timestamp, level, logger, message, job_id, run_id, node, exception)
# for log collectors; text stays the default for people reading a terminal.
LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "run_context": {"()": "jobs.log_context.RunContextFilter"},
        # Secrets of the runs in progress are masked in every line, tracebacks included.
        "redact_secrets": {"()": "jobs.vault.RedactSecretsFilter"},
    },
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s%(run_context)s"
        },
        "json": {"()": "jobs.log_context.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["run_context", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "cronadmin": {"level": LOG_LEVEL, "propagate": True},
        "jobs": {"level": LOG_LEVEL, "propagate": True},
        "apscheduler": {"level": "WARNING", "propagate": True},
    },
}

# --- CronAdmin ---
# Fernet keys for the secrets in job settings, comma-separated: the first encrypts, all decrypt
# (rotation). Empty: one derived from SECRET_KEY, and `check --deploy` warns.
CRONADMIN_ENCRYPTION_KEYS = env_fernet_keys("CRONADMIN_ENCRYPTION_KEYS")
CRONADMIN_ALLOW_SHELL_JOBS = env_bool("CRONADMIN_ALLOW_SHELL_JOBS", False)
CRONADMIN_HTTP_ALLOWED_HOSTS = env_list("CRONADMIN_HTTP_ALLOWED_HOSTS")
CRONADMIN_HTTP_MAX_RESPONSE_BYTES = env_int(
    "CRONADMIN_HTTP_MAX_RESPONSE_BYTES", 1_048_576, minimum=0
)
# Saving an http job or webhook resolves its host name within this many seconds to refuse an
# internal target at once; 0 skips the lookup (runs still check). See docs/security.md.
CRONADMIN_HTTP_SAVE_RESOLVE_SECONDS = env_float(
    "CRONADMIN_HTTP_SAVE_RESOLVE_SECONDS", 2.0, minimum=0
)
# A test request from the web waits at most this long, whatever the job's own timeout.
CRONADMIN_HTTP_TEST_TIMEOUT_SECONDS = env_float(
    "CRONADMIN_HTTP_TEST_TIMEOUT_SECONDS", 15.0, minimum=0.1
)
# Captured output keeps this many bytes from the start and from the end of a run's output.
CRONADMIN_OUTPUT_HEAD_BYTES = env_int("CRONADMIN_OUTPUT_HEAD_BYTES", 32_768, minimum=0)
CRONADMIN_OUTPUT_TAIL_BYTES = env_int("CRONADMIN_OUTPUT_TAIL_BYTES", 32_768, minimum=0)
CRONADMIN_OUTPUT_DIR = Path(env_str("CRONADMIN_OUTPUT_DIR", str(BASE_DIR / "var" / "output")))
CRONADMIN_TASK_WORKERS = env_int("CRONADMIN_TASK_WORKERS", 4, minimum=1)
CRONADMIN_THREAD_WORKERS = env_int("CRONADMIN_THREAD_WORKERS", 16, minimum=1)
CRONADMIN_POLL_SECONDS = env_float("CRONADMIN_POLL_SECONDS", 0.25, minimum=0.01)
# LISTEN on PostgreSQL for instant change pickup; turn off behind a transaction-mode pooler.
CRONADMIN_PG_LISTEN = env_bool("CRONADMIN_PG_LISTEN", True)
CRONADMIN_RECONCILE_SECONDS = env_float("CRONADMIN_RECONCILE_SECONDS", 30.0, minimum=1.0)
CRONADMIN_HEARTBEAT_SECONDS = env_float("CRONADMIN_HEARTBEAT_SECONDS", 2.0, minimum=0.1)
CRONADMIN_SHUTDOWN_GRACE_SECONDS = env_float("CRONADMIN_SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0)
# A slot that could not start within this many seconds of its time counts as missed.
CRONADMIN_MISFIRE_GRACE_SECONDS = env_float("CRONADMIN_MISFIRE_GRACE_SECONDS", 30.0, minimum=0)
CRONADMIN_MISFIRE_MAX_SLOTS = env_int("CRONADMIN_MISFIRE_MAX_SLOTS", 10000, minimum=1)
CRONADMIN_DEFAULT_TIMEOUT_SECONDS = env_int("CRONADMIN_DEFAULT_TIMEOUT_SECONDS", 3600, minimum=1)

# --- notifications and retention ---
# Per job and channel at most one message per window; later events wait for one digest.
CRONADMIN_NOTIFY_WINDOW_SECONDS = env_int("CRONADMIN_NOTIFY_WINDOW_SECONDS", 300, minimum=0)
CRONADMIN_NOTIFY_SEND_ATTEMPTS = env_int("CRONADMIN_NOTIFY_SEND_ATTEMPTS", 3, minimum=1)
CRONADMIN_NOTIFY_RETRY_SECONDS = env_float("CRONADMIN_NOTIFY_RETRY_SECONDS", 60.0, minimum=0)
CRONADMIN_NOTIFY_TIMEOUT_SECONDS = env_float("CRONADMIN_NOTIFY_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Links in messages point here (e.g. https://cron.example.com); empty: no links.
CRONADMIN_BASE_URL = env_str("CRONADMIN_BASE_URL", "").rstrip("/")
CRONADMIN_RUNS_KEEP_DAYS = env_int("CRONADMIN_RUNS_KEEP_DAYS", 30, minimum=0)
CRONADMIN_RUNS_KEEP_PER_JOB = env_int("CRONADMIN_RUNS_KEEP_PER_JOB", 100, minimum=0)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0, minimum=0.1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cronadmin@localhost")
# /metrics (web and scheduler) asks for "Authorization: Bearer <token>" when this is set.
CRONADMIN_METRICS_TOKEN = env_str("CRONADMIN_METRICS_TOKEN", "")
# host:port where the scheduler process serves its own /metrics and /healthz; empty: none.
CRONADMIN_SCHEDULER_HTTP = env_str("CRONADMIN_SCHEDULER_HTTP", "")

# --- Celery workers (docs/workers.md) ---
# A broker URL turns on runs on Celery workers for jobs that name a queue, e.g.
# amqp://guest:guest@127.0.0.1:5672//. Empty: every run stays in the scheduler's own pools.
CRONADMIN_CELERY_BROKER_URL = env_str("CRONADMIN_CELERY_BROKER_URL", "")
# A worker's supervisor writes the run's heartbeat this often; a run whose heartbeat is older
# than CRONADMIN_CELERY_WORKER_LOST_SECONDS is taken for lost (interrupted, then retried).
CRONADMIN_CELERY_HEARTBEAT_SECONDS = env_float(
    "CRONADMIN_CELERY_HEARTBEAT_SECONDS", 5.0, minimum=0.1
)
CRONADMIN_CELERY_WORKER_LOST_SECONDS = env_float(
    "CRONADMIN_CELERY_WORKER_LOST_SECONDS", 60.0, minimum=1.0
)
# A queued run of a queue that no worker consumes fails after this many seconds.
CRONADMIN_CELERY_NO_WORKER_SECONDS = env_float(
    "CRONADMIN_CELERY_NO_WORKER_SECONDS", 300.0, minimum=0.5
)
# Celery's hard time limit is the run's timeout plus this: the backstop for code that holds the GIL.
CRONADMIN_CELERY_HARD_LIMIT_GRACE_SECONDS = env_float(
    "CRONADMIN_CELERY_HARD_LIMIT_GRACE_SECONDS", 30.0, minimum=1.0
)

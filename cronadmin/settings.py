import os
from pathlib import Path

import dj_database_url

from cronadmin.env import env_bool, env_choice, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# A fresh clone must run without configuration; production deployments set SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-change-me")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
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
    "django_htmx.middleware.HtmxMiddleware",
    "jobs.audit.AuditContextMiddleware",
    # After authentication: the person's saved language and time zone win over the browser's.
    "jobs.views.preferences.UserPreferencesMiddleware",
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
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# json: one object per line (timestamp, level, logger, message, job_id, run_id, node, exception)
# for log collectors; text stays the default for people reading a terminal.
LOG_FORMAT = env_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run_context": {"()": "jobs.log_context.RunContextFilter"}},
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
            "filters": ["run_context"],
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
CRONADMIN_ALLOW_SHELL_JOBS = env_bool("CRONADMIN_ALLOW_SHELL_JOBS", False)
CRONADMIN_HTTP_ALLOWED_HOSTS = env_list("CRONADMIN_HTTP_ALLOWED_HOSTS")
CRONADMIN_HTTP_MAX_RESPONSE_BYTES = env_int(
    "CRONADMIN_HTTP_MAX_RESPONSE_BYTES", 1_048_576, minimum=0
)
# Captured output keeps this many bytes from the start and from the end of a run's output.
CRONADMIN_OUTPUT_HEAD_BYTES = env_int("CRONADMIN_OUTPUT_HEAD_BYTES", 32_768, minimum=0)
CRONADMIN_OUTPUT_TAIL_BYTES = env_int("CRONADMIN_OUTPUT_TAIL_BYTES", 32_768, minimum=0)
CRONADMIN_OUTPUT_DIR = Path(env_str("CRONADMIN_OUTPUT_DIR", str(BASE_DIR / "var" / "output")))
CRONADMIN_TASK_WORKERS = env_int("CRONADMIN_TASK_WORKERS", 4, minimum=1)
CRONADMIN_THREAD_WORKERS = env_int("CRONADMIN_THREAD_WORKERS", 16, minimum=1)
CRONADMIN_POLL_SECONDS = env_float("CRONADMIN_POLL_SECONDS", 0.25, minimum=0.01)
CRONADMIN_RECONCILE_SECONDS = env_float("CRONADMIN_RECONCILE_SECONDS", 30.0, minimum=1.0)
CRONADMIN_HEARTBEAT_SECONDS = env_float("CRONADMIN_HEARTBEAT_SECONDS", 2.0, minimum=0.1)
CRONADMIN_SHUTDOWN_GRACE_SECONDS = env_float("CRONADMIN_SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0)
# A slot that could not start within this many seconds of its time counts as missed.
CRONADMIN_MISFIRE_GRACE_SECONDS = env_float("CRONADMIN_MISFIRE_GRACE_SECONDS", 30.0, minimum=0)
CRONADMIN_MISFIRE_MAX_SLOTS = env_int("CRONADMIN_MISFIRE_MAX_SLOTS", 10000, minimum=1)
CRONADMIN_DEFAULT_TIMEOUT_SECONDS = env_int("CRONADMIN_DEFAULT_TIMEOUT_SECONDS", 3600, minimum=1)
# /metrics (web and scheduler) asks for "Authorization: Bearer <token>" when this is set.
CRONADMIN_METRICS_TOKEN = env_str("CRONADMIN_METRICS_TOKEN", "")
# host:port where the scheduler process serves its own /metrics and /healthz; empty: none.
CRONADMIN_SCHEDULER_HTTP = env_str("CRONADMIN_SCHEDULER_HTTP", "")

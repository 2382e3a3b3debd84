"""Throwaway settings for the django-apscheduler baseline (bench.baselines djangojobstore).

BENCH_DJANGOJOBSTORE_SQLITE picks the SQLite setup:
- "wal" (default): the same options as cronadmin/settings.py (WAL, synchronous=NORMAL,
  IMMEDIATE transactions, 20 s busy timeout), so both stores are measured on the same database.
- "immediate": Django's default rollback journal, with IMMEDIATE transactions and a busy timeout.
- "plain": Django's defaults. The store's SELECT-then-UPDATE in a deferred transaction races the
  execution-log writes of the pool threads; SQLite refuses the lock upgrade at once ("database is
  locked", the busy timeout does not apply), django-apscheduler retries once, and the exception
  kills the APScheduler thread within the first second.
"""

import os

SQLITE_MODES = ("wal", "immediate", "plain")

SECRET_KEY = "bench-only"
INSTALLED_APPS = ["django_apscheduler"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_DJANGOJOBSTORE_DB"],
    }
}
_mode = os.environ.get("BENCH_DJANGOJOBSTORE_SQLITE", "wal")
if _mode not in SQLITE_MODES:
    raise ValueError(f"BENCH_DJANGOJOBSTORE_SQLITE must be one of {SQLITE_MODES}, not {_mode!r}.")
if _mode == "wal":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20.0,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif _mode == "immediate":
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20.0}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

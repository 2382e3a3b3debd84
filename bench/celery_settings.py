"""The product's settings plus the benchmark's tasks (bench.tasks), for bench.celery_runs."""

from cronadmin.settings import *  # noqa: F403
from cronadmin.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.tasks"]

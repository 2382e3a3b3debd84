"""The product's settings plus the misbehaving tasks of tests.faulttasks, for a scheduler under
test (DJANGO_SETTINGS_MODULE in its environment; its task workers inherit it)."""

from cronadmin.settings import *  # noqa: F403
from cronadmin.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.faulttasks"]

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from jobs import selectors
from jobs.models import ChangeMarker, Run, SchedulerNode

ROOT = Path(__file__).resolve().parent.parent
# The SQLite test database lives in var/ (see settings), which a fresh clone does not have.
(ROOT / "var").mkdir(exist_ok=True)
# Whitenoise warns on every request when STATIC_ROOT is missing; tests do not collect static files.
(ROOT / "staticfiles").mkdir(exist_ok=True)


@pytest.fixture(name="fresh_caches", autouse=True)
def fresh_caches_fixture(settings):
    # A deliberately slow password hash costs ~0.3 s per user; tests need no such protection.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The selectors cache parsed schedules in the process; tests roll the database back under it.
    selectors.clear_caches()
    yield
    selectors.clear_caches()


def user_with_role(role: str | None, name: str | None = None) -> User:
    """A user in one of the role groups. The groups come from a migration, but a transactional
    test's flush removes them, so they are made again when missing."""
    user = User.objects.create_user(name or (role or "nobody").lower(), password="pw-Secret-1")
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> object:
    """Poll until predicate() is truthy; returns its value or fails with the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


class SchedulerProcess:
    """A real `manage.py runscheduler` against the test database file."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.log_path = tmp_path / f"scheduler-{time.monotonic_ns()}.log"
        database = connection.settings_dict["NAME"]
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "CRONADMIN_OUTPUT_DIR": str(tmp_path / "output"),
            "CRONADMIN_POLL_SECONDS": "0.1",
            "CRONADMIN_HEARTBEAT_SECONDS": "0.5",
            "CRONADMIN_TASK_WORKERS": "2",
            "CRONADMIN_SHUTDOWN_GRACE_SECONDS": "2",
            "LOG_LEVEL": "DEBUG",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> "SchedulerProcess":
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runscheduler"],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            pid = self.proc.pid
            wait_for(lambda: self._alive_node(pid) or self._exited(), timeout=30)
            assert self.proc.poll() is None, self.log()
        return self

    def _alive_node(self, pid: int) -> bool:
        return SchedulerNode.objects.filter(
            pid=pid, stopped_at__isnull=True, applied_at__isnull=False
        ).exists()

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def start_scheduler(transactional_db, tmp_path) -> Iterator[Callable[..., SchedulerProcess]]:
    ChangeMarker.objects.get_or_create(id=1)
    started: list[SchedulerProcess] = []

    def start(wait: bool = True, **env: str) -> SchedulerProcess:
        process = SchedulerProcess(tmp_path, env).start(wait=wait)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc and process.proc.poll() is None:
            process.kill()


def runs_of(job, **filters) -> list[Run]:
    return list(Run.objects.filter(job=job, **filters).order_by("scheduled_for", "id"))

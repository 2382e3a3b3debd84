import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import translation

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
    # A page in Chinese leaves the language active in the thread; the next test starts in English.
    translation.deactivate()


@pytest.fixture(name="change_marker_row", autouse=True)
def change_marker_row_fixture(request) -> None:
    # A migration makes the change marker's one row; a transactional test's flush removes it,
    # and the tests after it in the same worker would find the services bumping nothing.
    uses_db = "django_db" in request.keywords or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if uses_db:
        with request.getfixturevalue("django_db_blocker").unblock():
            ChangeMarker.objects.get_or_create(id=1)


def user_with_role(role: str | None, name: str | None = None) -> User:
    """A user in one of the role groups. The groups come from a migration, but a transactional
    test's flush removes them, so they are made again when missing."""
    user = User.objects.create_user(name or (role or "nobody").lower(), password="pw-Secret-1")
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def database_url() -> str:
    """The URL of the test database, for the real processes a test starts."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = quote(settings["USER"] or "", safe="")
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings["PASSWORD"] else ""
    credentials = f"{user}{password}@" if user else ""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{credentials}{host}:{port}/{settings['NAME']}"


sqlite_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "sqlite").split(":", 1)[0] not in ("sqlite", ""),
    reason="about the SQLite database file",
)


class SchedulerProcess:
    """A real `manage.py runscheduler` against the test database file."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.log_path = tmp_path / f"scheduler-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
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


POSTGRES_ADMIN_URL = os.environ.get(
    "CRONADMIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_database(tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh, migrated PostgreSQL database of its own, with the environment to reach it."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        # CI provides PostgreSQL; a machine without it says so loudly instead of skipping.
        pytest.fail(
            f"PostgreSQL is needed for this test and is not reachable at {POSTGRES_ADMIN_URL}: "
            f"{exc}"
        )
    name = f"cronadmin_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CRONADMIN_OUTPUT_DIR": str(tmp_path / "output"),
        "CRONADMIN_HEARTBEAT_SECONDS": "0.5",
        "CRONADMIN_POLL_SECONDS": "0.1",
        "CRONADMIN_TASK_WORKERS": "1",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    yield url, env
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def pytest_terminal_summary(terminalreporter) -> None:
    from tests.write_locks import LONGEST

    for group, seconds in sorted(LONGEST.items()):
        terminalreporter.write_line(f"longest write-lock hold, {group}: {seconds * 1000:.1f} ms")

"""The container recipe without a Docker engine: the entrypoint's roles and the commands the
Dockerfile runs, each against a temporary SQLite file in production mode."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.production import ROOT, Server, production_env

pytestmark = pytest.mark.timeout(180)
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def container_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = production_env(tmp_path, **overrides)
    # The image's Python first on PATH, as /venv/bin is there.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def entrypoint(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(name="migrated")
def migrated_fixture(tmp_path) -> dict[str, str]:
    env = container_env(tmp_path)
    done = entrypoint(env, "migrate", "-v0")
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture(name="web")
def web_fixture(migrated, tmp_path) -> Iterator[Server]:
    assert entrypoint(migrated, "manage", "collectstatic", "--no-input", "-v0").returncode == 0
    # The entrypoint takes no port: the image's gunicorn config reads it from the environment.
    # Plain HTTP throughout, so the health check can probe any page, not only the exempt ones.
    env = {**migrated, "SECURE_SSL_REDIRECT": "false"}
    server = Server([str(ENTRYPOINT), "web"], env, tmp_path / "web.log")
    yield server.start()
    server.stop()


def test_migrate_creates_the_tables(migrated, tmp_path):
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"jobs_job", "jobs_run", "axes_accessattempt", "django_session"} <= tables


def test_web_serves_pages(web):
    response = web.get("/login/")
    assert response.status == 200
    assert b'name="username"' in response.body


def test_web_stops_on_sigterm(web):
    assert web.stop() == 0


def test_healthcheck_follows_the_web(web):
    env = {**web.env, "PORT": str(web.port)}
    assert entrypoint({**env, "HEALTHCHECK_PATH": "/login/"}, "healthcheck").returncode == 0
    missing = entrypoint({**env, "HEALTHCHECK_PATH": "/no-such-page/"}, "healthcheck")
    assert missing.returncode == 1
    assert "answered 404" in missing.stderr


def test_healthcheck_fails_when_nothing_listens(tmp_path):
    env = container_env(tmp_path, PORT="1")
    assert entrypoint(env, "healthcheck").returncode == 1


def test_scheduler_starts_and_stops_on_sigterm(migrated, tmp_path):
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ENTRYPOINT), "scheduler"], env=migrated, stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def running() -> bool:
            assert proc.poll() is None, log.read_text()
            with sqlite3.connect(tmp_path / "db.sqlite3") as db:
                query = "select pid from jobs_schedulernode where stopped_at is null"
                return proc.pid in {row[0] for row in db.execute(query)}

        # exec: the scheduler is the entrypoint's own process, as PID 1 is in the container.
        wait_for(running, timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        stopped = db.execute("select stopped_at from jobs_schedulernode").fetchone()[0]
    assert stopped is not None


def test_manage_runs_any_command(migrated):
    done = entrypoint(migrated, "manage", "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_an_unknown_role_is_refused(tmp_path):
    done = entrypoint(container_env(tmp_path), "webserver")
    assert done.returncode == 64
    assert "unknown role 'webserver'" in done.stderr


def test_the_dockerfile_collectstatic_step_works(tmp_path):
    recipe = (ROOT / "Dockerfile").read_text()
    step = next(line for line in recipe.splitlines() if "collectstatic" in line)
    command = step.removeprefix("RUN ").strip()
    # The build has only what the Dockerfile sets; nothing of a developer's environment.
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    done = subprocess.run(
        ["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert re.search(r'"cronadmin\.css": "cronadmin\.[0-9a-f]{12}\.css"', manifest)
    assert list((tmp_path / "static").glob("cronadmin.*.css.gz"))


def test_the_image_runs_the_entrypoint():
    recipe = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in recipe
    assert 'CMD ["web"]' in recipe
    assert '"/app/docker/entrypoint.sh", "healthcheck"' in recipe
    assert "USER cronadmin" in recipe
    assert os.access(ENTRYPOINT, os.X_OK)

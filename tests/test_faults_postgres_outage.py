"""PostgreSQL goes away for 30 s while jobs are due: the scheduler and the web ride it out.

The test runs its own throwaway PostgreSQL cluster (initdb in a temporary folder, a free port), so
it can stop the server without disturbing anything else.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT, free_port, wait_for

pytestmark = [pytest.mark.timeout(300), pytest.mark.own_database]

OUTAGE = 30


class Cluster:
    """A PostgreSQL server of the test's own (as root: runs as postgres, as initdb wants)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            pytest.fail("PostgreSQL's server programs (initdb, pg_ctl) are needed for this test")
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="cronadmin-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "-E",
                  "UTF8", "--no-sync")  # fmt: skip

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options, "-l",
                  str(self.dir / "server.log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_scheduler_and_the_web_ride_out_a_database_outage(tmp_path):
    cluster = Cluster()
    processes: list[subprocess.Popen] = []
    try:
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE cronadmin")
        health_port, web_port = free_port(), free_port()
        env = {
            **os.environ,
            "CRONADMIN_DEV": "1",
            "DATABASE_URL": cluster.url("cronadmin"),
            "CRONADMIN_OUTPUT_DIR": str(tmp_path / "output"),
            "CRONADMIN_SCHEDULER_HTTP": f"127.0.0.1:{health_port}",
            "CRONADMIN_MISFIRE_GRACE_SECONDS": "5",
            "CRONADMIN_TASK_WORKERS": "2",
            "DB_CONN_MAX_AGE": "0",
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
        create = (
            "from jobs import services\n"
            "for i in range(5):\n"
            "    services.job_create(actor=None, name=f'tick {i}', kind='task', "
            "schedule='@every 2s', misfire='once', config={'task': 'demo.noop'})\n"
        )
        subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
        scheduler_log = open(tmp_path / "scheduler.log", "wb")  # noqa: SIM115
        scheduler = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler"], cwd=ROOT, env=env,
            stdout=scheduler_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(scheduler)
        web_log = open(tmp_path / "web.log", "wb")  # noqa: SIM115
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "cronadmin.wsgi", "--bind",
             f"127.0.0.1:{web_port}", "--workers", "2"],
            cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        processes.append(web)
        scheduler_health = f"http://127.0.0.1:{health_port}/healthz"
        web_url = f"http://127.0.0.1:{web_port}"

        db = psycopg.connect(cluster.url("cronadmin"), autocommit=True)

        def succeeded() -> int:
            return db.execute("SELECT count(*) FROM jobs_run WHERE state = 'succeeded'").fetchone()[
                0
            ]

        wait_for(lambda: succeeded() >= 10, timeout=60)
        wait_for(lambda: get(f"{web_url}/healthz")[0] == 200, timeout=30)
        assert get(scheduler_health)[0] == 200
        db.close()

        cluster.stop()
        stopped = time.monotonic()
        # While the database is away: the scheduler lives and says it is unhealthy; the web
        # answers 503 with a page that says so, no traceback.
        status, body = wait_for(lambda: (r := get(scheduler_health))[0] == 503 and r, timeout=15)
        assert "database unreachable" in json.loads(body)["problem"]
        # A signed-in person's request: looking up the session needs the database.
        status, page = get(
            f"{web_url}/jobs/", {"Cookie": "sessionid=abcdefgh12345678abcdefgh12345678"}
        )
        assert status == 503, page[:500]
        assert "Temporarily unavailable" in page
        assert "Traceback" not in page
        assert get(f"{web_url}/healthz")[0] == 503
        # An API token is looked up in the database too.
        status, body = get(f"{web_url}/api/v1/jobs", {"Authorization": "Bearer cra_unknown"})
        assert status == 503
        assert json.loads(body)["error"]["code"] == "unavailable"
        time.sleep(max(0.0, stopped + OUTAGE - time.monotonic()))
        assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()

        cluster.start()
        restarted = time.monotonic()
        db = psycopg.connect(cluster.url("cronadmin"), autocommit=True)
        before = succeeded()
        wait_for(lambda: succeeded() >= before + 10, timeout=60)
        wait_for(lambda: get(scheduler_health)[0] == 200, timeout=30)
        assert get(f"{web_url}/healthz")[0] == 200
        recovered_in = time.monotonic() - restarted

        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=60) == 0
        runs = db.execute(
            "SELECT job_id, scheduled_for, state, reason FROM jobs_run ORDER BY job_id, "
            "scheduled_for"
        ).fetchall()
        db.close()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        cluster.remove()

    log = (tmp_path / "scheduler.log").read_text()
    # Every slot once; the outage's slots decided by the policy (run once): per job one
    # catch-up run, the others missed with the reason.
    per_slot = Counter((job, slot) for job, slot, _state, _reason in runs)
    assert max(per_slot.values()) == 1
    catch_ups = Counter(job for job, _slot, state, reason in runs if "Catch-up" in reason)
    assert set(catch_ups.values()) == {1}, catch_ups
    missed = [reason for _job, _slot, state, reason in runs if state == "missed"]
    assert len(missed) >= 5 * (OUTAGE // 2 - 5)
    assert all("past the 5 s grace" in reason for reason in missed)
    by_job: dict[int, list] = {}
    for job, slot, _state, _reason in runs:
        by_job.setdefault(job, []).append(slot)
    for slots in by_job.values():
        gaps = {(b - a).total_seconds() for a, b in zip(slots, slots[1:], strict=False)}
        assert gaps == {2.0}, sorted(gaps)
    # Logged concisely: one line when writes fail, one when they work again, per thread.
    errors = [line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert 1 <= len(errors) <= 4, errors
    assert "work again after" in log or "reachable again after" in log
    assert "Traceback" not in log
    print(json.dumps({"runs": len(runs), "missed": len(missed), "recovered_s": recovered_in}))

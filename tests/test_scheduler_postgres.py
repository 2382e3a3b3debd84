"""Two schedulers on one PostgreSQL database: one leads, the other stands by and takes over."""

import signal
import subprocess
import sys
import time

import psycopg
import pytest

from tests.conftest import ROOT, wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.own_database]


def start(env, log):
    return subprocess.Popen(
        [sys.executable, "manage.py", "runscheduler"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_a_standby_takes_over_when_the_leader_dies(postgres_database, tmp_path):
    url, env = postgres_database
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from jobs import services; services.job_create(actor=None, name='tick', kind='task', "
            "config={'task': 'demo.noop'}, schedule='@every 1s')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    db = psycopg.connect(url, autocommit=True)

    def leader_pid():
        row = db.execute(
            "SELECT n.pid, l.term FROM jobs_schedulerlease l "
            "JOIN jobs_schedulernode n ON n.id = l.holder_id"
        ).fetchone()
        return row

    with open(tmp_path / "a.log", "wb") as log_a, open(tmp_path / "b.log", "wb") as log_b:
        first = start(env, log_a)
        wait_for(lambda: leader_pid() and leader_pid()[0] == first.pid, timeout=30)
        second = start(env, log_b)
        wait_for(
            lambda: db.execute(
                "SELECT count(*) FROM jobs_schedulernode WHERE pid = %s", [second.pid]
            ).fetchone()[0],
            timeout=30,
        )
        time.sleep(2)
        assert leader_pid()[0] == first.pid
        assert second.poll() is None
        term = leader_pid()[1]

        first.kill()
        killed_at = time.monotonic()
        wait_for(lambda: leader_pid()[0] == second.pid, timeout=20)
        # The lease lasts 5 heartbeats (2.5 s here), judged by the database clock.
        assert time.monotonic() - killed_at < 6
        assert leader_pid()[1] == term + 1
        count = db.execute("SELECT count(*) FROM jobs_run WHERE state = 'succeeded'").fetchone()[0]
        wait_for(
            lambda: (
                db.execute("SELECT count(*) FROM jobs_run WHERE state = 'succeeded'").fetchone()[0]
                > count + 1
            ),
            timeout=10,
        )
        duplicates = db.execute(
            "SELECT count(*) FROM (SELECT job_id, scheduled_for FROM jobs_run "
            "WHERE trigger = 'schedule' GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone()[0]
        assert duplicates == 0
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    assert b"standing by" in (tmp_path / "b.log").read_bytes()
    db.close()

"""The scheduler process's own /healthz and /metrics, `manage.py schedulerhealth`, and its JSON
logs, against a real scheduler and a real SQLite file."""

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs import services
from jobs.models import Job, Run, SchedulerNode
from tests.conftest import ROOT, free_port, sqlite_only, wait_for

pytestmark = pytest.mark.timeout(90)


def make_job(name: str = "job", schedule: str = "@every 1s") -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule=schedule,
    )


def get(port: int, path: str, token: str = "") -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def schedulerhealth(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "schedulerhealth"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def histogram_counts(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    counts = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name.endswith("_count"):
                counts[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return counts


def test_it_serves_healthz_and_run_histograms(start_scheduler):
    port = free_port()
    job = make_job()
    scheduler = start_scheduler(
        CRONADMIN_SCHEDULER_HTTP=f"127.0.0.1:{port}", CRONADMIN_METRICS_TOKEN="tok"
    )
    status, body = get(port, "/healthz")
    assert status == 200, body
    health = json.loads(body)
    node = SchedulerNode.objects.get(pid=scheduler.proc.pid)
    assert health == {"status": "ok", "node": str(node), "role": "leader", "term": health["term"]}

    wait_for(lambda: Run.objects.filter(job=job, state=Run.State.SUCCEEDED).count() >= 3, 15)
    services.job_pause(actor=None, job=job)
    wait_for(lambda: not Run.objects.filter(job=job, state__in=Run.ACTIVE_STATES).exists(), 15)
    # Wait for the scheduler to apply the pause, so no new run starts while we count.
    wait_for(lambda: Run.objects.filter(job=job, state=Run.State.SKIPPED).exists(), 15)
    succeeded = Run.objects.filter(job=job, state=Run.State.SUCCEEDED).count()

    assert get(port, "/metrics")[0] == 401
    assert get(port, "/metrics", "wrong")[0] == 401
    status, body = get(port, "/metrics", "tok")
    assert status == 200
    counts = histogram_counts(body)
    task = (("kind", "task"),)
    done = (("kind", "task"), ("state", "succeeded"))
    assert counts[("cronadmin_run_duration_seconds_count", done)] == succeeded
    assert counts[("cronadmin_run_start_lateness_seconds_count", task)] == succeeded
    assert b"cronadmin_scheduler_leading 1.0" in body
    assert b"cronadmin_scheduler_database_unreachable_seconds 0.0" in body
    assert get(port, "/elsewhere")[0] == 404
    assert scheduler.stop() == 0


@sqlite_only  # an exclusive SQLite lock stands for the outage; PostgreSQL has its own fault test
def test_it_reports_an_unreachable_database(start_scheduler):
    port = free_port()
    make_job()
    scheduler = start_scheduler(
        CRONADMIN_SCHEDULER_HTTP=f"127.0.0.1:{port}", SQLITE_BUSY_TIMEOUT="0.2"
    )
    assert schedulerhealth(scheduler.env).returncode == 0
    # Another process holds the write lock: the scheduler cannot write its heartbeat meanwhile.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline(); "
            "c.execute('ROLLBACK')",
            scheduler.env["DATABASE_URL"].removeprefix("sqlite:///"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        wait_for(lambda: get(port, "/healthz")[0] == 503, timeout=20)
        health = json.loads(get(port, "/healthz")[1])
        assert health["status"] == "unhealthy"
        assert health["problem"].startswith("database unreachable since 20")
        check = schedulerhealth(scheduler.env)
        assert check.returncode == 1
        assert "database unreachable since" in check.stderr
    finally:
        holder.communicate("release\n", timeout=20)
    wait_for(lambda: get(port, "/healthz")[0] == 200, timeout=20)
    assert schedulerhealth(scheduler.env).returncode == 0
    assert scheduler.stop() == 0


def test_schedulerhealth_reads_the_heartbeat_without_the_http_endpoint(start_scheduler):
    scheduler = start_scheduler()
    env = {**scheduler.env, "CRONADMIN_SCHEDULER_HTTP": ""}
    check = schedulerhealth(env)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["status"] == "ok"
    assert scheduler.stop() == 0
    check = schedulerhealth(env)
    assert check.returncode == 1
    assert "no scheduler runs on" in check.stderr


def test_it_logs_json_lines_naming_job_and_run(start_scheduler):
    job = make_job()
    scheduler = start_scheduler(LOG_FORMAT="json")
    wait_for(lambda: Run.objects.filter(job=job, state=Run.State.SUCCEEDED).count() >= 2, 15)
    assert scheduler.stop() == 0
    node = str(SchedulerNode.objects.get(pid=scheduler.proc.pid))
    lines = [line for line in scheduler.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert all(
        set(entry) >= {"timestamp", "level", "logger", "message", "job_id", "run_id", "node"}
        for entry in entries
    )
    assert any(entry["message"].startswith("scheduler ") for entry in entries)

    runs = {run.pk: run.job_id for run in Run.objects.filter(job=job, state="succeeded")}
    about_runs = [entry for entry in entries if entry["run_id"] is not None]
    starting = [e for e in about_runs if " starting (task)" in e["message"]]
    finished = [e for e in about_runs if e["message"].endswith("finished: succeeded")]
    # The worker process's own line, from another process, names the scheduler's node.
    in_worker = [e for e in about_runs if e["message"].startswith("task demo.echo starting")]
    for group in (starting, finished, in_worker):
        assert {e["run_id"] for e in group} >= set(runs), group
    for entry in about_runs:
        assert entry["job_id"] == job.pk
        assert f"run {entry['run_id']} " in entry["message"] or entry in in_worker
        assert entry["node"] == node

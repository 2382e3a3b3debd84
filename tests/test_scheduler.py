"""The real scheduler process against a real SQLite file, asserting on the run ledger."""

import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job, Run, SchedulerNode
from jobs.output import output_path, read_output
from tests.conftest import ROOT, runs_of, sqlite_only, wait_for

pytestmark = pytest.mark.timeout(90)


def make_job(
    name: str = "job", schedule: str = "@every 1s", task: str = "demo.echo", params=None, **fields
) -> Job:
    params = {"message": "hello"} if params is None and task == "demo.echo" else (params or {})
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": task, "params": params},
        schedule=schedule,
        **fields,
    )


def max_parallel(runs: list[Run]) -> int:
    """The most runs that were running at the same instant."""
    events = []
    for run in runs:
        events.append((run.started_at, 1))
        events.append((run.finished_at or timezone.now(), -1))
    most = current = 0
    for _, change in sorted(events):  # at equal instants an end (-1) sorts before a start
        current += change
        most = max(most, current)
    return most


def count(job: Job, **filters) -> int:
    return Run.objects.filter(job=job, **filters).count()


def run_pid(run: Run) -> int:
    match = re.search(r"process (\d+)", run.output)
    assert match, run.output
    return int(match.group(1))


def test_it_runs_an_every_2s_job(start_scheduler):
    job = make_job(schedule="@every 2s")
    start_scheduler()
    wait_for(lambda: count(job, state=Run.State.SUCCEEDED) >= 3, timeout=10)
    run = runs_of(job, state=Run.State.SUCCEEDED)[0]
    assert run.output.strip() == "hello"
    assert run.trigger == Run.Trigger.SCHEDULE
    assert run.job_version == job.version
    assert run.started_at >= run.scheduled_for
    assert run.finished_at >= run.started_at
    # @every slots are whole multiples of the interval after the job's anchor.
    slots = [r.scheduled_for for r in runs_of(job)]
    assert all(
        (b - a) % timedelta(seconds=2) == timedelta(0)
        for a, b in zip(slots, slots[1:], strict=False)
    )


def test_pausing_stops_new_runs_within_a_second(start_scheduler):
    job = make_job(schedule="@every 1s")
    start_scheduler()
    wait_for(lambda: count(job, state=Run.State.SUCCEEDED) >= 1, timeout=10)
    services.job_pause(actor=None, job=job, note="maintenance window")
    paused_at = timezone.now()
    wait_for(
        lambda: (
            count(job, state=Run.State.SKIPPED, scheduled_for__gt=paused_at + timedelta(seconds=1))
            >= 2
        ),
        timeout=10,
    )
    late_runs = Run.objects.filter(
        job=job, scheduled_for__gt=paused_at + timedelta(seconds=1)
    ).exclude(state=Run.State.SKIPPED)
    assert not late_runs.exists()
    skipped = Run.objects.filter(job=job, state=Run.State.SKIPPED).first()
    assert skipped.reason == "Job paused: maintenance window"
    assert (skipped.reason_code, skipped.reason_params) == (
        "paused_note",
        {"note": "maintenance window"},
    )

    services.job_resume(actor=None, job=job)
    resumed_at = timezone.now()
    wait_for(
        lambda: count(job, state=Run.State.SUCCEEDED, scheduled_for__gt=resumed_at) >= 1, timeout=10
    )


def test_a_change_by_queryset_update_takes_effect_within_a_second(start_scheduler):
    job = make_job(schedule="@every 1s")
    start_scheduler()
    wait_for(lambda: count(job, state=Run.State.SUCCEEDED) >= 1, timeout=10)
    # No service, no signal: only the database trigger sees this.
    Job.objects.filter(pk=job.pk).update(state=Job.State.PAUSED)
    changed_at = timezone.now()
    wait_for(lambda: count(job, state=Run.State.SKIPPED) >= 1, timeout=5)
    node = SchedulerNode.objects.get(stopped_at__isnull=True)
    assert node.applied_at - changed_at < timedelta(seconds=1)
    assert (
        not Run.objects.filter(job=job, scheduled_for__gt=changed_at + timedelta(seconds=1))
        .exclude(state=Run.State.SKIPPED)
        .exists()
    )


def test_a_timeout_kills_the_task_process(start_scheduler):
    job = make_job(schedule="@manual", task="demo.sleep", params={"seconds": 30}, timeout_seconds=2)
    start_scheduler()
    run = services.job_run_now(actor=None, job=job)
    run = wait_for(
        lambda: Run.objects.filter(pk=run.pk, state=Run.State.TIMED_OUT).first(), timeout=15
    )
    # Cut at its timeout, not after the 30 s the task wanted (loose: the machine may be busy).
    assert run.finished_at - run.started_at < timedelta(seconds=20)
    assert "2 s timeout" in run.reason
    pid = run_pid(run)
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        timeout=5,
    )


def test_cancelling_a_running_task_stops_it(start_scheduler, settings):
    job = make_job(schedule="@manual", task="demo.sleep", params={"seconds": 30})
    scheduler = start_scheduler()
    settings.CRONADMIN_OUTPUT_DIR = Path(scheduler.env["CRONADMIN_OUTPUT_DIR"])
    run = services.job_run_now(actor=None, job=job)
    # Cancelled once it has printed, however long a busy machine takes to get it going.
    wait_for(
        lambda: output_path(run.pk).exists() and "second 0" in read_output(output_path(run.pk))[0],
        timeout=20,
    )
    services.run_cancel(actor=None, run=run)
    run = wait_for(
        lambda: Run.objects.filter(pk=run.pk, state=Run.State.CANCELLED).first(), timeout=5
    )
    assert run.reason == "Cancel requested by the system."
    assert "second 0" in run.output
    pid = run_pid(run)
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        timeout=5,
    )


def test_cancelling_a_queued_run_never_starts_it(start_scheduler):
    job = make_job(schedule="@manual")
    run = services.job_run_now(actor=None, job=job)
    services.run_cancel(actor=None, run=run)
    start_scheduler()
    time.sleep(1)
    run.refresh_from_db()
    assert run.state == Run.State.CANCELLED
    assert run.started_at is None


def test_a_killed_scheduler_leaves_its_run_interrupted(start_scheduler):
    job = make_job(schedule="@manual", task="demo.sleep", params={"seconds": 30})
    scheduler = start_scheduler()
    run = services.job_run_now(actor=None, job=job)
    wait_for(lambda: Run.objects.filter(pk=run.pk, state=Run.State.RUNNING).exists(), timeout=10)
    workers = psutil.Process(scheduler.proc.pid).children(recursive=True)
    assert workers
    scheduler.kill()
    # The task's worker process does not outlive the scheduler.
    wait_for(
        lambda: all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE for w in workers),
        timeout=5,
    )
    start_scheduler()
    run = wait_for(
        lambda: Run.objects.filter(pk=run.pk, state=Run.State.INTERRUPTED).first(), timeout=10
    )
    assert "stopped before the run finished" in run.reason


def test_sigterm_gives_running_work_a_grace_then_records_it(start_scheduler):
    job = make_job(schedule="@manual", task="demo.sleep", params={"seconds": 30})
    quick = make_job(name="quick", schedule="@manual", task="demo.sleep", params={"seconds": 1})
    scheduler = start_scheduler(CRONADMIN_SHUTDOWN_GRACE_SECONDS="3")
    long_run = services.job_run_now(actor=None, job=job)
    quick_run = services.job_run_now(actor=None, job=quick)
    wait_for(lambda: Run.objects.filter(state=Run.State.RUNNING).count() == 2, timeout=10)
    started = time.monotonic()
    assert scheduler.stop() == 0
    assert time.monotonic() - started < 12
    long_run.refresh_from_db()
    quick_run.refresh_from_db()
    assert quick_run.state == Run.State.SUCCEEDED, (
        quick_run.reason,
        quick_run.error,
        scheduler.log()[-3000:],
    )
    assert long_run.state == Run.State.INTERRUPTED
    assert "received SIGTERM" in long_run.reason
    assert "3 s grace" in long_run.reason
    assert SchedulerNode.objects.get(pid=scheduler.proc.pid).stopped_at is not None


@sqlite_only
def test_a_second_scheduler_on_the_same_sqlite_file_refuses(start_scheduler):
    first = start_scheduler()
    second = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "runscheduler"],
        env=first.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode != 0
    assert "Another scheduler" in second.stderr
    assert f"pid {first.proc.pid}" in second.stderr
    assert first.proc.poll() is None


@pytest.mark.parametrize(
    ("overlap", "max_concurrent", "expected_max_parallel"),
    [("skip", 1, 1), ("allow", 2, 2), ("queue", 1, 1), ("replace", 1, 1)],
)
def test_overlap_policies(start_scheduler, overlap, max_concurrent, expected_max_parallel):
    job = make_job(
        schedule="@every 1s",
        task="demo.sleep",
        params={"seconds": 2.5},
        overlap=overlap,
        max_concurrent=max_concurrent,
    )
    start_scheduler()
    wait_for(lambda: count(job, state__in=Run.FINAL_STATES) >= 6, timeout=20)
    services.job_pause(actor=None, job=job)
    runs = [r for r in runs_of(job) if r.started_at]
    assert max_parallel(runs) == expected_max_parallel, overlap
    states = {r.state for r in runs_of(job)}
    if overlap == "skip":
        skipped = Run.objects.filter(job=job, state=Run.State.SKIPPED).first()
        assert skipped and "still in progress" in skipped.reason
        assert skipped.reason_code in ("overlap_previous", "overlap_previous_run")
    elif overlap == "allow":
        skipped = Run.objects.filter(job=job, state=Run.State.SKIPPED).first()
        assert skipped and "the job's limit" in skipped.reason
        assert (skipped.reason_code, skipped.reason_params) == (
            "overlap_limit",
            {"limit": max_concurrent},
        )
    elif overlap == "queue":
        skipped = Run.objects.filter(job=job, state=Run.State.SKIPPED).first()
        assert skipped and "already waiting" in skipped.reason
        # The queued run starts right after the previous one ends.
        ordered = sorted(runs, key=lambda r: r.started_at)
        assert any(
            abs((b.started_at - a.finished_at).total_seconds()) < 0.5
            for a, b in zip(ordered, ordered[1:], strict=False)
            if a.finished_at
        )
    else:
        replaced = Run.objects.filter(job=job, state=Run.State.CANCELLED).first()
        assert replaced and "Replaced by a newer run" in replaced.reason
        assert replaced.reason_code == "overlap_replaced"
    assert Run.State.FAILED not in states


def test_failed_runs_are_retried_with_the_same_slot(start_scheduler):
    job = make_job(
        schedule="@manual",
        task="demo.fail",
        params={"message": "boom"},
        max_retries=2,
        retry_backoff_seconds=1,
    )
    start_scheduler()
    first = services.job_run_now(actor=None, job=job)
    wait_for(lambda: count(job, state=Run.State.FAILED) == 3, timeout=20)
    runs = runs_of(job)
    assert [r.attempt for r in sorted(runs, key=lambda r: r.attempt)] == [1, 2, 3]
    assert all(r.retry_of_id == first.pk for r in runs if r.attempt > 1)
    assert all("RuntimeError: boom" in r.reason for r in runs)
    assert {(r.reason_code, r.reason_params["type"]) for r in runs} == {
        ("exception", "RuntimeError")
    }
    assert "Traceback" in runs[0].error
    retry = sorted(runs, key=lambda r: r.attempt)[1]
    assert retry.started_at - retry.created_at >= timedelta(seconds=0.9)
    time.sleep(1.5)
    assert count(job) == 3


def test_higher_priority_starts_first_when_workers_are_short(start_scheduler):
    low = make_job(
        name="low", schedule="@manual", task="demo.sleep", params={"seconds": 0.5}, priority=0
    )
    high = make_job(
        name="high", schedule="@manual", task="demo.sleep", params={"seconds": 0.5}, priority=10
    )
    blocker = make_job(name="blocker", schedule="@manual", task="demo.sleep", params={"seconds": 2})
    start_scheduler(CRONADMIN_TASK_WORKERS="1")
    services.job_run_now(actor=None, job=blocker)
    wait_for(lambda: count(blocker, state=Run.State.RUNNING) == 1, timeout=10)
    low_run = services.job_run_now(actor=None, job=low)
    high_run = services.job_run_now(actor=None, job=high)
    wait_for(
        lambda: (
            Run.objects.filter(pk__in=[low_run.pk, high_run.pk], state=Run.State.SUCCEEDED).count()
            == 2
        ),
        timeout=15,
    )
    low_run.refresh_from_db()
    high_run.refresh_from_db()
    assert high_run.started_at < low_run.started_at


@pytest.mark.parametrize(("policy", "expected_runs"), [("skip", 0), ("once", 1), ("all", 3)])
def test_slots_missed_while_down_follow_the_misfire_policy(start_scheduler, policy, expected_runs):
    # The latest slot lies 30 s back, past the 5 s grace: all ten are the policy's to decide.
    anchor = timezone.now() - timedelta(minutes=9, seconds=30)
    job = make_job(schedule="@every 1m", misfire=policy, misfire_limit=3, schedule_anchor=anchor)
    started = timezone.now()
    start_scheduler(CRONADMIN_MISFIRE_GRACE_SECONDS="5")
    old = Run.objects.filter(job=job, scheduled_for__lt=started - timedelta(seconds=5))
    wait_for(
        lambda: old.count() >= 9 and not old.filter(state__in=Run.ACTIVE_STATES).exists(),
        timeout=15,
    )
    assert old.filter(state=Run.State.SUCCEEDED).count() == expected_runs, [
        (r.state, r.reason) for r in old
    ]
    missed = old.filter(state=Run.State.MISSED)
    assert missed.count() == old.count() - expected_runs
    assert "No scheduler was running" in missed.first().reason if missed.exists() else True
    # Exactly one row per slot.
    slots = list(old.values_list("scheduled_for", flat=True))
    assert len(slots) == len(set(slots))


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Hook.received.append(
            {"key": self.headers.get("Idempotency-Key"), "body": self.rfile.read(length)}
        )
        self.send_response(201)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args) -> None:
        pass


def test_a_webhook_job_records_status_and_body(start_scheduler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        with pytest.MonkeyPatch.context() as mp:
            from django.conf import settings

            mp.setattr(settings, "CRONADMIN_HTTP_ALLOWED_HOSTS", ["127.0.0.1"])
            job = services.job_create(
                actor=None,
                name="hook",
                kind="http",
                schedule="@manual",
                config={"method": "POST", "url": url, "body": "ping", "expect_status": [201]},
            )
        start_scheduler(CRONADMIN_HTTP_ALLOWED_HOSTS="127.0.0.1")
        run = services.job_run_now(actor=None, job=job)
        run = wait_for(
            lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), timeout=10
        )
        assert run.state == Run.State.SUCCEEDED, run.reason
        assert run.http_status == 201
        assert '{"ok": true}' in run.output
        assert Hook.received == [{"key": f"cronadmin-run-{run.pk}", "body": b"ping"}]
    finally:
        server.shutdown()


def test_a_pause_with_until_resumes_by_itself(start_scheduler):
    job = make_job(schedule="@every 1s")
    services.job_pause(
        actor=None, job=job, until=timezone.now() + timedelta(seconds=2), note="short"
    )
    start_scheduler()
    wait_for(lambda: count(job, state=Run.State.SKIPPED) >= 1, timeout=10)
    wait_for(lambda: count(job, state=Run.State.SUCCEEDED) >= 1, timeout=10)
    job.refresh_from_db()
    assert (job.state, job.paused_until, job.pause_note) == ("active", None, "")


@sqlite_only
def test_a_locked_database_is_retried_and_logged_once(start_scheduler):
    job = make_job(schedule="@every 1s")
    scheduler = start_scheduler(SQLITE_BUSY_TIMEOUT="0.2")
    wait_for(lambda: count(job, state=Run.State.SUCCEEDED) >= 1, timeout=10)
    # Another process holds the write lock for 4 s: every write of the scheduler fails meanwhile.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(4); "
            "c.execute('ROLLBACK')",
            scheduler.env["DATABASE_URL"].removeprefix("sqlite:///"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    locked_at = timezone.now()
    assert holder.wait(timeout=20) == 0
    wait_for(
        lambda: (
            count(
                job, state=Run.State.SUCCEEDED, scheduled_for__gt=locked_at + timedelta(seconds=5)
            )
            >= 1
        ),
        timeout=15,
    )
    assert scheduler.proc.poll() is None
    log = scheduler.log()
    errors = log.count("database error in the run ledger") + log.count("database unavailable")
    assert 1 <= errors <= 2, log[-3000:]
    assert "again after" in log
    # The slots of those 4 seconds are in the ledger all the same.
    slots = [r.scheduled_for for r in runs_of(job)]
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(gap == timedelta(seconds=1) for gap in gaps), gaps


def test_a_shell_job_timeout_kills_its_process_group(start_scheduler, settings):
    settings.CRONADMIN_ALLOW_SHELL_JOBS = True
    marker = f"cronadmin-test-{time.monotonic_ns()}"
    job = services.job_create(
        actor=None,
        name="shell",
        kind="shell",
        schedule="@manual",
        config={"command": f"echo started; sleep 30 & sleep 31; echo {marker}"},
        timeout_seconds=2,
    )
    start_scheduler(CRONADMIN_ALLOW_SHELL_JOBS="true")
    run = services.job_run_now(actor=None, job=job)
    run = wait_for(
        lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), timeout=15
    )
    assert run.state == Run.State.TIMED_OUT, run.reason
    assert run.output.startswith("started")
    assert run.finished_at - run.started_at < timedelta(seconds=7)

    def sleepers() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        return found

    wait_for(lambda: not sleepers(), timeout=5)

"""CronAdmin's own scheduler (`manage.py runscheduler`) under the same cases as the baselines.

Everything goes through the product's public doors: jobs are created with jobs.services.job_create,
the scheduler is the management command, and the outcome is read back from the run ledger.
`python -m bench.cronadmin_case seed N SHAPE BASE` is the job-creating step, run with the case's
environment so it writes to the case's temporary database.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.measure import Fire, Window, phases, sleep_until, summarize, tree_cpu_seconds

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "cronadmin"
# runscheduler waits for running jobs on SIGTERM (CRONADMIN_SHUTDOWN_GRACE_SECONDS, 10 s by
# default); past this it is killed with its whole process group.
STOP_TIMEOUT_SECONDS = 60.0


class StepFailed(RuntimeError):
    pass


def _case_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "CRONADMIN_OUTPUT_DIR": str(tmp / "out"),
        "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
    }
    return env


def _run_step(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        raise StepFailed(f"`{' '.join(args)}` failed: {' | '.join(output[-3:])}")


def _instant(text: str) -> float:
    # Django keeps SQLite datetimes as UTC text without an offset.
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _read_ledger(db_path: Path, window: Window) -> tuple[list[Fire], dict[str, int]]:
    with closing(sqlite3.connect(db_path)) as connection:
        rows = connection.execute(
            "SELECT scheduled_for, started_at, state FROM jobs_run WHERE trigger = 'schedule'"
        ).fetchall()
    fires: list[Fire] = []
    states: Counter[str] = Counter()
    for scheduled_for, started_at, state in rows:
        scheduled = _instant(scheduled_for)
        if started_at is not None:
            fires.append((scheduled, _instant(started_at)))
        if scheduled in window:
            states[state] += 1
    return fires, dict(states)


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(tail)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    # The scheduler leads its own session (start_new_session), so this reaches its workers
    # and nothing else.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_case(n: int, shape: str, seconds: float, *, warmup: int = 2) -> dict:
    case_started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-cronadmin-") as tmp_name:
        tmp = Path(tmp_name)
        env = _case_env(tmp)
        _run_step(["manage.py", "migrate", "-v0"], env)
        base = float(int(time.time()))
        _run_step(["-m", "bench.cronadmin_case", "seed", str(n), shape, str(int(base))], env)

        log_path = tmp / "runscheduler.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runscheduler"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        launched = time.time()
        window = Window.after(launched, warmup, seconds)
        error = None
        cpu_seconds = None
        try:
            scheduler = psutil.Process(proc.pid)
            sleep_until(window.start)
            cpu_before = tree_cpu_seconds(scheduler)
            sleep_until(window.end)
            cpu_seconds = tree_cpu_seconds(scheduler) - cpu_before
            # Same one-second allowance for the last slots of the window as the baselines get.
            sleep_until(window.end + 1)
        except psutil.NoSuchProcess:
            pass
        finally:
            exited_early = proc.poll() is not None
            _stop(proc)
        if exited_early:
            cpu_seconds = None
            error = f"runscheduler exited early ({proc.returncode}): {_log_tail(log_path)}"

        fires, states = _read_ledger(tmp / "bench.sqlite3", window)

    return summarize(
        system=SYSTEM,
        n=n,
        shape=shape,
        base=base,
        window=window,
        fires=fires,
        cpu_seconds=cpu_seconds,
        setup_seconds=launched - case_started,
        states=states,
        error=error,
    )


def seed(n: int, shape: str, base: int) -> None:
    """Create the case's jobs; runs inside the case's environment (see run_case)."""
    import django

    django.setup()
    from jobs.services import job_create

    # @every slots are counted from the anchor, so the anchor sets each job's phase.
    for i, phase in enumerate(phases(n, shape)):
        job_create(
            actor=None,
            name=f"bench-{i}",
            kind="task",
            config={"task": "demo.noop", "params": {}},
            schedule="@every 1s",
            timezone="UTC",
            schedule_anchor=datetime.fromtimestamp(base + phase, UTC),
        )


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "seed":
        sys.exit("usage: python -m bench.cronadmin_case seed N SHAPE BASE_EPOCH_SECONDS")
    seed(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))

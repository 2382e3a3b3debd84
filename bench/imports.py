"""Hostile and large imports against a running service: what they cost the web and the scheduler.

    .venv/bin/python -m bench.imports [--jobs 1000]

Starts gunicorn (2 sync workers, a 30 s worker timeout) and `manage.py runscheduler` on a
temporary, migrated SQLite database with one job due every second, then sends each case to
POST /api/v1/jobs/import with an Editor's token, one after another. For each case it reports:

- the request's time and status;
- the longest wait of a writer probe: a thread that takes SQLite's write lock
  (BEGIN IMMEDIATE; COMMIT) every 50 ms, so its longest wait is the longest time anything
  else held the lock: while the request ran, and after it (the scheduler taking in the
  changed jobs);
- the every-second job's slots in the case's window: how many started, and the latest start
  (actual start minus scheduled instant), read from the run ledger.

Then, with the server stopped, the import's own write transaction is timed in-process
(tests/write_locks.py reads SQLite's statements, BEGIN IMMEDIATE to COMMIT) for a file of
`--jobs` new jobs, the same jobs all changed, and the same file again (unchanged).

The table goes to stdout, progress to stderr.
"""

import argparse
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bench.api import HOST, free_port, gunicorn, log, manage
from bench.cronadmin_case import _instant, _stop

ROOT = Path(__file__).resolve().parent.parent
TASK = "    kind: task\n    schedule: '@daily'\n    config: {task: demo.noop}\n"


def alias_bomb() -> str:
    lines = ["      x0: &x0 [a, b, c, d, e, f, g, h, i, j]"]
    for level in range(1, 9):
        lines.append(f"      x{level}: &x{level} [" + ", ".join([f"*x{level - 1}"] * 10) + "]")
    return "version: 1\njobs:\n  a:\n" + TASK + "    labels:\n" + "\n".join(lines) + "\n"


def many_jobs(count: int, description: str = "") -> str:
    extra = f"    description: {description}\n" if description else ""
    return "version: 1\njobs:\n" + "".join(f"  job{i}:\n{TASK}{extra}" for i in range(count))


@dataclass
class Case:
    name: str
    body: str
    apply: bool = False
    together: int = 1


@dataclass
class Outcome:
    case: Case
    seconds: float
    statuses: list[int]
    longest_wait: float  # of the probes that began while the request ran
    longest_wait_after: float  # of those that began after it, in the case's window
    slots: int
    started: int
    latest_start: float | None


class WriterProbe(threading.Thread):
    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.waits: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with closing(sqlite3.connect(self.path, timeout=120, isolation_level=None)) as db:
            while not self.stopped.is_set():
                began = time.monotonic()
                db.execute("BEGIN IMMEDIATE")
                db.execute("COMMIT")
                self.waits.append((began, time.monotonic() - began))
                time.sleep(0.05)

    def longest(self, start: float, end: float) -> float:
        return max((wait for began, wait in self.waits if start <= began <= end), default=0.0)


def ticks(db_path: Path, start: float, end: float) -> tuple[int, int, float | None]:
    with closing(sqlite3.connect(db_path, timeout=60)) as db:
        rows = db.execute(
            "SELECT r.scheduled_for, r.started_at FROM jobs_run r"
            " JOIN jobs_job j ON j.id = r.job_id WHERE j.name = 'tick' AND r.trigger = 'schedule'"
        ).fetchall()
    slots = [(_instant(s), _instant(a) if a else None) for s, a in rows]
    slots = [(s, a) for s, a in slots if start <= s < end]
    starts = [a - s for s, a in slots if a is not None]
    expected = int(end) - int(start)
    return expected, len(starts), max(starts, default=None)


def request(method: str, port: int, path: str, headers: dict[str, str], body: bytes) -> int:
    # Longer than gunicorn's worker timeout: a request it kills answers, it does not hang.
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def send(port: int, auth: dict[str, str], case: Case) -> tuple[float, list[int]]:
    path = "/api/v1/jobs/import" + ("?apply=true" if case.apply else "")
    headers = {**auth, "Content-Type": "application/yaml"}
    statuses: list[int] = []

    def one() -> None:
        try:
            status = request("POST", port, path, headers, case.body.encode())
        except OSError:
            status = 0
        statuses.append(status)

    began = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(case.together)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - began, statuses


HOLDS = """
import json, time
from jobs import services
from tests.write_locks import watch_write_lock
TASK = "    kind: task\\n    config: {task: demo.noop}\\n"
def text(schedule):
    entries = "".join(f"  held{i}:\\n{TASK}    schedule: '{schedule}'\\n" for i in range(%d))
    return "version: 1\\njobs:\\n" + entries
found = []
for name, schedule in (("all new", "@daily"), ("all changed", "@hourly"), ("unchanged", "@hourly")):
    with watch_write_lock() as watch:
        began = time.perf_counter()
        services.jobs_import_apply(actor=None, text=text(schedule), fmt="yaml")
    found.append([name, time.perf_counter() - began, watch.longest, watch.transactions])
print(json.dumps(found))
"""


def in_process_holds(env: dict[str, str], jobs: int) -> list[list]:
    output = manage(env, "shell", "-c", HOLDS % jobs)
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs in the large file")
    args = parser.parse_args()
    n = args.jobs
    cases = [
        Case("idle (no request)", ""),
        Case("nested YAML aliases (10^9 values)", alias_bomb()),
        Case("two of them at once", alias_bomb(), together=2),
        Case(
            "5,000-digit YAML integer",
            "version: 1\njobs:\n  a:\n" + TASK + "    priority: " + "9" * 5000 + "\n",
        ),
        Case(f"{n}-job file: plan", many_jobs(n)),
        Case(f"{n}-job file: apply (all new)", many_jobs(n), apply=True),
        Case(f"{n}-job file: apply (unchanged)", many_jobs(n), apply=True),
        Case(f"{n}-job file: apply (all changed)", many_jobs(n, "changed"), apply=True),
        Case("20,000-job file (1.6 MB): refused", many_jobs(20_000)),
        Case("12,000-job file (0.95 MB): refused", many_jobs(12_000)),
    ]
    with tempfile.TemporaryDirectory(prefix="cronadmin-bench-imports-") as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "CRONADMIN_OUTPUT_DIR": f"{tmp}/output",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": HOST,
            "SECRET_KEY": "bench-" + "k" * 50,
            "SECURE_SSL_REDIRECT": "false",
        }
        log("migrating a temporary database…")
        manage(env, "migrate", "--no-input", "-v0")
        manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User; from jobs import services; "
            "User.objects.create_user('bench').groups.add(Group.objects.get(name='Editor')); "
            "services.job_create(actor=None, name='tick', kind='task', schedule='* * * * * *', "
            "config={'task': 'demo.noop'}, overlap='allow', max_concurrent=5)",
        )
        token = manage(env, "createapitoken", "bench", "--name", "bench").strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        scheduler = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler"],
            cwd=ROOT,
            env=env,
            stdout=open(Path(tmp) / "scheduler.log", "wb"),  # noqa: SIM115 - closed with the dir
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        probe = WriterProbe(db_path)
        probe.start()
        port = free_port()
        results: list[Outcome] = []
        try:
            with gunicorn({**env, "GUNICORN_CMD_ARGS": "--timeout 30"}, port, 2):
                time.sleep(5)  # the scheduler's first ticks
                for case in cases:
                    log(f"{case.name}…")
                    start = time.time()
                    mono = time.monotonic()
                    if case.body:
                        seconds, statuses = send(port, auth, case)
                    else:
                        time.sleep(3)
                        seconds, statuses = 0.0, []
                    answered = time.monotonic()
                    # The slots due during the request get their chance; every window is at
                    # least 4 s long.
                    time.sleep(max(2.0, start + 4 - time.time()))
                    end, mono_end = time.time(), time.monotonic()
                    # A probe blocked by the case reports once it gets the lock.
                    while not any(began > mono_end for began, _wait in probe.waits):
                        time.sleep(0.05)
                    slots, started, latest = ticks(db_path, start, end - 1)
                    during = probe.longest(mono, answered)
                    after = probe.longest(answered, mono_end)
                    results.append(
                        Outcome(case, seconds, statuses, during, after, slots, started, latest)
                    )
        finally:
            probe.stopped.set()
            _stop(scheduler)
            if scheduler.poll() is None:
                os.killpg(scheduler.pid, signal.SIGKILL)
        log("the import's own transaction, in-process…")
        holds = in_process_holds({**env, "PYTHONPATH": str(ROOT)}, n)
        print_table(results, probe)
        print(f"\nThe import's own write transaction, in-process, {n} jobs:\n")
        for name, seconds, longest, transactions in holds:
            print(
                f"  apply, {name}: {seconds:.2f} s in all, write lock held {longest * 1000:.0f} ms"
                f" ({transactions} transaction)"
            )


def print_table(results: list[Outcome], probe: WriterProbe) -> None:
    waits = sorted(wait for _began, wait in probe.waits)
    print(
        f"\nImports under gunicorn (2 sync workers, 30 s timeout), runscheduler with one job due "
        f"every second, SQLite, {os.cpu_count()} CPUs; writer probe every 50 ms "
        f"(median wait {statistics.median(waits) * 1000:.1f} ms over {len(waits)} probes)\n"
    )
    header = (
        "case",
        "request s",
        "status",
        "writer wait ms: during",
        "after",
        "tick slots started",
        "latest tick start ms",
    )
    rows = [
        (
            r.case.name,
            f"{r.seconds:.2f}" if r.statuses else "-",
            ",".join(str(s) for s in r.statuses) or "-",
            f"{r.longest_wait * 1000:.0f}",
            f"{r.longest_wait_after * 1000:.0f}",
            f"{r.started}/{r.slots}",
            f"{r.latest_start * 1000:.0f}" if r.latest_start is not None else "-",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(json.dumps({"cases": len(results)}), file=sys.stderr)


if __name__ == "__main__":
    main()

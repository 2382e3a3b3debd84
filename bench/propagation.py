"""How long a change takes to reach a running scheduler, measured from outside it.

Starts a real `runscheduler` on a throwaway SQLite file, then changes a job many times in three
ways and reads, from the scheduler's node row, when it applied each change:

- `QuerySet.update()`: no service, no signal; only the database trigger sees it;
- `job_update()`: the service an operator's edit goes through;
- run now: from `job_run_now()` to the run's `started_at` (the whole path to a running task).

Usage: python -m bench.propagation [--changes 40]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="measure on a fresh PostgreSQL database made through this server URL, not SQLite",
    )
    parser.add_argument(
        "--no-listen", action="store_true", help="PostgreSQL without LISTEN: the poll alone"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cronadmin-propagation-"))
    database_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    if args.postgres:
        import psycopg

        name = f"cronadmin_bench_{os.getpid()}"
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        database_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ,
        "CRONADMIN_PG_LISTEN": "false" if args.no_listen else "true",
        "DATABASE_URL": database_url,
        "CRONADMIN_OUTPUT_DIR": str(tmp / "output"),
        "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from jobs import services
    from jobs.models import ChangeMarker, Job, Run, SchedulerNode

    job = services.job_create(
        actor=None,
        name="propagation",
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@yearly",
    )
    scheduler = subprocess.Popen([sys.executable, "manage.py", "runscheduler"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not SchedulerNode.objects.filter(applied_at__isnull=False).exists():
            if time.monotonic() > deadline or scheduler.poll() is not None:
                raise SystemExit("the scheduler did not start")
            time.sleep(0.1)
        time.sleep(1)

        def applied_delay(change: "callable") -> float:
            change()
            marker = ChangeMarker.objects.get(id=1)
            while True:
                node = SchedulerNode.objects.get(pid=scheduler.pid)
                if node.applied_change >= marker.version:
                    return (node.applied_at - marker.changed_at).total_seconds()
                time.sleep(0.005)

        results: dict[str, list[float]] = {"QuerySet.update()": [], "job_update() service": []}
        for i in range(args.changes):
            results["QuerySet.update()"].append(
                applied_delay(lambda i=i: Job.objects.filter(pk=job.pk).update(description=f"u{i}"))
            )
            time.sleep(0.05)
            results["job_update() service"].append(
                applied_delay(
                    lambda i=i: services.job_update(actor=None, job=job, description=f"s{i}")
                )
            )
            time.sleep(0.05)

        started: list[float] = []
        for _ in range(min(args.changes, 20)):
            run = services.job_run_now(actor=None, job=job)
            while True:
                run.refresh_from_db()
                if run.started_at:
                    started.append((run.started_at - run.created_at).total_seconds())
                    break
                time.sleep(0.005)
            while not Run.objects.filter(pk=run.pk, state=Run.State.SUCCEEDED).exists():
                time.sleep(0.01)
        results["run now → started"] = started
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
        if args.postgres:
            from django.db import connection

            connection.close()
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    poll = os.environ.get("CRONADMIN_POLL_SECONDS", "0.25")
    where = "SQLite"
    if args.postgres:
        where = "PostgreSQL, " + ("poll only" if args.no_listen else "LISTEN/NOTIFY + poll")
    print(f"\nChange propagation to the scheduler ({where}; poll every {poll} s), seconds")
    print(f"{'path':<24} {'n':>4} {'median':>8} {'p90':>8} {'max':>8}")
    for name, values in results.items():
        print(
            f"{name:<24} {len(values):>4} {statistics.median(values):>8.3f} "
            f"{percentile(values, 0.9):>8.3f} {max(values):>8.3f}"
        )


if __name__ == "__main__":
    main()

"""Server time of the main web pages with 10,000 jobs and 1,000,000 runs in SQLite.

Builds the data set in a throwaway SQLite file (jobs through the ORM, runs with raw executemany),
then renders each page many times through Django's test client, logged in as a viewer, and
prints the median and 95th percentile of the time spent in Django (middleware, views, queries,
templates) plus the number of SQL queries per page.

Usage: python -m bench.pages [--jobs 10000] [--runs 1000000] [--repeat 30] [--keep]
"""

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
SCHEDULES = ["*/15 * * * *", "0 * * * *", "@every 90s", "30 2 * * *", "0 9 * * 1-5", "@daily"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai"]
# Weighted like a healthy installation: mostly successes, some failures and skips.
STATES = (
    ["succeeded"] * 950 + ["failed"] * 30 + ["skipped"] * 10 + ["timed_out"] * 5 + ["missed"] * 5
)


def build(database: Path, jobs: int, runs: int) -> dict[str, int]:
    from django.contrib.auth.models import Group, User

    from jobs.models import Job

    viewer = User.objects.create_user("viewer", password="bench-password-1")
    viewer.groups.add(Group.objects.get(name="Viewer"))
    now = datetime.now(UTC)
    rng = random.Random(7)
    Job.objects.bulk_create(
        (
            Job(
                name=f"job {i:05}",
                description=f"benchmark job number {i}",
                kind="task",
                config={"task": "demo.noop", "params": {}},
                schedule=SCHEDULES[i % len(SCHEDULES)],
                timezone=ZONES[i % len(ZONES)],
                state="paused" if i % 20 == 0 else "active",
                labels={"team": f"team-{i % 12}"},
                # Set at different times, as jobs are: `@every` slots differ from job to job.
                schedule_anchor=now - timedelta(days=30, seconds=i * 7),
            )
            for i in range(jobs)
        ),
        batch_size=1000,
    )
    job_ids = list(Job.objects.order_by("id").values_list("id", flat=True))
    # A tenth of the jobs keep out of public holidays; the week ahead applies them.
    from jobs.services.calendars import calendar_create

    china = calendar_create(actor=None, name="China", holiday_country="CN")
    links = Job.calendars.through
    links.objects.bulk_create(
        [links(job_id=job_id, calendar_id=china.pk) for job_id in job_ids[::10]], batch_size=1000
    )
    hot, typical = job_ids[0], job_ids[len(job_ids) // 2]
    # One hot job holds a tenth of the ledger (a run every 10 s for ~12 days); the rest share
    # the remainder evenly over the 30 days `maintenance.prune_runs` keeps by default.
    hot_runs = runs // 10
    per_job = max(1, (runs - hot_runs) // max(1, len(job_ids) - 1))
    spacing = 30 * 24 * 3600 // per_job

    def rows():
        for job_id in job_ids:
            count, step = (hot_runs, 10) if job_id == hot else (per_job, spacing)
            for n in range(count):
                slot = now - timedelta(seconds=step * (n + 1))
                state = rng.choice(STATES)
                started = slot + timedelta(seconds=rng.random())
                finished = started + timedelta(seconds=rng.expovariate(1 / 3))
                ran = state not in ("skipped", "missed")
                yield (
                    job_id, 1, "schedule", state, "" if state == "succeeded" else state,
                    slot.isoformat(" "), slot.isoformat(" "),
                    started.isoformat(" ") if ran else None,
                    finished.isoformat(" ") if ran else started.isoformat(" "),
                    1, "bench", 1, "", 0, "",
                )  # fmt: skip

    connection = sqlite3.connect(database)
    connection.execute("PRAGMA synchronous=OFF")
    connection.executemany(
        "INSERT INTO jobs_run (job_id, job_version, trigger, state, reason, scheduled_for, "
        "created_at, started_at, finished_at, attempt, host, pid, output, "
        "output_dropped_bytes, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    # A few runs going on now, as on a busy installation.
    connection.execute(
        "UPDATE jobs_run SET state = 'running', finished_at = NULL WHERE id IN "
        "(SELECT id FROM jobs_run ORDER BY id DESC LIMIT 8)"
    )
    connection.commit()
    connection.close()
    return {"hot": hot, "typical": typical}


class QueryCounter(list):
    """An execute wrapper that remembers each SQL statement a request runs."""

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.append(sql)
        return execute(sql, params, many, context)


def measure(pages: list[tuple[str, str, dict[str, str]]], repeat: int) -> list[tuple]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    client = Client()
    # force_login: the login throttle's backend wants a real request, which Client.login lacks.
    client.force_login(User.objects.get(username="viewer"))
    results = []
    for label, url, headers in pages:
        first_started = time.perf_counter()
        response = client.get(url, headers=headers)
        first = (time.perf_counter() - first_started) * 1000
        assert response.status_code == 200, (url, response.status_code)
        queries = QueryCounter()
        with connection.execute_wrapper(queries):
            client.get(url, headers=headers)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        results.append((label, statistics.median(times), p95, first, len(queries)))
    return results


def prepared_database(prefix: str) -> Path:
    """A migrated SQLite file in a new temporary folder, with Django set up to use it."""
    database = Path(tempfile.mkdtemp(prefix=prefix)) / "bench.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "cronadmin.settings",
        "ALLOWED_HOSTS": "testserver,localhost",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    return database


def remove_database(database: Path) -> None:
    for path in database.parent.iterdir():
        path.unlink()
    database.parent.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args()

    database = prepared_database("cronadmin-pages-")
    started = time.perf_counter()
    ids = build(database, args.jobs, args.runs)
    print(
        f"built {args.jobs:,} jobs and {args.runs:,} runs in {time.perf_counter() - started:.0f} s"
    )

    hx = {"HX-Request": "true"}
    pages = [
        ("dashboard", "/", {}),
        ("dashboard live region", "/dashboard/live/", hx),
        ("jobs list", "/jobs/", {}),
        ("jobs list, page 100", "/jobs/?page=100", {}),
        ("jobs list, search", "/jobs/?q=job+0999", hx),
        ("jobs list, last result failed", "/jobs/?last=failed", hx),
        ("jobs list, sort by last run", "/jobs/?sort=last_run", hx),
        ("job detail (typical job)", f"/jobs/{ids['typical']}/", {}),
        ("job detail (hot job, 100k runs)", f"/jobs/{ids['hot']}/", {}),
        ("run history, failed only (hot)", f"/jobs/{ids['hot']}/runs/?state=failed", hx),
        ("week ahead", "/week/", {}),
        ("week ahead, label filter", "/week/?label=team%3Dteam-3", hx),
        ("week ahead, one hour's jobs", "/week/?day=1&hour=9", hx),
    ]
    results = measure(pages, args.repeat)
    print(f"\n{'page':<34} {'median ms':>10} {'p95 ms':>8} {'first ms':>9} {'queries':>8}")
    for label, median, p95, first, queries in results:
        mark = "" if median <= TARGET_MS else "  over target"
        print(f"{label:<34} {median:>10.1f} {p95:>8.1f} {first:>9.1f} {queries:>8}{mark}")
    print(f"\ntarget: median <= {TARGET_MS:.0f} ms per page; 'first' is the first request")
    if not args.keep:
        remove_database(database)
    else:
        print(f"kept {database}")


if __name__ == "__main__":
    main()

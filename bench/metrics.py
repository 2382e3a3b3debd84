"""Scrape time of the web's /metrics with 10,000 jobs and 1,000,000 runs in SQLite.

Builds the same data set as bench.pages (its builder), then scrapes /metrics through Django's
test client and prints the median and 95th percentile of the time spent in Django, the size of
the answer and its number of series.

Usage: python -m bench.metrics [--jobs 10000] [--runs 1000000] [--repeat 30]
"""

import argparse
import statistics
import time

from bench.pages import build, prepared_database, remove_database

TARGET_MS = 250.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    database = prepared_database("cronadmin-metrics-")
    from django.db import connection
    from django.test import Client

    started = time.perf_counter()
    build(database, args.jobs, args.runs)
    # Some trouble in the last hour, spread over many jobs, so the per-job series have work.
    with connection.cursor() as cursor:
        # Distinct instants per job: the ledger allows one scheduled run per slot.
        cursor.execute(
            "UPDATE jobs_run SET scheduled_for = datetime('now', '-30 minutes', "
            "'+' || (id % 1800) || ' seconds') WHERE id > (SELECT MAX(id) - 5000 FROM jobs_run)"
        )
    print(
        f"built {args.jobs:,} jobs and {args.runs:,} runs in {time.perf_counter() - started:.0f} s"
    )
    connection.close()

    client = Client()
    times = []
    for _ in range(args.repeat):
        begin = time.perf_counter()
        response = client.get("/metrics")
        times.append((time.perf_counter() - begin) * 1000)
        assert response.status_code == 200, response.status_code
    body = response.content.decode()
    series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    median = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    print(f"/metrics: median {median:.1f} ms, p95 {p95:.1f} ms, first {times[0]:.1f} ms")
    print(f"{len(body):,} bytes, {series} series; target: median <= {TARGET_MS:.0f} ms")
    remove_database(database)


if __name__ == "__main__":
    main()

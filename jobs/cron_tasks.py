"""Tasks that ship with CronAdmin: demos for trying the product, and run-ledger maintenance."""

import os
import time
from datetime import timedelta

from django.utils import timezone

from jobs.registry import task


@task("demo.echo", help={"message": "The text to print."})
def echo(message: str) -> None:
    """Print a message."""
    print(message)


@task("demo.noop")
def noop() -> None:
    """Do nothing (useful to measure the scheduler itself)."""


@task("demo.sleep", help={"seconds": "How long to run."})
def sleep(seconds: float = 5.0) -> None:
    """Run for a while, printing a line every second."""
    print(f"sleeping {seconds} s in process {os.getpid()}", flush=True)
    deadline = time.monotonic() + seconds
    second = 0
    while (left := deadline - time.monotonic()) > 0:
        print(f"second {second}", flush=True)
        time.sleep(min(1.0, left))
        second += 1
    print("done")


@task("demo.fail", help={"message": "The error message."})
def fail(message: str = "This task always fails.") -> None:
    """Raise an error, to see how failures look."""
    raise RuntimeError(message)


@task(
    "maintenance.prune_runs",
    help={
        "keep_days": "Delete finished runs older than this many days.",
        "keep_per_job": "Always keep at least this many newest runs of each job.",
        "batch_size": "Rows deleted per transaction, so the ledger is never locked for long.",
    },
)
def prune_runs(keep_days: int = 30, keep_per_job: int = 100, batch_size: int = 500) -> None:
    """Delete old finished runs by age, keeping the newest runs of every job."""
    from jobs.services import runs_prune

    deleted = runs_prune(
        older_than=timezone.now() - timedelta(days=keep_days),
        keep_per_job=keep_per_job,
        batch_size=batch_size,
    )
    print(f"deleted {deleted} runs")

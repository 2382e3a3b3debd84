"""Tasks that ship with CronAdmin: demos for trying the product, and run-ledger maintenance."""

import os
import time

from django.conf import settings

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
        "keep_days": "Delete finished runs older than this many days (a job's own value wins).",
        "keep_per_job": "Always keep this many newest runs of each job (a job's own value wins).",
        "batch_size": "Rows deleted per transaction, so the ledger is never locked for long.",
    },
)
def prune_runs(
    keep_days: int = settings.CRONADMIN_RUNS_KEEP_DAYS,
    keep_per_job: int = settings.CRONADMIN_RUNS_KEEP_PER_JOB,
    batch_size: int = 500,
) -> None:
    """Delete old finished runs, keeping each job's newest; jobs may set their own retention."""
    from jobs.services import runs_prune

    deleted = runs_prune(keep_days=keep_days, keep_per_job=keep_per_job, batch_size=batch_size)
    print(f"deleted {deleted} runs")

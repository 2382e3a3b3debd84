"""The two baselines: bare APScheduler (the ceiling) and APScheduler on django-apscheduler's store.

    python -m bench.baselines apscheduler 1000 burst 30

prints one JSON result (see bench.measure.summarize) on stdout. Each case runs in its own
process so its CPU can be measured and the previous case leaves nothing behind.
"""

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import partial

import psutil
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bench.measure import Fire, Window, phases, sleep_until, summarize, tree_cpu_seconds

SYSTEMS = ("apscheduler", "djangojobstore")
MAX_WORKERS = 20
# Large enough that APScheduler never drops a late slot as missed: lateness is what we measure.
MISFIRE_GRACE_SECONDS = 3600

_current_slot = threading.local()
FIRES: list[Fire] = []


def record_fire() -> None:
    started = time.time()
    FIRES.append((_current_slot.run_time.timestamp(), started))


def _run_slots(job, jobstore_alias: str, run_times: list[datetime], logger_name: str) -> list:
    # APScheduler does not tell the job function which slot it runs for; running the slots one
    # at a time through APScheduler's own run_job (misfire check and events included) lets
    # record_fire read it, so lateness is measured at the real start of the job function.
    events = []
    for run_time in run_times:
        _current_slot.run_time = run_time
        events.extend(run_job(job, jobstore_alias, [run_time], logger_name))
    return events


class SlotRecordingExecutor(ThreadPoolExecutor):
    def _do_submit_job(self, job, run_times) -> None:
        future = self._pool.submit(
            _run_slots, job, job._jobstore_alias, run_times, self._logger.name
        )
        future.add_done_callback(partial(self._job_done, job.id))

    def _job_done(self, job_id: str, future: Future) -> None:
        exc = future.exception()
        if exc is not None:
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, future.result())


class SlotOutcomes:
    """Counts slots APScheduler gave up on (missed, max instances) or that raised."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slots: list[tuple[str, float]] = []

    def __call__(self, event: SchedulerEvent) -> None:
        names = {
            EVENT_JOB_MAX_INSTANCES: "max_instances",
            EVENT_JOB_MISSED: "missed",
            EVENT_JOB_ERROR: "error",
        }
        if isinstance(event, JobSubmissionEvent):
            run_times = event.scheduled_run_times
        elif isinstance(event, JobExecutionEvent):
            run_times = [event.scheduled_run_time]
        else:
            return
        with self.lock:
            self.slots.extend((names[event.code], rt.timestamp()) for rt in run_times)

    def in_window(self, window: Window) -> dict[str, int]:
        with self.lock:
            return dict(Counter(name for name, instant in self.slots if instant in window))


def _django_job_store(tmp: str, sqlite_mode: str) -> BaseJobStore:
    os.environ["BENCH_DJANGOJOBSTORE_DB"] = os.path.join(tmp, "djangojobstore.sqlite3")
    os.environ["BENCH_DJANGOJOBSTORE_SQLITE"] = sqlite_mode
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.djangojobstore_settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django_apscheduler.jobstores import DjangoJobStore

    return DjangoJobStore()


class ThreadDeaths:
    """Remembers why a thread died: a job store error kills APScheduler's scheduling thread."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._previous = threading.excepthook

    def __call__(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        self.errors.append(f"thread {name} died: {args.exc_type.__name__}: {args.exc_value}")
        self._previous(args)


def run_case(
    system: str,
    n: int,
    shape: str,
    seconds: float,
    *,
    tmp: str,
    warmup: int = 2,
    sqlite_mode: str = "wal",
) -> dict:
    case_started = time.time()
    deaths = ThreadDeaths()
    threading.excepthook = deaths
    if system == "djangojobstore":
        jobstore = _django_job_store(tmp, sqlite_mode)
    else:
        jobstore = MemoryJobStore()
    scheduler = BackgroundScheduler(
        jobstores={"default": jobstore},
        executors={"default": SlotRecordingExecutor(max_workers=MAX_WORKERS)},
        job_defaults={"coalesce": False, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        timezone=UTC,
    )
    outcomes = SlotOutcomes()
    scheduler.add_listener(outcomes, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_ERROR)

    base = float(math.floor(time.time()))
    job_phases = phases(n, shape)
    for i, phase in enumerate(job_phases):
        trigger = IntervalTrigger(
            seconds=1, start_date=datetime.fromtimestamp(base + phase, UTC), timezone=UTC
        )
        scheduler.add_job(record_fire, trigger, id=f"bench-{i}", name=f"bench-{i}")
    # Pending jobs reach the job store inside start(), so the window opens only after that.
    scheduler.start()
    started = time.time()
    window = Window.after(started, warmup, seconds)

    me = psutil.Process()
    sleep_until(window.start)
    cpu_before = tree_cpu_seconds(me)
    sleep_until(window.end)
    cpu_seconds = tree_cpu_seconds(me) - cpu_before
    # One more second lets the slots at the very end of the window start; a system that is
    # further behind than that does not get more time.
    sleep_until(window.end + 1)
    fires = list(FIRES)
    states = {"executed": sum(1 for scheduled, _ in fires if scheduled in window)}
    states |= outcomes.in_window(window)

    return summarize(
        system=system,
        n=n,
        shape=shape,
        base=base,
        window=window,
        fires=fires,
        cpu_seconds=cpu_seconds,
        setup_seconds=started - case_started,
        states=states,
        variant=f"sqlite={sqlite_mode}" if system == "djangojobstore" else "",
        error="; ".join(deaths.errors) or None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__)
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("n", type=int)
    parser.add_argument("shape", choices=("staggered", "burst"))
    parser.add_argument("seconds", type=float)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--sqlite",
        choices=("wal", "immediate", "plain"),
        default="wal",
        help="SQLite setup for djangojobstore (see bench/djangojobstore_settings.py)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    tmp = tempfile.mkdtemp(prefix=f"bench-{args.system}-")
    result = run_case(
        args.system,
        args.n,
        args.shape,
        args.seconds,
        tmp=tmp,
        warmup=args.warmup,
        sqlite_mode=args.sqlite,
    )
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.stderr.flush()
    # A scheduler that is behind still has a queue of work; the case is over, so leave without
    # waiting for it to drain.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())

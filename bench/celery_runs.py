"""Runs drained through Celery workers against the scheduler's own pool.

On a fresh PostgreSQL database and the local RabbitMQ, with a real `runscheduler` and real
`celery -A cronadmin worker` processes:

- short runs: N `demo.noop` runs queued at once, drained through Celery with 1 and 2 worker
  processes and through the scheduler's local pool (2 processes); runs/s from the first request
  to the last end, start lateness (request to start) p50/p99, and whether every run is in the
  ledger as succeeded;
- CPU-bound runs: M `bench.spin` runs (a fixed loop) with 1 and 2 worker processes, to show that
  throughput grows with worker processes.

Usage: python -m bench.celery_runs [--runs 1000] [--cpu-runs 16] [--postgres ADMIN_URL]
       [--broker amqp://guest:guest@127.0.0.1:5672//]
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Processes:
    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp, self.procs = env, tmp, []

    def start(self, name: str, args: list[str], **extra: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**self.env, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs = []


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def drain(
    case: str, *, runs: int, task: str, params: dict, workers: int, broker: str, procs: Processes
) -> dict:
    from django.utils import timezone

    from jobs import services
    from jobs.models import CeleryWorker, Run, SchedulerNode

    queue = f"bench-{uuid.uuid4().hex[:8]}" if broker else ""
    env = {"CRONADMIN_CELERY_BROKER_URL": broker, "CRONADMIN_TASK_WORKERS": str(workers)}
    procs.start(f"scheduler-{case}", ["manage.py", "runscheduler"], **env)
    wait_for(
        lambda: SchedulerNode.objects.filter(
            stopped_at__isnull=True, applied_at__isnull=False
        ).exists(),
        60,
        "the scheduler",
    )
    if broker:
        name = f"bench-{case}-{uuid.uuid4().hex[:4]}@{socket.gethostname()}"
        procs.start(
            f"worker-{case}",
            [
                "-m",
                "celery",
                "-A",
                "cronadmin",
                "worker",
                "-Q",
                queue,
                "-c",
                str(workers),
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "-l",
                os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"),
            ],
            **env,
        )
        wait_for(lambda: CeleryWorker.objects.filter(name=name).exists(), 60, "the worker")
    job = services.job_create(
        actor=None,
        name=f"bench {case}",
        kind="task",
        config={"task": task, "params": params},
        schedule="@manual",
        overlap="allow",
        max_concurrent=1000,
        queue=queue,
    )
    # One run first: the scheduler knows the job, the worker processes are warm.
    warm = services.job_run_now(actor=None, job=job)
    wait_for(lambda: Run.objects.filter(pk=warm.pk, state="succeeded").exists(), 60, "warm-up")
    now = timezone.now()
    Run.objects.bulk_create(
        Run(
            job=job,
            job_version=job.version,
            trigger="manual",
            state="queued",
            scheduled_for=now,
            created_at=now,
        )
        for _ in range(runs)
    )
    services.bump_change_marker()
    batch = Run.objects.filter(job=job, created_at=now)
    wait_for(lambda: not batch.filter(state__in=("queued", "running")).exists(), 900, case)
    rows = list(batch.values_list("state", "started_at", "finished_at", "scheduled_for"))
    procs.stop_all()
    span = (max(r[2] for r in rows) - now).total_seconds()
    lateness = [(r[1] - r[3]).total_seconds() for r in rows if r[1]]
    return {
        "case": case,
        "runs": len(rows),
        "succeeded": sum(1 for r in rows if r[0] == "succeeded"),
        "runs_per_s": len(rows) / span,
        "p50": statistics.median(lateness),
        "p99": percentile(lateness, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cpu-runs", type=int, default=16)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    args = parser.parse_args()

    import psycopg

    tmp = Path(tempfile.mkdtemp(prefix="cronadmin-bench-celery-"))
    name = f"cronadmin_bench_celery_{os.getpid()}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": args.postgres.rsplit("/", 1)[0] + f"/{name}",
        "CRONADMIN_OUTPUT_DIR": str(tmp / "output"),
        "DJANGO_SETTINGS_MODULE": "bench.celery_settings",
        "CRONADMIN_DEV": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    procs = Processes(env, tmp)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        import django

        django.setup()
        from jobs.models import ChangeMarker

        ChangeMarker.objects.get_or_create(id=1)
        short = [
            drain(
                "celery, 1 process",
                runs=args.runs,
                task="demo.noop",
                params={},
                workers=1,
                broker=args.broker,
                procs=procs,
            ),
            drain(
                "celery, 2 processes",
                runs=args.runs,
                task="demo.noop",
                params={},
                workers=2,
                broker=args.broker,
                procs=procs,
            ),
            drain(
                "local pool, 2 processes",
                runs=args.runs,
                task="demo.noop",
                params={},
                workers=2,
                broker="",
                procs=procs,
            ),
        ]
        spin = {"iterations": 3_000_000}
        cpu = [
            drain(
                f"cpu: celery, {n} process(es)",
                runs=args.cpu_runs,
                task="bench.spin",
                params=spin,
                workers=n,
                broker=args.broker,
                procs=procs,
            )
            for n in (1, 2)
        ]
    finally:
        procs.stop_all()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\n{args.runs} short runs queued at once (demo.noop); lateness = request to start\n")
    print(f"| {'case':<26} | {'runs/s':>8} | {'p50 s':>7} | {'p99 s':>7} | {'in ledger':>13} |")
    print(f"|{'-' * 28}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 15}|")
    for r in short + cpu:
        print(
            f"| {r['case']:<26} | {r['runs_per_s']:>8.1f} | {r['p50']:>7.2f} | {r['p99']:>7.2f} |"
            f" {r['succeeded']:>5}/{r['runs']:<5} ok |"
        )
    c1, c2, local = (r["runs_per_s"] for r in short)
    print(f"\nshort runs: celery 2 processes / 1 process = {c2 / c1:.2f}x;", end=" ")
    print(f"local pool / celery 2 processes = {local / c2:.2f}x")
    print(
        f"cpu-bound: 2 processes / 1 process = {cpu[1]['runs_per_s'] / cpu[0]['runs_per_s']:.2f}x"
    )


if __name__ == "__main__":
    main()

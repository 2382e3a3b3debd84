"""Runs on real Celery workers over the local RabbitMQ, with the real scheduler process.

Each test gets a queue of its own in a virtual host of its own, so closing the broker's
connections or leaving messages behind touches nobody else.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import tests.faulttasks.cron_tasks  # noqa: F401 - registers the faults.* tasks in this process
from jobs import services
from jobs.models import AuditEvent, CeleryWorker, Job, Run
from tests.conftest import ROOT, SchedulerProcess, database_url, free_port, wait_for

pytestmark = pytest.mark.timeout(60)

VHOST = "cronadmin-celery-tests"
BROKER = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def vhost() -> str:
    if not _rabbitmq_up():
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], capture_output=True, check=False)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
        capture_output=True,
        check=True,
    )
    return VHOST


def celery_env(tmp_path: Path, broker: str = BROKER, **extra: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "tests.fault_settings",
        "DATABASE_URL": database_url(),
        "CRONADMIN_CELERY_BROKER_URL": broker,
        "CRONADMIN_OUTPUT_DIR": str(tmp_path / "output"),
        "CRONADMIN_ALLOW_SHELL_JOBS": "true",
        "CRONADMIN_CELERY_HEARTBEAT_SECONDS": "0.5",
        "CRONADMIN_CELERY_WORKER_LOST_SECONDS": "3",
        "CRONADMIN_CELERY_NO_WORKER_SECONDS": "2",
        "CRONADMIN_CELERY_HARD_LIMIT_GRACE_SECONDS": "1",
        **extra,
    }


class Worker:
    """A real `celery -A cronadmin worker -Q <queue>`."""

    def __init__(self, tmp_path: Path, queue: str, concurrency: int, env: dict[str, str]) -> None:
        self.name = f"w{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        self.log_path = tmp_path / f"worker-{self.name}.log"
        self.args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cronadmin",
            "worker",
            "-Q",
            queue,
            "-c",
            str(concurrency),
            "-n",
            self.name,
            "--without-gossip",
            "--without-mingle",
            "-l",
            "INFO",
        ]
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Worker":
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )
        wait_for(self._ready, timeout=30)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log()
        return CeleryWorker.objects.filter(name=self.name, stopped_at__isnull=True).exists()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        # The whole worker, children included, as a host that dies would.
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            child.kill()
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Cluster:
    def __init__(self, tmp_path: Path, start_scheduler: Callable[..., SchedulerProcess]) -> None:
        self.tmp_path = tmp_path
        self.queue = f"q-{uuid.uuid4().hex[:10]}"
        self.start_scheduler = start_scheduler
        self.workers: list[Worker] = []

    def worker(self, concurrency: int = 1, **env: str) -> Worker:
        worker = Worker(self.tmp_path, self.queue, concurrency, celery_env(self.tmp_path, **env))
        self.workers.append(worker)
        return worker.start()

    def scheduler(self, broker: str = BROKER, wait: bool = True, **env: str) -> SchedulerProcess:
        return self.start_scheduler(wait=wait, **celery_env(self.tmp_path, broker, **env))

    def job(self, name: str, task: str, params: dict | None = None, **fields) -> Job:
        return services.job_create(
            actor=None,
            name=name,
            kind="task",
            config={"task": task, "params": params or {}},
            schedule="@manual",
            queue=self.queue,
            **fields,
        )


@pytest.fixture
def cluster(vhost, start_scheduler, tmp_path, settings) -> Iterator[Cluster]:
    settings.CRONADMIN_ALLOW_SHELL_JOBS = True
    cluster = Cluster(tmp_path, start_scheduler)
    yield cluster
    for worker in cluster.workers:
        worker.stop()


def run_now(job: Job) -> Run:
    return services.job_run_now(actor=None, job=job)


def final(run: Run, timeout: float = 15) -> Run:
    return wait_for(
        lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), timeout=timeout
    )


def side_effects(marker: str) -> int:
    return AuditEvent.objects.filter(actor_name="side-effect", object_repr=marker).count()


def processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def test_it_runs_a_task_on_a_worker(cluster):
    worker = cluster.worker()
    cluster.scheduler()
    job = cluster.job("ok", "faults.side_effect", {"marker": "ok"})
    run = final(run_now(job))
    assert run.state == Run.State.SUCCEEDED, (run.reason, worker.log())
    assert run.worker == worker.name
    assert run.host == socket.gethostname()
    assert run.pid and run.pid != worker.proc.pid
    assert run.queue == cluster.queue and run.dispatch_token
    assert "side effect ok" in run.output
    assert side_effects("ok") == 1

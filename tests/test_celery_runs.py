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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import tests.faulttasks.cron_tasks  # noqa: F401 - registers the faults.* tasks in this process
from jobs import services
from jobs.models import AuditEvent, CeleryWorker, Job, Run
from tests.conftest import ROOT, SchedulerProcess, database_url, free_port, wait_for
from tests.webhook_receiver import receiver_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

# A vhost of this test process's own: closing its connections (a broker fault below) touches
# nobody else, not even the same suite running on the other database at the same time.
VHOST = f"cronadmin-celery-tests-{os.getpid()}"
BROKER = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def vhost() -> Iterator[str]:
    if not _rabbitmq_up():
        pytest.fail("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], capture_output=True, check=False)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
        capture_output=True,
        check=True,
    )
    yield VHOST
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True, check=False)


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
    reported = CeleryWorker.objects.get(name=worker.name)
    assert reported.queues == [cluster.queue] and reported.concurrency == 1


def test_an_exception_fails_the_run_and_it_is_retried(cluster):
    cluster.worker()
    cluster.scheduler()
    job = cluster.job("boom", "faults.raise_error", max_retries=1, retry_backoff_seconds=0)
    first = final(run_now(job))
    assert first.state == Run.State.FAILED
    assert "RuntimeError: this task always fails" in first.reason
    assert "Traceback" in first.error
    retry = wait_for(lambda: Run.objects.filter(retry_of=first, state=Run.State.FAILED).first(), 15)
    assert retry.attempt == 2 and retry.queue == cluster.queue


def test_a_timeout_kills_the_run_and_its_children(cluster):
    cluster.worker()
    cluster.scheduler()
    marker = f"to-{uuid.uuid4().hex[:8]}"
    job = cluster.job("slow", "faults.child_sleep", {"marker": marker}, timeout_seconds=2)
    run = run_now(job)
    wait_for(lambda: processes_with(marker), timeout=10)
    run = final(run)
    assert run.state == Run.State.TIMED_OUT
    assert "2 s timeout" in run.reason
    wait_for(lambda: not processes_with(marker), timeout=5)


def test_the_hard_limit_stops_code_that_holds_the_gil(cluster):
    cluster.worker()
    cluster.scheduler()
    job = cluster.job("gil", "faults.hold_gil", timeout_seconds=1)
    run = final(run_now(job))
    assert run.state == Run.State.TIMED_OUT
    assert "hard time limit" in run.reason


def test_cancel_of_a_running_run_kills_its_grandchild(cluster):
    cluster.worker()
    cluster.scheduler()
    marker = f"cx-{uuid.uuid4().hex[:8]}"
    job = cluster.job("cancel", "faults.child_sleep", {"marker": marker})
    run = run_now(job)
    wait_for(lambda: processes_with(marker), timeout=10)
    services.run_cancel(actor=None, run=run)
    run = final(run)
    assert run.state == Run.State.CANCELLED
    wait_for(lambda: not processes_with(marker), timeout=5)


def test_cancel_of_a_queued_run_never_runs_it(cluster):
    cluster.scheduler(CRONADMIN_CELERY_NO_WORKER_SECONDS="120")
    # Allowing overlap: the follow-up must not wait for the engine to see the cancel.
    job = cluster.job(
        "queued", "faults.side_effect", {"marker": "never"}, overlap="allow", max_concurrent=5
    )
    run = run_now(job)
    # Dispatched and published, but no worker consumes the queue yet.
    wait_for(lambda: Run.objects.filter(pk=run.pk, published_at__isnull=False).exists(), 10)
    services.run_cancel(actor=None, run=run)
    cluster.worker()
    follow = final(run_now(job))
    assert follow.state == Run.State.SUCCEEDED
    assert Run.objects.get(pk=run.pk).state == Run.State.CANCELLED
    assert side_effects("never") == 1  # the follow-up's, not the cancelled one's


def test_the_same_message_published_twice_runs_once(cluster):
    from cronadmin.celery import RUN_TASK, app

    cluster.scheduler(CRONADMIN_CELERY_NO_WORKER_SECONDS="120")
    job = cluster.job("twice", "faults.side_effect", {"marker": "twice"})
    run = run_now(job)
    run = wait_for(lambda: Run.objects.filter(pk=run.pk, published_at__isnull=False).first(), 10)
    app.conf.broker_url = BROKER
    app.send_task(RUN_TASK, args=(run.pk, run.dispatch_token), queue=cluster.queue)
    app.send_task(RUN_TASK, args=(run.pk, "a-forged-token"), queue=cluster.queue)
    worker = cluster.worker()
    assert final(run).state == Run.State.SUCCEEDED
    wait_for(lambda: worker.log().count("nothing to claim") >= 2, timeout=10)
    assert side_effects("twice") == 1


def test_a_killed_worker_is_lost_and_its_redelivery_refused(cluster):
    worker = cluster.worker()
    cluster.scheduler()
    job = cluster.job("lost", "faults.side_effect", {"marker": "lost", "seconds": 60.0})
    run = run_now(job)
    wait_for(lambda: side_effects("lost") == 1, timeout=10)
    worker.kill()
    run = final(run, timeout=10)
    assert run.state == Run.State.INTERRUPTED
    assert run.reason.startswith(f"Worker lost: {worker.name}/")
    # The broker redelivers the unacknowledged message to the next worker, which refuses it.
    again = cluster.worker()
    wait_for(lambda: "nothing to claim" in again.log(), timeout=10)
    assert side_effects("lost") == 1


def test_a_lost_worker_run_is_retried(cluster):
    worker = cluster.worker()
    cluster.scheduler()
    job = cluster.job(
        "lost-retry",
        "faults.side_effect",
        {"marker": "lr", "seconds": 60.0},
        max_retries=1,
        retry_backoff_seconds=0,
    )
    run = run_now(job)
    wait_for(lambda: side_effects("lr") == 1, timeout=10)
    worker.kill()
    assert final(run, timeout=10).state == Run.State.INTERRUPTED
    retry = wait_for(lambda: Run.objects.filter(retry_of=run).first(), timeout=10)
    assert retry.attempt == 2


def test_closed_broker_connections_mid_run_end_in_one_success(cluster):
    worker = cluster.worker()
    cluster.scheduler()
    job = cluster.job(
        "blip",
        "faults.side_effect",
        {"marker": "blip", "seconds": 3.0},
        overlap="allow",
        max_concurrent=5,
    )
    run = run_now(job)
    wait_for(lambda: side_effects("blip") == 1, timeout=10)
    subprocess.run(
        ["rabbitmqctl", "-q", "close_all_connections", "--vhost", VHOST, "test"],
        capture_output=True,
        check=True,
    )
    run = final(run)
    assert run.state == Run.State.SUCCEEDED, worker.log()
    # A later run proves the worker reconnected; the first one still ran exactly once.
    assert final(run_now(job)).state == Run.State.SUCCEEDED
    assert side_effects("blip") == 2


class Proxy:
    """A TCP relay to RabbitMQ that the test can cut and restore: a broker that goes away."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/{VHOST}"
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def up(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in self._conns:
            conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 5672))
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for conn in (source, target):
                try:
                    conn.close()
                except OSError:
                    pass


def test_a_run_dispatched_while_the_broker_is_down_is_published_when_it_returns(cluster):
    proxy = Proxy()
    cluster.worker()
    cluster.scheduler(broker=proxy.url)
    job = cluster.job("later", "faults.side_effect", {"marker": "later"})
    run = run_now(job)
    wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(dispatch_token="").exists(), 10)
    assert Run.objects.get(pk=run.pk).published_at is None
    proxy.up()
    try:
        assert final(run).state == Run.State.SUCCEEDED
    finally:
        proxy.down()
    assert side_effects("later") == 1


def test_the_standby_publishes_what_a_killed_leader_committed(cluster):
    proxy = Proxy()  # never up: this leader commits its dispatches and cannot publish them
    cluster.worker()
    leader = cluster.scheduler(broker=proxy.url)
    cluster.scheduler(wait=False)
    job = cluster.job("handover", "faults.side_effect", {"marker": "handover"})
    run = run_now(job)
    wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(dispatch_token="").exists(), 10)
    token = Run.objects.get(pk=run.pk).dispatch_token
    leader.kill()
    run = final(run, timeout=20)
    assert run.state == Run.State.SUCCEEDED
    assert run.dispatch_token == token
    assert side_effects("handover") == 1


def test_a_queue_without_a_worker_fails_its_runs(cluster):
    cluster.scheduler()
    job = cluster.job("nobody", "faults.side_effect", {"marker": "nobody"})
    run = final(run_now(job))
    assert run.state == Run.State.FAILED
    assert run.reason == f"No worker is serving queue {cluster.queue}."
    assert side_effects("nobody") == 0


def test_a_chain_starts_after_a_celery_run(cluster):
    cluster.worker()
    cluster.scheduler()
    second = cluster.job("second", "faults.side_effect", {"marker": "second"})
    first = cluster.job("first", "faults.side_effect", {"marker": "first"}, on_success=[second])
    assert final(run_now(first)).state == Run.State.SUCCEEDED
    chained = wait_for(lambda: Run.objects.filter(job=second, trigger="chain").first(), 10)
    chained = final(chained)
    assert chained.state == Run.State.SUCCEEDED
    assert chained.worker and side_effects("second") == 1


def test_overlap_queue_one_holds_the_next_run_until_the_worker_ends_the_first(cluster):
    cluster.worker(concurrency=2)
    cluster.scheduler()
    job = cluster.job(
        "overlap", "faults.side_effect", {"marker": "ov", "seconds": 2.0}, overlap="queue"
    )
    first = run_now(job)
    wait_for(lambda: side_effects("ov") == 1, timeout=10)
    second, third = run_now(job), run_now(job)
    assert final(third).state == Run.State.SKIPPED
    first, second = final(first), final(second)
    assert first.state == second.state == Run.State.SUCCEEDED
    # With a free worker process, only the policy kept the second from starting at once.
    assert second.started_at >= first.finished_at


def test_a_failed_celery_run_sends_its_notification(cluster, receiver, settings):
    # The receiver listens on 127.0.0.1: saving the job needs it allowed, as for the scheduler.
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    cluster.worker()
    cluster.scheduler(CRONADMIN_HTTP_ALLOWED_HOSTS="127.0.0.1")
    job = cluster.job(
        "notify", "faults.raise_error", notify_on=["failure"], notify_webhook_url=receiver.url
    )
    run = final(run_now(job))
    assert run.state == Run.State.FAILED
    wait_for(lambda: receiver.calls, timeout=15)
    assert receiver.calls[0]["json"]["job"]["name"] == "notify"


def test_a_shell_job_runs_on_a_worker(cluster):
    worker = cluster.worker()
    cluster.scheduler()
    job = services.job_create(
        actor=None,
        name="shell",
        kind="shell",
        config={"command": "echo from $CRONADMIN_RUN_ID; exit 3"},
        schedule="@manual",
        queue=cluster.queue,
    )
    run = run_now(job)
    run = final(run)
    assert run.state == Run.State.FAILED and run.exit_code == 3, run.reason
    assert run.output.strip() == f"from {run.pk}"
    assert run.worker == worker.name

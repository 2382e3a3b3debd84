"""Job kinds that misbehave, run by the real scheduler process: no end, children left behind,
a gigabyte of output, a server that trickles. Each ends on time and leaves nothing running."""

import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import psutil
import pytest

import tests.faulttasks.cron_tasks  # noqa: F401 - registers the faults.* tasks in this process
from jobs import services
from jobs.models import Job, Run
from tests.conftest import SchedulerProcess, wait_for

pytestmark = pytest.mark.timeout(120)

GIB = 1024**3
HEAD = TAIL = 32_768
# The scheduler and its task workers together, whatever the job prints.
MEMORY_BOUND = 300 * 1024**2


def task_job(name: str, task: str, params: dict | None = None, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": task, "params": params or {}},
        schedule="@manual",
        **fields,
    )


def shell_job(name: str, command: str, **fields) -> Job:
    config = {"command": command}
    return services.job_create(
        actor=None, name=name, kind="shell", config=config, schedule="@manual", **fields
    )


def start(start_scheduler: Callable[..., SchedulerProcess], **env: str) -> SchedulerProcess:
    # The scheduler and its workers load the faults.* tasks from this settings module.
    return start_scheduler(
        DJANGO_SETTINGS_MODULE="tests.fault_settings",
        CRONADMIN_OUTPUT_HEAD_BYTES=str(HEAD),
        CRONADMIN_OUTPUT_TAIL_BYTES=str(TAIL),
        **env,
    )


def finished(run: Run, timeout: float) -> Run:
    return wait_for(
        lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), timeout=timeout
    )


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(marker: str) -> list[psutil.Process]:
    """Live processes anywhere on the host with `marker` in their command line."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []) and alive(proc):
            found.append(proc)
    return found


def descendants(scheduler: SchedulerProcess) -> list[psutil.Process]:
    assert scheduler.proc is not None
    return [p for p in psutil.Process(scheduler.proc.pid).children(recursive=True) if alive(p)]


def cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return ""


def is_worker(proc: psutil.Process) -> bool:
    return "multiprocessing.spawn" in cmdline(proc) and "resource_tracker" not in cmdline(proc)


def workers(scheduler: SchedulerProcess) -> set[int]:
    return {p.pid for p in descendants(scheduler) if is_worker(p)}


def strangers(scheduler: SchedulerProcess) -> list[str]:
    """The scheduler's descendants that are neither task workers nor multiprocessing's tracker."""
    return [
        cmdline(p)
        for p in descendants(scheduler)
        if not is_worker(p) and "resource_tracker" not in cmdline(p)
    ]


def worker_pid(run: Run) -> int:
    match = re.search(r"process (\d+)", run.output)
    assert match, run.output
    return int(match.group(1))


@pytest.fixture
def marker() -> Iterator[str]:
    marker = f"cronadmin-fault-{time.monotonic_ns()}"
    yield marker
    # A failing test must not leave its sleepers behind either.
    for proc in marked(marker):
        proc.kill()


# --- a task that never ends ---


def test_a_task_that_never_ends_is_killed_at_its_timeout_and_its_worker_replaced(
    start_scheduler,
):
    job = task_job("forever", "faults.forever", timeout_seconds=2)
    echo = task_job("echo", "demo.echo", {"message": "still working"})
    scheduler = start(start_scheduler)
    # Pebble starts its workers with the first task.
    assert finished(services.job_run_now(actor=None, job=echo), timeout=30).state == "succeeded"
    wait_for(lambda: len(workers(scheduler)) == 2, timeout=15)
    before = workers(scheduler)

    run = finished(services.job_run_now(actor=None, job=job), timeout=30)

    assert run.state == Run.State.TIMED_OUT, run.reason
    assert run.reason == "Stopped after its 2 s timeout; its worker process was killed."
    assert run.finished_at - run.started_at < timedelta(seconds=10)
    killed = worker_pid(run)
    assert killed in before
    wait_for(lambda: not psutil.pid_exists(killed) or not alive(psutil.Process(killed)), timeout=10)
    # The pool is whole again, with a new worker in place of the killed one.
    wait_for(lambda: len(workers(scheduler)) == 2 and killed not in workers(scheduler), timeout=15)
    next_run = finished(services.job_run_now(actor=None, job=echo), timeout=30)
    assert next_run.state == Run.State.SUCCEEDED, next_run.reason
    assert next_run.output.strip() == "still working"
    assert next_run.pid in workers(scheduler)
    assert strangers(scheduler) == []


# --- children left behind ---


def test_a_task_that_starts_children_and_returns_leaves_none_running(start_scheduler, marker):
    job = task_job("children", "faults.leave_children", {"marker": marker})
    scheduler = start(start_scheduler)

    run = finished(services.job_run_now(actor=None, job=job), timeout=30)

    assert run.state == Run.State.SUCCEEDED, (run.reason, run.error)
    # A plain child and a double-forked daemon in its own session: both gone with the run.
    wait_for(lambda: not marked(marker), timeout=5)
    assert worker_pid(run) in workers(scheduler)
    assert strangers(scheduler) == []


def test_a_task_killed_at_its_timeout_takes_its_children_along(start_scheduler, marker):
    job = task_job("hangs", "faults.hang_with_child", {"marker": marker}, timeout_seconds=2)
    scheduler = start(start_scheduler)

    run = services.job_run_now(actor=None, job=job)
    wait_for(lambda: marked(marker), timeout=30)
    run = finished(run, timeout=30)

    assert run.state == Run.State.TIMED_OUT, run.reason
    wait_for(lambda: not marked(marker), timeout=5)
    wait_for(lambda: len(workers(scheduler)) == 2, timeout=15)
    assert strangers(scheduler) == []


def test_a_cancelled_task_takes_its_children_along(start_scheduler, marker):
    job = task_job("cancelled", "faults.hang_with_child", {"marker": marker})
    scheduler = start(start_scheduler)

    run = services.job_run_now(actor=None, job=job)
    wait_for(lambda: marked(marker), timeout=30)
    services.run_cancel(actor=None, run=run)
    run = finished(run, timeout=30)

    assert run.state == Run.State.CANCELLED, run.reason
    wait_for(lambda: not marked(marker), timeout=10)
    wait_for(lambda: len(workers(scheduler)) == 2, timeout=15)
    assert strangers(scheduler) == []


def test_a_shell_command_that_backgrounds_a_child_and_exits_leaves_none_running(
    start_scheduler, settings, marker
):
    settings.CRONADMIN_ALLOW_SHELL_JOBS = True
    sleeper = f"{sys.executable} -c 'import time; time.sleep(300)' {marker}"
    job = shell_job("background", f"{sleeper} & echo started")
    scheduler = start(start_scheduler, CRONADMIN_ALLOW_SHELL_JOBS="true")

    run = finished(services.job_run_now(actor=None, job=job), timeout=30)

    assert run.state == Run.State.SUCCEEDED, run.reason
    assert run.output.strip() == "started"
    wait_for(lambda: not marked(marker), timeout=5)
    assert strangers(scheduler) == []


# --- a gigabyte of output ---


class MemorySampler(threading.Thread):
    """The largest resident size of the scheduler plus all its descendants, sampled."""

    def __init__(self, scheduler: SchedulerProcess) -> None:
        super().__init__(daemon=True)
        assert scheduler.proc is not None
        self.root = psutil.Process(scheduler.proc.pid)
        self.peak = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            total = 0
            for proc in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total)
            self.samples += 1


@pytest.fixture
def sampled() -> Iterator[Callable[[SchedulerProcess], MemorySampler]]:
    samplers: list[MemorySampler] = []

    def sample(scheduler: SchedulerProcess) -> MemorySampler:
        sampler = MemorySampler(scheduler)
        sampler.start()
        samplers.append(sampler)
        return sampler

    yield sample
    for sampler in samplers:
        sampler.stop.set()
        sampler.join(5)


def assert_capped(run: Run, total: int, unit: str) -> None:
    """The output of `unit` repeated up to `total` bytes: its first and last bytes, counted."""
    assert total % len(unit) == 0
    stream = unit * ((HEAD + TAIL) // len(unit) + 1)
    dropped = total - HEAD - TAIL
    assert run.output_dropped_bytes == dropped
    assert run.output == stream[:HEAD] + f"\n… [{dropped} bytes dropped] …\n" + stream[-TAIL:]


def test_a_task_printing_a_gigabyte_keeps_head_and_tail_in_bounded_memory(start_scheduler, sampled):
    line = 8192
    job = task_job("loud", "faults.print_bytes", {"total": GIB, "line": line}, timeout_seconds=100)
    scheduler = start(start_scheduler)
    sampler = sampled(scheduler)

    run = finished(services.job_run_now(actor=None, job=job), timeout=110)
    sampler.stop.set()
    sampler.join(5)

    assert run.state == Run.State.SUCCEEDED, (run.reason, run.error)
    assert_capped(run, GIB, "x" * (line - 1) + "\n")
    assert sampler.samples > 0
    assert sampler.peak < MEMORY_BOUND, f"{sampler.peak / 1024**2:.0f} MB"


def test_a_shell_command_printing_a_gigabyte_keeps_head_and_tail_in_bounded_memory(
    start_scheduler, settings, sampled
):
    settings.CRONADMIN_ALLOW_SHELL_JOBS = True
    job = shell_job("yes", "yes | head -c 1G", timeout_seconds=100)
    scheduler = start(start_scheduler, CRONADMIN_ALLOW_SHELL_JOBS="true")
    sampler = sampled(scheduler)

    run = finished(services.job_run_now(actor=None, job=job), timeout=110)
    sampler.stop.set()
    sampler.join(5)

    assert run.state == Run.State.SUCCEEDED, run.reason
    assert_capped(run, GIB, "y\n")
    assert sampler.samples > 0
    assert sampler.peak < MEMORY_BOUND, f"{sampler.peak / 1024**2:.0f} MB"


# --- a webhook server that answers one byte per second ---


def trickling_server() -> tuple[int, threading.Event]:
    """A server on 127.0.0.1 that reads the request, then answers one byte per second."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        connection, _address = listener.accept()
        try:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello":
                connection.sendall(bytes([byte]))
                if stop.wait(1):
                    break
        except OSError:
            pass  # The client hung up at its deadline, as it should.
        finally:
            connection.close()
            listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], stop


def test_a_webhook_against_a_trickling_server_ends_at_its_deadline(start_scheduler, settings):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    port, stop = trickling_server()
    quick_port, quick_stop = trickling_server()
    job = services.job_create(
        actor=None,
        name="slow hook",
        kind="http",
        schedule="@manual",
        config={"url": f"http://127.0.0.1:{port}/"},
        timeout_seconds=3,
    )
    scheduler = start(start_scheduler, CRONADMIN_HTTP_ALLOWED_HOSTS="127.0.0.1")
    assert scheduler.proc is not None
    process = psutil.Process(scheduler.proc.pid)
    try:
        # A first run that is cancelled brings the run thread pool to its working size.
        warm = services.job_create(
            actor=None,
            name="warm-up",
            kind="http",
            schedule="@manual",
            config={"url": f"http://127.0.0.1:{quick_port}/"},
            timeout_seconds=1,
        )
        assert finished(services.job_run_now(actor=None, job=warm), timeout=30).state == (
            Run.State.TIMED_OUT
        )
        time.sleep(0.5)
        threads = process.num_threads()

        run = finished(services.job_run_now(actor=None, job=job), timeout=30)

        assert run.state == Run.State.TIMED_OUT, run.reason
        assert run.reason == "timed out after 3 s"
        assert timedelta(seconds=2.9) < run.finished_at - run.started_at < timedelta(seconds=6)
        # The request's guard thread is gone; only the pool's idle thread stays.
        wait_for(lambda: process.num_threads() == threads, timeout=5)
    finally:
        stop.set()
        quick_stop.set()

"""Misbehaving tasks. The scheduler under test loads them through tests.fault_settings; the test
process imports this module itself to create jobs that name them."""

import os
import subprocess
import sys
import time

from jobs.registry import task


def _sleeper(marker: str) -> subprocess.Popen:
    # The marker in its command line lets the test find it, wherever it ends up.
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", marker],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _daemon(marker: str) -> None:
    """The classic double fork with setsid: the grandchild is re-parented and in a new session."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", marker])
        os._exit(0)
    os.waitpid(pid, 0)


@task("faults.forever")
def forever() -> None:
    """Never end."""
    print(f"running in process {os.getpid()}", flush=True)
    while True:
        time.sleep(1)


@task("faults.leave_children")
def leave_children(marker: str) -> None:
    """Start a child and a daemon that keep running, and return."""
    _sleeper(marker)
    _daemon(marker)
    print(f"left children in process {os.getpid()}", flush=True)


@task("faults.hang_with_child")
def hang_with_child(marker: str) -> None:
    """Start a child, then never end (the worker gets killed at the timeout)."""
    _sleeper(marker)
    print(f"running in process {os.getpid()}", flush=True)
    while True:
        time.sleep(1)


@task("faults.print_bytes")
def print_bytes(total: int, line: int) -> None:
    """Print `total` bytes in lines of `line` bytes (newline included)."""
    text = "x" * (line - 1)
    for _ in range(total // line):
        print(text)


@task("faults.side_effect")
def side_effect(marker: str, seconds: float = 0.0) -> None:
    """Leave one row per execution (an audit entry named `marker`), then take `seconds`."""
    from jobs.models import AuditEvent

    AuditEvent.objects.create(actor_name="side-effect", action="create", object_repr=marker)
    print(f"side effect {marker} in process {os.getpid()}", flush=True)
    time.sleep(seconds)


@task("faults.raise_error")
def raise_error() -> None:
    raise RuntimeError("this task always fails")


@task("faults.child_sleep")
def child_sleep(marker: str) -> None:
    """Start a `sleep` grandchild (through a shell) and wait for it."""
    subprocess.run(["/bin/sh", "-c", f"sleep 300 # {marker}"], check=False)


@task("faults.hold_gil")
def hold_gil() -> None:
    """One C call that never releases the GIL: no other thread of the process runs."""
    import re

    re.match(r"(a+)+$", "a" * 64 + "b")


@task("faults.spin")
def spin(iterations: int = 2_000_000) -> None:
    """CPU-bound work of a fixed size."""
    total = 0
    for i in range(iterations):
        total += i * i

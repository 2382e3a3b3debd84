"""Processes a task starts do not outlive its run.

A task may start processes (subprocess.Popen, os.fork, a daemonising tool) and return, or be
killed with its worker at a timeout or cancel. Two mechanisms end them:

- After every run the worker kills its remaining descendants. The worker is a child subreaper
  (PR_SET_CHILD_SUBREAPER), so a grandchild whose parent exited is re-parented to the worker
  instead of init: double-forked daemons and processes that called setsid() are found too.
- A killed worker cannot clean up after itself, so each worker leads its own process group and
  tells the scheduler its pid; when a worker is gone, the scheduler kills that group
  (`WorkerGroups.end_orphans`). Linux keeps a process group id reserved while any member lives,
  so the signal cannot reach an unrelated process. A process that left the group (setsid) while
  its worker was being killed escapes this second net; containing those needs cgroups.
"""

import contextlib
import ctypes
import os
import signal
import threading
import time
from multiprocessing.queues import SimpleQueue

import psutil

PR_SET_CHILD_SUBREAPER = 36
# A fork bomb could outrun the clean-up for ever; past this many rounds the rest is left.
MAX_ROUNDS = 100


def enter_worker(announce: SimpleQueue | None) -> None:
    """Set the worker process up so that what its tasks start can be found and killed."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if announce is not None:
        announce.put(os.getpid())


def end_descendants() -> int:
    """Kill and reap every descendant of this process; returns how many were ended."""
    ended = 0
    for _round in range(MAX_ROUNDS):
        pids = _children()
        if not pids:
            break
        # Each round kills the current children; their own children are then re-parented to
        # this subreaper and ended in the next round.
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        ended += len(pids)
    return ended


def _children() -> list[int]:
    # /proc/<pid>/task/<tid>/children costs a few reads; psutil scans every process on the host.
    if not os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
        return [child.pid for child in psutil.Process().children()]
    pids: list[int] = []
    for tid in os.listdir("/proc/self/task"):
        # A re-parented orphan is listed under whichever thread of this process adopted it.
        with contextlib.suppress(FileNotFoundError):
            with open(f"/proc/self/task/{tid}/children") as listing:
                pids.extend(int(pid) for pid in listing.read().split())
    return pids


class WorkerGroups:
    """The process groups of the task workers, to kill what a killed worker left behind."""

    def __init__(self, announcements: SimpleQueue) -> None:
        self.announcements = announcements
        self._pids: set[int] = set()
        # Pebble reports completions from more than one thread.
        self._lock = threading.Lock()

    def end_orphans(self) -> None:
        with self._lock:
            while not self.announcements.empty():
                self._pids.add(self.announcements.get())
            for pid in list(self._pids):
                if _running(pid):
                    continue
                self._pids.discard(pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

    def end_orphans_soon(self, seconds: float = 5.0) -> None:
        """Sweep while pebble stops the worker of a cancelled run.

        A cancelled future reports at once, before pebble's own thread has stopped the worker
        (SIGTERM, then SIGKILL after 3 s), so the sweep keeps looking for a while.
        """

        def sweep() -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.1)
                self.end_orphans()

        threading.Thread(target=sweep, name="task-orphan-sweep", daemon=True).start()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

"""Who may schedule: the node row, its heartbeat, the SQLite single-scheduler lock, the lease."""

import fcntl
import json
import os
import socket
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from jobs.models import Run, SchedulerLease, SchedulerNode

LEASE_NAME = "scheduler"


class SchedulerAlreadyRunning(Exception):
    pass


class SqliteLock:
    """An OS lock next to the SQLite file: released by the kernel even when the holder is killed."""

    def __init__(self, database: str) -> None:
        self.path = Path(f"{database}.scheduler.lock")
        self._file = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            handle.close()
            who = (
                f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
                if holder
                else "another process"
            )
            raise SchedulerAlreadyRunning(
                f"Another scheduler ({who}) is already running against the SQLite database "
                f"{settings.DATABASES['default']['NAME']}. Only one scheduler may use an SQLite "
                "database: stop the other one first, or use PostgreSQL to run several."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": timezone.now().isoformat(),
                }
            )
        )
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def single_scheduler_lock() -> SqliteLock | None:
    if connection.vendor != "sqlite":
        return None
    return SqliteLock(str(settings.DATABASES["default"]["NAME"]))


def register_node() -> SchedulerNode:
    return SchedulerNode.objects.create(host=socket.gethostname(), pid=os.getpid())


@transaction.atomic
def take_lease(node: SchedulerNode) -> int:
    """Become the leader; returns the new term. (On SQLite the OS lock already guarantees it.)"""
    lease, _ = SchedulerLease.objects.select_for_update().get_or_create(name=LEASE_NAME)
    lease.holder = node
    lease.term += 1
    lease.renewed_at = timezone.now()
    lease.expires_at = lease.renewed_at + timedelta(
        seconds=settings.CRONADMIN_HEARTBEAT_SECONDS * 5
    )
    lease.save()
    return lease.term


def heartbeat(node: SchedulerNode) -> None:
    now = timezone.now()
    SchedulerNode.objects.filter(pk=node.pk).update(heartbeat_at=now)
    SchedulerLease.objects.filter(name=LEASE_NAME, holder=node).update(
        renewed_at=now,
        expires_at=now + timedelta(seconds=settings.CRONADMIN_HEARTBEAT_SECONDS * 5),
    )


def mark_applied(node: SchedulerNode, version: int) -> None:
    SchedulerNode.objects.filter(pk=node.pk).update(
        applied_change=version, applied_at=timezone.now()
    )


@transaction.atomic
def recover_after_crash(node: SchedulerNode) -> int:
    """Runs left `running` by schedulers that are gone: their outcome is unknown."""
    now = timezone.now()
    count = 0
    stale = Run.objects.filter(state=Run.State.RUNNING).exclude(node=node)
    for node_id in set(stale.values_list("node_id", flat=True)):
        old = SchedulerNode.objects.filter(pk=node_id).first()
        who = f"{old.host}, pid {old.pid}" if old else "an unknown process"
        count += stale.filter(node_id=node_id).update(
            state=Run.State.INTERRUPTED,
            finished_at=now,
            reason=f"The scheduler running it ({who}) stopped before the run finished; "
            "its outcome is unknown.",
        )
    SchedulerNode.objects.filter(stopped_at__isnull=True).exclude(pk=node.pk).update(stopped_at=now)
    return count


def mark_stopped(node: SchedulerNode) -> None:
    SchedulerNode.objects.filter(pk=node.pk).update(stopped_at=timezone.now())
    SchedulerLease.objects.filter(name=LEASE_NAME, holder=node).update(holder=None, expires_at=None)

"""Who may schedule: the node row, its heartbeat, the SQLite single-scheduler lock, the lease."""

import fcntl
import json
import os
import socket
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from jobs.models import Run, SchedulerLease, SchedulerNode
from jobs.run_reasons import reason

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


class LeaseLost(Exception):
    pass


# A leader frozen inside a transaction (SIGSTOP, a VM pause) holds its share lock on the lease row;
# PostgreSQL ends such a transaction after this long, so a standby's takeover is delayed by at most
# this, and the frozen leader's commit fails when it wakes up.
FENCE_IDLE_TIMEOUT_MS = 5000
# A standby does not queue behind a lock on the lease row; it tries again at its next heartbeat.
TAKEOVER_LOCK_TIMEOUT_MS = 2000


def lease_ttl() -> timedelta:
    return timedelta(seconds=settings.CRONADMIN_HEARTBEAT_SECONDS * 5)


def take_lease(node: SchedulerNode, *, force: bool = False) -> int | None:
    """Become the leader if nobody holds a live lease; returns the new term, or None.

    One conditional UPDATE decides, and expiry is judged by the database clock (Now()), so
    schedulers on hosts with skewed clocks still agree. `force` is for SQLite, where the OS lock
    already proves that any previous holder is dead.
    """
    SchedulerLease.objects.get_or_create(name=LEASE_NAME)
    lease = SchedulerLease.objects.filter(name=LEASE_NAME)
    free = (
        Q(holder__isnull=True)
        | Q(holder=node)
        | Q(expires_at__isnull=True)
        | Q(expires_at__lt=Now())
    )
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = {TAKEOVER_LOCK_TIMEOUT_MS}")
            taken = (lease if force else lease.filter(free)).update(
                holder=node, term=F("term") + 1, renewed_at=Now(), expires_at=Now() + lease_ttl()
            )
            if not taken:
                return None
            return lease.values_list("term", flat=True).get()
    except DatabaseError as exc:
        # 55P03: the lease row is locked by a leader's transaction (maybe a frozen one).
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":
            return None
        raise


def fence(node_id: int, term: int) -> None:
    """Inside a transaction: go on only while this node still holds the lease in this term.

    Every ledger write of a leader starts with this. On PostgreSQL the share lock makes a takeover
    wait until the transaction ends, so no write of an old term can commit after a new term began;
    SQLite's immediate transactions serialize writers anyway. Raises LeaseLost otherwise.
    """
    query = "SELECT term FROM jobs_schedulerlease WHERE name = %s AND holder_id = %s AND term = %s"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SET LOCAL idle_in_transaction_session_timeout = {FENCE_IDLE_TIMEOUT_MS}"
            )
            query += " FOR SHARE"
        cursor.execute(query, [LEASE_NAME, node_id, term])
        if cursor.fetchone() is None:
            raise LeaseLost(
                f"another scheduler took over the lease (this one had term {term}); "
                "nothing more is written in that term"
            )


def heartbeat(node: SchedulerNode, term: int) -> None:
    SchedulerNode.objects.filter(pk=node.pk).update(heartbeat_at=timezone.now())
    renewed = SchedulerLease.objects.filter(name=LEASE_NAME, holder=node, term=term).update(
        renewed_at=Now(), expires_at=Now() + lease_ttl()
    )
    if not renewed:
        raise LeaseLost(f"another scheduler took over the lease (this one had term {term})")


def heartbeat_standby(node: SchedulerNode) -> None:
    SchedulerNode.objects.filter(pk=node.pk).update(heartbeat_at=timezone.now())


def mark_applied(node: SchedulerNode, version: int) -> None:
    SchedulerNode.objects.filter(pk=node.pk).update(
        applied_change=version, applied_at=timezone.now()
    )


@transaction.atomic
def recover_after_crash(node: SchedulerNode, term: int) -> int:
    """Runs left `running` by schedulers that are gone: their outcome is unknown."""
    fence(node.pk, term)
    now = timezone.now()
    count = 0
    # Runs on Celery workers go on without a scheduler; the leader's sweep watches over them.
    stale = Run.objects.filter(state=Run.State.RUNNING, dispatch_token="").exclude(node=node)
    for node_id in set(stale.values_list("node_id", flat=True)):
        old = SchedulerNode.objects.filter(pk=node_id).first()
        why = reason("scheduler_lost", host=old.host) if old else reason("scheduler_lost_unknown")
        count += stale.filter(node_id=node_id).update(
            state=Run.State.INTERRUPTED, finished_at=now, **why.fields()
        )
    # Nodes that stopped heartbeating are gone; a standby that still heartbeats is not.
    SchedulerNode.objects.filter(
        stopped_at__isnull=True, heartbeat_at__lt=now - lease_ttl()
    ).exclude(pk=node.pk).update(stopped_at=now)
    return count


def mark_stopped(node: SchedulerNode) -> None:
    SchedulerNode.objects.filter(pk=node.pk).update(stopped_at=timezone.now())
    SchedulerLease.objects.filter(name=LEASE_NAME, holder=node).update(holder=None, expires_at=None)

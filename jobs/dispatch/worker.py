"""One run on a Celery worker: claim the row, run it under a supervisor, write the outcome.

Every write is guarded by the claim (the run's id, its dispatch token and state `running`), so a
repeated message, a redelivery after a connection loss or a deposed leader's late publish finds
nothing to claim, and a worker whose run was declared lost cannot overwrite what the leader wrote.

The run executes in the Celery child process, which leads its own process group and is a child
subreaper (jobs.kinds.task_processes): killing the group ends the run and everything it started.
A supervisor thread heartbeats the row, reads cancel requests and enforces the timeout; Celery's
hard time limit (timeout + grace) stops code that holds the GIL and so starves the supervisor.
"""

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from jobs.log_context import run_context
from jobs.models import RUNS_CHANNEL, Job, Run
from jobs.output import OutputCapture, output_path, read_output, remove_output
from jobs.run_reasons import Reason, exception_reason, reason, requested_cancel

logger = logging.getLogger("jobs.dispatch")

HOST = socket.gethostname()


@dataclass(frozen=True)
class Claim:
    run_id: int
    token: str
    job_id: int
    kind: str
    config: dict[str, Any]
    timeout: int


def execute_run(run_id: int, token: str, *, worker: str) -> None:
    try:
        claim = claim_run(run_id, token, worker=worker)
    except DatabaseError as exc:
        # Without the ledger nothing may run; the message goes back for later, not lost.
        from celery.exceptions import Reject

        logger.error("run %s: cannot claim it, the database fails: %s", run_id, exc)
        connection.close()
        time.sleep(1.0)
        raise Reject(str(exc), requeue=True) from exc
    if claim is None:
        logger.info("run %s: nothing to claim with this message (already taken or ended)", run_id)
        return
    with run_context(claim.job_id, run_id):
        supervisor = Supervisor(claim)
        supervisor.start()
        try:
            outcome = _execute(claim, supervisor.cancel)
        except Exception as exc:  # noqa: BLE001 - the machinery failed: recorded, not raised
            outcome = {"state": Run.State.FAILED, "reason": exception_reason(exc)}
        finally:
            supervisor.stop()
        if supervisor.abandoned:
            return
        if supervisor.stop_state:
            outcome["state"], outcome["reason"] = supervisor.stop_state, supervisor.stop_reason
        finish_run(claim, **outcome)


def claim_run(run_id: int, token: str, *, worker: str) -> Claim | None:
    """The first statement of every message: only a queued row with this token is taken."""
    close_old_connections()
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, dispatch_token=token, state=Run.State.QUEUED).update(
        state=Run.State.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=worker,
        host=HOST,
        pid=os.getpid(),
    )
    if not claimed:
        return None
    job = Job.objects.only("kind", "config", "timeout_seconds").get(runs__pk=run_id)
    return Claim(run_id, token, job.pk, job.kind, job.config, job.effective_timeout())


def finish_run(claim: Claim, *, state: str, reason: Reason | None = None, **fields: Any) -> bool:
    """Write the outcome if the claim still holds; wakes the leader at once on PostgreSQL."""
    path = output_path(claim.run_id)
    output, dropped = "", 0
    with contextlib.suppress(OSError):
        if path.exists():
            output, dropped = read_output(path)
            remove_output(path)
    values = {
        "state": state,
        "finished_at": timezone.now(),
        "output": output,
        "output_dropped_bytes": dropped,
        **{k: v for k, v in fields.items() if k in ("error", "exit_code")},
    }
    if reason is not None:
        values.update(reason.fields())
    with transaction.atomic():
        written = _guarded(claim.run_id, claim.token).update(**values)
        if written and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [RUNS_CHANNEL, str(claim.run_id)])
    if not written:
        logger.warning(
            "run %s: its claim was taken away; the outcome %s is dropped", claim.run_id, state
        )
    return bool(written)


def _guarded(run_id: int, token: str) -> Any:
    return Run.objects.filter(pk=run_id, dispatch_token=token, state=Run.State.RUNNING)


def _execute(claim: Claim, cancel: threading.Event) -> dict[str, Any]:
    # The same code the scheduler's own pools run: where a run executes is not what it runs.
    if claim.kind == Job.Kind.TASK:
        from jobs.kinds import task as task_kind

        result = task_kind.run_in_worker(
            claim.config["task"], claim.config.get("params") or {}, claim.run_id, claim.job_id
        )
        return {k: result[k] for k in ("state", "reason", "error") if k in result}
    if claim.kind == Job.Kind.SHELL:
        from jobs.kinds import shell

        capture = OutputCapture(
            output_path(claim.run_id),
            settings.CRONADMIN_OUTPUT_HEAD_BYTES,
            settings.CRONADMIN_OUTPUT_TAIL_BYTES,
        )
        try:
            result = shell.execute(
                claim.config,
                deadline_seconds=claim.timeout,
                output=capture,
                cancel=cancel,
                env_extra={
                    "CRONADMIN_RUN_ID": str(claim.run_id),
                    "CRONADMIN_JOB_ID": str(claim.job_id),
                },
            )
        finally:
            capture.close()
        return {
            "state": result.state,
            "reason": result.reason,
            "error": result.error,
            "exit_code": result.exit_code,
        }
    return {"state": Run.State.FAILED, "reason": reason("not_on_worker", kind=claim.kind)}


class Supervisor:
    """Heartbeats the row, reads cancel requests, and stops the run at its deadline.

    Stopping a task run kills the process group this child leads (the child itself included:
    Celery replaces it); a shell run is stopped through its cancel event, which kills the shell's
    own group. A supervisor that cannot heartbeat stops its run before the leader declares the
    worker lost, so a cut-off worker never overlaps the run's retry.
    """

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.cancel = threading.Event()
        self._done = threading.Event()
        self.stop_state = ""
        self.stop_reason: Reason | None = None
        # Set when the row is no longer this worker's to write (declared lost, unreachable).
        self.abandoned = False
        self._thread = threading.Thread(target=self._watch, name="run-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        period = settings.CRONADMIN_CELERY_HEARTBEAT_SECONDS
        # Half the leader's bound: this run is dead before the leader retries it elsewhere.
        give_up = settings.CRONADMIN_CELERY_WORKER_LOST_SECONDS / 2
        deadline = time.monotonic() + self.claim.timeout
        # The claim wrote the first heartbeat: a short run never needs a connection of its own.
        last_ok = time.monotonic()
        next_beat = last_ok + period
        try:
            while not self._done.wait(min(0.1, period)):
                now = time.monotonic()
                if now >= deadline:
                    why = reason("worker_timed_out", seconds=self.claim.timeout)
                    self._stop(Run.State.TIMED_OUT, why)
                    return
                if now < next_beat:
                    continue
                next_beat = now + period
                try:
                    row = self._beat()
                except DatabaseError:
                    connection.close()
                    if now - last_ok > give_up:
                        logger.error(
                            "run %s: no heartbeat for %.0f s, stopping it",
                            self.claim.run_id,
                            now - last_ok,
                        )
                        self._abandon()
                        return
                    continue
                last_ok = now
                if row is None:
                    # The leader declared this run lost, or it was ended some other way.
                    self._abandon()
                    return
                if row[0] is not None:
                    self._stop(Run.State.CANCELLED, requested_cancel(*row[1:]))
                    return
        finally:
            connection.close()

    def _beat(self) -> tuple[datetime | None, str, dict | None, str] | None:
        now = timezone.now()
        if not _guarded(self.claim.run_id, self.claim.token).update(heartbeat_at=now):
            return None
        return (
            Run.objects.filter(pk=self.claim.run_id)
            .values_list("cancel_requested_at", "reason_code", "reason_params", "reason")
            .first()
        )

    def _stop(self, state: str, why: Reason) -> None:
        self.stop_state, self.stop_reason = state, why
        if self.claim.kind == Job.Kind.SHELL:
            # shell.execute kills the command's group and returns; the main thread writes.
            self.cancel.set()
            return
        # A task cannot be interrupted: write the outcome here, then end the whole group.
        self.abandoned = True
        if finish_run(self.claim, state=state, reason=why):
            _kill_own_group()

    def _abandon(self) -> None:
        self.abandoned = True
        if self.claim.kind == Job.Kind.SHELL:
            self.cancel.set()
        else:
            _kill_own_group()


def _kill_own_group() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def record_lost_child(args: Any, token: str, exc: BaseException) -> None:
    """In the worker's main process: a child died or hit the hard limit while running a run."""
    from billiard.exceptions import WorkerLostError
    from celery.exceptions import TimeLimitExceeded

    try:
        run_id = int(args[0])
    except (TypeError, ValueError, IndexError):
        return
    if isinstance(exc, TimeLimitExceeded):
        state = Run.State.TIMED_OUT
        why = reason("hard_limit", limit=f"{exc.args[0] if exc.args else '?'}")
    elif isinstance(exc, WorkerLostError):
        state, why = Run.State.FAILED, reason("child_died", error=str(exc)[:200])
    else:
        return
    close_old_connections()
    row = _guarded(run_id, token).values_list("pid", "host", "job_id").first()
    if row is None:
        return  # The run wrote its own outcome (its supervisor stopped it), or never started.
    pid, host, job_id = row
    if pid and host == HOST:
        # The child led its own group: what it started must not outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    claim = Claim(run_id, token, job_id, "", {}, 0)
    finish_run(claim, state=state, reason=why)


def lost_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.CRONADMIN_CELERY_WORKER_LOST_SECONDS)

"""Where runs execute: a process pool for tasks, threads for http and shell runs.

A run that must stop (timeout, cancel, replace, shutdown) is stopped for real: the task's worker
process is killed and replaced, with the processes its task started; http and shell runs watch
their cancel event and deadline.
"""

import logging
import multiprocessing
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from pebble import ProcessExpired, ProcessPool

from jobs import kinds, vault
from jobs.kinds import task as task_kind
from jobs.kinds.task_processes import WorkerGroups
from jobs.log_context import run_context
from jobs.models import Job, Run
from jobs.output import output_path, read_output, remove_output
from jobs.run_reasons import Reason, exception_reason, reason

logger = logging.getLogger("jobs.scheduler")


@dataclass
class Completion:
    run_id: int
    job_id: int
    state: str
    # None keeps the reason the row already has (a catch-up or retry note).
    reason: Reason | None = None
    error: str = ""
    exit_code: int | None = None
    http_status: int | None = None
    output: str = ""
    dropped: int = 0
    pid: int | None = None
    # When the worker really began (a run handed over in advance waits for its worker first).
    started_at: datetime | None = None
    finished_at: datetime = field(default_factory=timezone.now)
    # Ended on a Celery worker, which wrote the row itself (jobs.dispatch).
    remote: bool = False


@dataclass
class ActiveRun:
    run_id: int
    job_id: int
    kind: str
    attempt: int
    first_run_id: int
    scheduled_for: datetime
    timeout: int
    future: Future[Any] | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    cancel_reason: Reason | None = None
    cancel_state: str = Run.State.CANCELLED
    # The job's secrets as they might appear in what the run prints or raises (jobs.vault).
    redacted: list[str] = field(default_factory=list)
    # When the engine handed the run over: its start when the worker does not report one.
    started_at: datetime = field(default_factory=timezone.now)
    # "process" or "thread" (the pools here), or "celery": on a worker (jobs.dispatch).
    pool: str = ""

    def cancel(self, why: Reason, state: str = Run.State.CANCELLED) -> None:
        if self.cancel_event.is_set():
            return
        self.cancel_reason = why
        self.cancel_state = state
        self.cancel_event.set()
        if self.kind == Job.Kind.TASK and self.future is not None:
            # Pebble kills the worker process of a running future that is cancelled.
            self.future.cancel()


class WorkerPools:
    def __init__(self, on_complete: Callable[[Completion], None]) -> None:
        self.on_complete = on_complete
        self.process_slots = settings.CRONADMIN_TASK_WORKERS
        self.thread_slots = settings.CRONADMIN_THREAD_WORKERS
        # spawn, not fork: forking a threaded process can copy held locks and open DB sockets.
        spawn = multiprocessing.get_context("spawn")
        # Workers announce their pids here, so that a killed worker's leftovers can be ended.
        self.worker_groups = WorkerGroups(spawn.SimpleQueue())
        self.processes = ProcessPool(
            max_workers=self.process_slots,
            initializer=task_kind.worker_init,
            initargs=(self.worker_groups.announcements,),
            context=spawn,
        )
        self.threads = ThreadPoolExecutor(
            max_workers=self.thread_slots, thread_name_prefix="cronadmin-run"
        )

    def pool_of(self, kind: str) -> str:
        return "process" if kind == Job.Kind.TASK else "thread"

    def capacity(self, pool: str) -> int:
        return self.process_slots if pool == "process" else self.thread_slots

    def start(self, active: ActiveRun, config: dict[str, Any]) -> None:
        try:
            active.redacted = vault.redaction_targets(kinds.secret_values(active.kind, config))
        except vault.VaultError:
            # The run itself fails on it with the reason; with no clear value there is none to hide.
            active.redacted = []
        vault.watched.add(active.redacted)
        with run_context(active.job_id, active.run_id):
            logger.debug(
                "run %s of job %s starting (%s)", active.run_id, active.job_id, active.kind
            )
        if active.kind == Job.Kind.TASK:
            future = self.processes.schedule(
                task_kind.run_in_worker,
                args=(config["task"], config.get("params") or {}, active.run_id, active.job_id),
                timeout=active.timeout,
            )
            active.future = future
            future.add_done_callback(lambda f: self._task_done(active, f))
        else:
            active.future = self.threads.submit(self._run_in_thread, active, config)
            active.future.add_done_callback(lambda f: self._thread_done(active, f))

    def _task_done(self, active: ActiveRun, future: Future[Any]) -> None:
        with run_context(active.job_id, active.run_id):
            self._task_result(active, future)

    def _task_result(self, active: ActiveRun, future: Future[Any]) -> None:
        printed = True
        try:
            result = future.result()
            completion = Completion(
                run_id=active.run_id,
                job_id=active.job_id,
                state=result["state"],
                reason=result.get("reason"),
                error=result.get("error", ""),
                pid=result.get("pid"),
                started_at=datetime.fromtimestamp(result["started"], UTC),
            )
            # Most runs print nothing: the worker says so, which saves a look at the disk.
            printed = result.get("output", True)
        except FutureTimeout:
            self.worker_groups.end_orphans()
            completion = Completion(
                active.run_id,
                active.job_id,
                Run.State.TIMED_OUT,
                reason=reason("timed_out_killed", seconds=active.timeout),
            )
        except CancelledError:
            self.worker_groups.end_orphans_soon()
            completion = Completion(
                active.run_id, active.job_id, active.cancel_state, reason=active.cancel_reason
            )
        except ProcessExpired as exc:
            self.worker_groups.end_orphans()
            completion = Completion(
                active.run_id,
                active.job_id,
                Run.State.FAILED,
                reason=reason("worker_died", exit_code=exc.exitcode),
                exit_code=exc.exitcode,
            )
        except Exception as exc:
            completion = _crashed(active, exc)
        if printed:
            self._finish(active, completion)
        else:
            self._deliver(active, completion)

    def _run_in_thread(self, active: ActiveRun, config: dict[str, Any]) -> Completion:
        with run_context(active.job_id, active.run_id):
            return self._execute_in_thread(active, config)

    def _execute_in_thread(self, active: ActiveRun, config: dict[str, Any]) -> Completion:
        from jobs.kinds import http, shell
        from jobs.output import OutputCapture

        capture = OutputCapture(
            output_path(active.run_id),
            settings.CRONADMIN_OUTPUT_HEAD_BYTES,
            settings.CRONADMIN_OUTPUT_TAIL_BYTES,
            redact=active.redacted,
        )
        try:
            if active.kind == Job.Kind.HTTP:
                # The same key for every attempt of a run lets the receiver drop duplicates.
                result = http.execute(
                    config,
                    deadline_seconds=active.timeout,
                    idempotency_key=f"cronadmin-run-{active.first_run_id}",
                    output=capture,
                    cancel=active.cancel_event,
                )
            else:
                result = shell.execute(
                    config,
                    deadline_seconds=active.timeout,
                    output=capture,
                    cancel=active.cancel_event,
                    env_extra={
                        "CRONADMIN_RUN_ID": str(active.run_id),
                        "CRONADMIN_JOB_ID": str(active.job_id),
                    },
                )
        finally:
            capture.close()
            close_old_connections()
        state, why = result.state, result.reason
        if state == Run.State.CANCELLED and active.cancel_reason:
            state, why = active.cancel_state, active.cancel_reason
        return Completion(
            active.run_id,
            active.job_id,
            state,
            reason=why,
            error=result.error,
            exit_code=result.exit_code,
            http_status=result.http_status,
        )

    def _thread_done(self, active: ActiveRun, future: Future[Completion]) -> None:
        with run_context(active.job_id, active.run_id):
            try:
                completion = future.result()
            except Exception as exc:
                completion = _crashed(active, exc)
            self._finish(active, completion)

    def _finish(self, active: ActiveRun, completion: Completion) -> None:
        path = output_path(active.run_id)
        try:
            if path.exists():
                completion.output, completion.dropped = read_output(path)
                remove_output(path)
        except OSError:
            logger.warning("run %s: could not read its output", active.run_id, exc_info=True)
        completion.finished_at = timezone.now()
        self._deliver(active, completion)

    def _deliver(self, active: ActiveRun, completion: Completion) -> None:
        # Masked here, before the ledger row is written: a server may echo a token back, and a
        # traceback may quote a header.
        if active.redacted:
            completion.output = vault.redact(completion.output, active.redacted)
            completion.error = vault.redact(completion.error, active.redacted)
            if completion.reason is not None:
                completion.reason = completion.reason.redacted(
                    lambda text: vault.redact(text, active.redacted)
                )
            vault.watched.remove(active.redacted)
        self._report(completion)

    def _report(self, completion: Completion) -> None:
        logger.debug(
            "run %s of job %s finished: %s", completion.run_id, completion.job_id, completion.state
        )
        self.on_complete(completion)

    def shutdown(self) -> None:
        self.processes.stop()
        self.processes.join(timeout=5)
        self.worker_groups.end_orphans()
        self.threads.shutdown(wait=False, cancel_futures=True)


def _crashed(active: ActiveRun, exc: Exception) -> Completion:
    """A run whose machinery (not its own code) raised: failed, with the traceback."""
    return Completion(
        active.run_id,
        active.job_id,
        Run.State.FAILED,
        reason=exception_reason(exc),
        error=traceback.format_exc(),
    )

"""The scheduler process: APScheduler wiring, keeping it in sync with the models, shutdown.

Threads: APScheduler's own (computes fire times, hands slots to the engine), the engine (ledger
and running work), and sync (change marker, reconcile, heartbeat). The main thread waits for a
signal or for any thread to die; a dead thread stops the process loudly instead of leaving a
half-working scheduler behind.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from jobs import services
from jobs.models import ChangeMarker
from jobs.notifications.notifier import Notifier
from jobs.run_reasons import reason
from jobs.scheduler import catchup
from jobs.scheduler import node as nodes
from jobs.scheduler.engine import Engine
from jobs.scheduler.listen import ChangeListener
from jobs.scheduler.specs import JobSpec, load_specs
from jobs.schedules import ScheduleTrigger

logger = logging.getLogger("jobs.scheduler")


class LedgerExecutor(BaseExecutor):
    """Hands fired slots to the engine instead of running anything in APScheduler's thread."""

    def __init__(self, sink: Callable[[int, list[datetime]], None]) -> None:
        super().__init__()
        self._sink = sink

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._sink(int(job.id), run_times)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._sink(int(job.id), run_times)


def _never_called() -> None:
    raise AssertionError("the ledger executor never calls job functions")


class SchedulerProcess:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.failed = threading.Event()
        self.signal_name = ""
        self.engine: Engine | None = None
        self.aps: BackgroundScheduler | None = None
        self.node = None
        self.term = 0
        self.sqlite_locked = False
        # Monotonic time of the first failed database call of an incident; the monitor reads it.
        self.db_failing_since: float | None = None
        # Set by the LISTEN thread on PostgreSQL: a job changed, look now instead of at next poll.
        self.changed = threading.Event()

    # --- start -------------------------------------------------------------------------------

    def run(self) -> int:
        lock = nodes.single_scheduler_lock()
        if lock:
            lock.acquire()
        self.sqlite_locked = lock is not None
        try:
            return self._run()
        finally:
            if lock:
                lock.release()

    def _run(self) -> int:
        self.node = nodes.register_node()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        term = self._wait_for_lease(force=self.sqlite_locked)
        if term is None:
            nodes.mark_stopped(self.node)
            return 0
        interrupted = nodes.recover_after_crash(self.node, term)
        if interrupted:
            logger.warning(
                "%d run(s) were left running by a stopped scheduler: interrupted", interrupted
            )
        logger.info("scheduler %s started (term %d)", self.node, term)

        self.term = term
        self.engine = Engine(
            node_id=self.node.pk, term=term, host=self.node.host, pid=self.node.pid
        )
        marker = ChangeMarker.objects.get_or_create(id=1)[0].version
        specs = load_specs()
        self.engine.set_specs(specs)
        # One instant splits the past (catch-up) from the future (APScheduler): no slot is in both.
        split = timezone.now()
        overdue = catchup.overdue_slots(specs, catchup.last_recorded_slots(), split)
        if overdue:
            logger.info("recording %d slot(s) that fell due while no scheduler ran", len(overdue))
            self.engine.add_slots(overdue)

        self.aps = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": LedgerExecutor(self.engine.fire)},
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
            timezone=UTC,
        )
        for spec in specs.values():
            self._schedule(spec, after=split)
        self.aps.start()
        nodes.mark_applied(self.node, marker)

        threads = [
            threading.Thread(target=self._guard(self.engine.run, self.stop), name="engine"),
            threading.Thread(target=self._guard(self._sync_loop, marker), name="sync"),
        ]
        if connection.vendor == "postgresql" and settings.CRONADMIN_PG_LISTEN:
            # Not among the watched threads: scheduling goes on by polling if LISTEN cannot work.
            run_ended = self.engine.remote_run_ended if self.engine.dispatcher else None
            listener = ChangeListener(self.changed, self.stop, run_ended)
            threading.Thread(target=listener.run, name="listen", daemon=True).start()
        for thread in threads:
            thread.start()
        # Not among `threads`: a notifier that dies must not stop scheduling.
        notifier = Notifier().start()
        while not self.stop.wait(0.5):
            if self.engine.lease_lost is not None:
                self.failed.set()
                self.stop.set()
            elif not self.aps.running or not all(t.is_alive() for t in threads):
                logger.critical("a scheduler thread stopped unexpectedly; stopping the scheduler")
                self.failed.set()
                self.stop.set()
        try:
            return self._shutdown(threads)
        finally:
            notifier.stop()

    def _wait_for_lease(self, *, force: bool) -> int | None:
        """Lead, or stand by until the leader's lease runs out (or a signal says stop)."""
        assert self.node is not None
        announced = False
        while not self.stop.is_set():
            nodes.heartbeat_standby(self.node)
            term = nodes.take_lease(self.node, force=force)
            if term is not None:
                return term
            if not announced:
                logger.info("another scheduler leads; standing by until its lease runs out")
                announced = True
            self.stop.wait(settings.CRONADMIN_HEARTBEAT_SECONDS)
        return None

    def _guard(self, target: Callable[..., None], *args: Any) -> Callable[[], None]:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException:
                logger.critical(
                    "the %s thread died; stopping the scheduler",
                    threading.current_thread().name,
                    exc_info=True,
                )
                self.failed.set()
                self.stop.set()
            finally:
                connection.close()

        return guarded

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        self.stop.set()

    # --- keeping APScheduler in step with the models -----------------------------------------

    def _schedule(self, spec: JobSpec, after: datetime | None = None) -> None:
        assert self.aps is not None
        schedule = spec.schedule()
        if schedule is None:
            logger.error(
                "job %s (%s): its schedule %r does not parse; it will not fire",
                spec.id,
                spec.name,
                spec.schedule_text,
            )
            self._unschedule(spec.id)
            return
        trigger = ScheduleTrigger(schedule, start_at=spec.start_at, end_at=spec.end_at)
        options: dict[str, Any] = {}
        if after is not None:
            first = trigger.get_next_fire_time(after, after)
            if first is None:
                self._unschedule(spec.id)
                return
            options["next_run_time"] = first
        self.aps.add_job(
            _never_called,
            trigger=trigger,
            id=str(spec.id),
            name=spec.name,
            replace_existing=True,
            **options,
        )

    def _unschedule(self, job_id: int) -> None:
        assert self.aps is not None
        if self.aps.get_job(str(job_id)) is not None:
            self.aps.remove_job(str(job_id))

    def reconcile(self) -> None:
        assert self.engine is not None
        old = self.engine.specs
        specs = load_specs()
        self.engine.set_specs(specs)
        for job_id in old.keys() - specs.keys():
            self._unschedule(job_id)
        for job_id, spec in specs.items():
            previous = old.get(job_id)
            if previous is None or previous.timing_key() != spec.timing_key():
                self._schedule(spec)

    def _sync_loop(self, applied: int) -> None:
        poll = settings.CRONADMIN_POLL_SECONDS
        next_reconcile = time.monotonic() + settings.CRONADMIN_RECONCILE_SECONDS
        next_heartbeat = 0.0
        next_request_poll = 0.0
        assert self.engine is not None and self.node is not None and self.aps is not None
        while not self.stop.is_set():
            self.changed.wait(poll)
            self.changed.clear()
            if self.stop.is_set():
                break
            try:
                now = time.monotonic()
                marker = ChangeMarker.objects.values_list("version", flat=True).get(id=1)
                if marker != applied or now >= next_reconcile:
                    self.reconcile()
                    self.engine.request_poll()
                    next_request_poll = now + 2.0
                    next_reconcile = now + settings.CRONADMIN_RECONCILE_SECONDS
                    if marker != applied:
                        nodes.mark_applied(self.node, marker)
                        applied = marker
                elif now >= next_request_poll:
                    # Run requests bump the marker, but a missed bump must not strand them.
                    self.engine.request_poll()
                    next_request_poll = now + 2.0
                if now >= next_heartbeat:
                    nodes.heartbeat(self.node, self.term)
                    services.jobs_resume_due()
                    # APScheduler sleeps (in monotonic time) until its next fire time as the wall
                    # clock gave it; after the clock is stepped, a nudge makes it look again
                    # instead of sleeping on for as long as the step (see docs/scheduler.md).
                    self.aps.wakeup()
                    next_heartbeat = now + settings.CRONADMIN_HEARTBEAT_SECONDS
                self._db_ok()
            except nodes.LeaseLost as exc:
                # Fencing: a scheduler that lost its lease must not act on anything any more.
                logger.critical("%s; stopping", exc)
                self.failed.set()
                self.stop.set()
            except DatabaseError as exc:
                self._db_error(exc)

    def _db_error(self, exc: DatabaseError) -> None:
        if self.db_failing_since is None:
            self.db_failing_since = time.monotonic()
            logger.error("database unavailable to the scheduler, retrying: %s", exc)
        connection.close()
        self.stop.wait(min(5.0, 0.5 + time.monotonic() - self.db_failing_since))

    def _db_ok(self) -> None:
        if self.db_failing_since is not None:
            logger.warning(
                "database reachable again after %.1f s", time.monotonic() - self.db_failing_since
            )
            self.db_failing_since = None

    # --- stop --------------------------------------------------------------------------------

    def _shutdown(self, threads: list[threading.Thread]) -> int:
        assert self.engine is not None and self.aps is not None and self.node is not None
        if self.signal_name:
            why = f"received {self.signal_name}"
        elif self.engine.lease_lost is not None:
            why = "another scheduler took over the lease"
        else:
            why = "a thread failed"
        logger.info("scheduler stopping (%s): no new runs start", why)
        self.aps.shutdown(wait=False)
        for thread in threads:
            thread.join(timeout=30)
        grace = settings.CRONADMIN_SHUTDOWN_GRACE_SECONDS
        running = self.engine.running_count()
        if running:
            logger.info("waiting up to %.0f s for %d running run(s)", grace, running)
        seconds = f"{grace:.0f}"
        if self.signal_name:
            stop = reason("stopped_signal", signal=self.signal_name, grace=seconds)
        elif self.engine.lease_lost is not None:
            stop = reason("stopped_takeover", grace=seconds)
        else:
            stop = reason("stopped_failure", grace=seconds)
        self.engine.drain(grace, stop)
        try:
            nodes.mark_stopped(self.node)
        except DatabaseError:
            logger.warning("could not mark this scheduler as stopped in the database")
        logger.info("scheduler stopped")
        return 1 if self.failed.is_set() else 0

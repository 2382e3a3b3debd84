"""The leader's side of runs on Celery workers: dispatch, publish, and watch over them.

A run to start on a worker is written `queued` with a dispatch token in the engine's fenced
transaction; the message (its id is the token) is published only after the commit, by a thread of
its own so that a slow or absent broker never holds up the ledger. A run committed but not
published (broker down, leader died in between) is published again by whichever scheduler leads,
with the same token: the worker's claim makes every repeat harmless.

The leader also turns runs whose supervisor stopped heartbeating into `interrupted` (retried like a
failure), fails runs of queues that no worker has consumed for a while, and reads the outcomes that
workers wrote, so retries, overlap, chains and notifications work as for local runs.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from jobs.models import Run
from jobs.run_reasons import Reason, reason
from jobs.scheduler.workers import Completion

logger = logging.getLogger("jobs.dispatch")

# How often the leader reads the outcomes of runs on workers when no NOTIFY woke it, and how
# often it looks for lost workers, unserved queues and unpublished runs.
FINISHED_SECONDS = 0.5
SWEEP_SECONDS = 1.0
CONSUMER_CHECK_SECONDS = 1.0
# Large: the broker's queues hold the backlog; overlap policies still count these runs.
CAPACITY = 1_000_000


@dataclass(frozen=True)
class Dispatch:
    run_id: int
    token: str
    queue: str
    time_limit: float


def time_limit(timeout: int) -> float:
    return timeout + settings.CRONADMIN_CELERY_HARD_LIMIT_GRACE_SECONDS


class Dispatcher:
    def __init__(self) -> None:
        self.publisher = Publisher()
        self.wake = threading.Event()
        self._next_sweep = 0.0
        self._next_finished = 0.0

    # --- inside the engine's fenced transaction -------------------------------------------

    def mark_dispatched(self, run_ids: list[int], batch: int) -> dict[int, str]:
        """Give each still-queued run a token and take it off the local queue; run id → token."""
        prefix = f"{batch:x}-"
        tokens: dict[int, str] = {}
        with connection.cursor() as cursor:
            for chunk in range(0, len(run_ids), 500):
                ids = run_ids[chunk : chunk + 500]
                # One statement per chunk: the token is unique per run (batch prefix + id).
                cursor.execute(
                    "UPDATE jobs_run SET dispatch_token = %s || CAST(id AS TEXT), "
                    "published_at = NULL "
                    f"WHERE state = 'queued' AND id IN ({', '.join(['%s'] * len(ids))}) "
                    "RETURNING id, dispatch_token",
                    [prefix, *ids],
                )
                tokens.update(cursor.fetchall())
        return tokens

    def finished_due(self) -> bool:
        """Whether to read the outcomes of runs on workers now (a NOTIFY came, or it is time)."""
        if self.wake.is_set() or time.monotonic() >= self._next_finished:
            self.wake.clear()
            self._next_finished = time.monotonic() + FINISHED_SECONDS
            return True
        return False

    def sweep_due(self) -> bool:
        return time.monotonic() >= self._next_sweep

    def sweep(self, known: set[int]) -> list[tuple[int, int, str]]:
        """Lost workers, queues without a worker, unpublished runs; returns runs to adopt.

        `known` are the runs on workers this engine already tracks; the others found in flight
        (left by a previous leader) are returned as (run id, job id, state) to be tracked too.
        """
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        now = timezone.now()
        in_flight = Run.objects.filter(
            ~Q(dispatch_token=""), state__in=(Run.State.QUEUED, Run.State.RUNNING)
        )
        self._interrupt_lost(in_flight, now)
        self._fail_unserved(in_flight, now)
        self._republish(in_flight)
        waiting = in_flight.filter(state=Run.State.QUEUED).values_list("queue", flat=True)
        self.publisher.watch(set(waiting.distinct()))
        return [
            row for row in in_flight.values_list("id", "job_id", "state") if row[0] not in known
        ]

    def _interrupt_lost(self, in_flight, now: datetime) -> None:
        bound = now - timedelta(seconds=settings.CRONADMIN_CELERY_WORKER_LOST_SECONDS)
        lost = in_flight.filter(state=Run.State.RUNNING, heartbeat_at__lt=bound)
        for run_id, worker, host, pid, beat in lost.values_list(
            "id", "worker", "host", "pid", "heartbeat_at"
        ):
            why = reason(
                "worker_lost",
                where=f"{worker or host}/{pid}",
                heartbeat=f"{beat:%Y-%m-%d %H:%M:%S}",
            )
            Run.objects.filter(pk=run_id, state=Run.State.RUNNING, heartbeat_at=beat).update(
                state=Run.State.INTERRUPTED, finished_at=now, **why.fields()
            )
            logger.warning("run %s: %s", run_id, why.english)

    def _fail_unserved(self, in_flight, now: datetime) -> None:
        bound = settings.CRONADMIN_CELERY_NO_WORKER_SECONDS
        for name in self.publisher.unserved(bound):
            waited = now - timedelta(seconds=bound)
            count = in_flight.filter(
                state=Run.State.QUEUED, queue=name, published_at__lt=waited
            ).update(
                state=Run.State.FAILED,
                finished_at=now,
                **reason("no_worker", queue=name).fields(),
            )
            if count:
                logger.error("%d run(s) failed: no worker is serving queue %s", count, name)

    def _republish(self, in_flight) -> None:
        rows = in_flight.filter(state=Run.State.QUEUED, published_at__isnull=True)
        default = settings.CRONADMIN_DEFAULT_TIMEOUT_SECONDS
        items = [
            Dispatch(run_id, token, name, time_limit(timeout or default))
            for run_id, token, name, timeout in rows.values_list(
                "id", "dispatch_token", "queue", "job__timeout_seconds"
            )
            if run_id not in self.publisher.in_flight
        ]
        self.publisher.hand_over(items)

    # --- outside the transaction ----------------------------------------------------------

    def finished(self, run_ids: list[int]) -> list[Completion]:
        """The runs among `run_ids` that a worker (or the sweep) has ended, as completions."""
        if not run_ids:
            return []
        rows = (
            Run.objects.filter(id__in=run_ids)
            .exclude(state__in=Run.ACTIVE_STATES)
            .values_list(
                "id",
                "job_id",
                "state",
                "error",
                "exit_code",
                "pid",
                "started_at",
                "finished_at",
            )
        )
        return [
            Completion(
                run_id,
                job_id,
                state,
                # The worker wrote the reason on the row itself; None keeps it there.
                error=error,
                exit_code=exit_code,
                pid=pid,
                started_at=started,
                finished_at=finished or timezone.now(),
                remote=True,
            )
            for run_id, job_id, state, error, exit_code, pid, started, finished in rows
        ]

    def cancel(self, run_id: int, why: Reason) -> None:
        """Stop a run on a worker (overlap `replace`): never started ones simply end."""
        now = timezone.now()
        Run.objects.filter(pk=run_id, state=Run.State.QUEUED).update(
            state=Run.State.CANCELLED, finished_at=now, cancel_requested_at=now, **why.fields()
        )
        Run.objects.filter(
            pk=run_id, state=Run.State.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now, **why.fields())

    def shutdown(self) -> None:
        self.publisher.stop()


class Publisher:
    """Publishes run messages and watches queue consumers, in a thread of its own."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[list[Dispatch]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.in_flight: set[int] = set()
        self._watched: set[str] = set()
        self._no_worker_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="celery-publish", daemon=True)
        self._thread.start()

    def hand_over(self, items: list[Dispatch]) -> None:
        if not items:
            return
        with self._lock:
            self.in_flight.update(d.run_id for d in items)
        self._items.put(items)

    def watch(self, queues: set[str]) -> None:
        with self._lock:
            self._watched = queues

    def unserved(self, seconds: float) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [q for q, since in self._no_worker_since.items() if now - since >= seconds]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            try:
                items = self._items.get(timeout=0.2)
            except queue.Empty:
                items = []
            while True:
                try:
                    items += self._items.get_nowait()
                except queue.Empty:
                    break
            if items:
                self._publish(items)
            if time.monotonic() >= next_check:
                self._check_consumers()
                next_check = time.monotonic() + CONSUMER_CHECK_SECONDS
        connection.close()

    def _publish(self, items: list[Dispatch]) -> None:
        from cronadmin.celery import RUN_TASK, app

        published: list[int] = []
        try:
            with app.producer_or_acquire() as producer:
                for item in items:
                    app.send_task(
                        RUN_TASK,
                        args=(item.run_id, item.token),
                        task_id=item.token,
                        queue=item.queue,
                        time_limit=item.time_limit,
                        producer=producer,
                        retry=False,
                    )
                    published.append(item.run_id)
            if self._failing:
                logger.warning("the Celery broker takes messages again")
                self._failing = False
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; all mean "later"
            if not self._failing:
                logger.error("cannot publish to the Celery broker, will retry: %s", exc)
                self._failing = True
        finally:
            self._mark_published(published)
            with self._lock:
                self.in_flight.difference_update(d.run_id for d in items)

    def _mark_published(self, run_ids: list[int]) -> None:
        if not run_ids:
            return
        for attempt in range(3):
            try:
                close_old_connections()
                for chunk in range(0, len(run_ids), 500):
                    Run.objects.filter(
                        id__in=run_ids[chunk : chunk + 500], published_at__isnull=True
                    ).update(published_at=timezone.now())
                return
            except DatabaseError:
                # Not fatal: the run is republished with the same token and claimed once.
                connection.close()
                time.sleep(0.2 * (attempt + 1))

    def _check_consumers(self) -> None:
        from cronadmin.celery import app

        with self._lock:
            watched = set(self._watched)
        if not watched:
            with self._lock:
                self._no_worker_since.clear()
            return
        counts: dict[str, int] = {}
        try:
            with app.connection_for_write() as conn:
                for name in watched:
                    counts[name] = consumer_count(conn, name)
        except Exception:  # noqa: BLE001 - broker unreachable: nothing is known, nothing fails
            return
        now = time.monotonic()
        with self._lock:
            for name in list(self._no_worker_since):
                if name not in watched:
                    del self._no_worker_since[name]
            for name, count in counts.items():
                if count:
                    self._no_worker_since.pop(name, None)
                else:
                    self._no_worker_since.setdefault(name, now)


def consumer_count(conn: object, name: str) -> int:
    """How many consumers a queue has; 0 for a queue that does not exist yet."""
    from amqp.exceptions import NotFound

    channel = conn.channel()  # type: ignore[attr-defined]
    try:
        return channel.queue_declare(queue=name, passive=True).consumer_count
    except NotFound:
        return 0
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - a channel closed by the NOT_FOUND is closed already
            pass

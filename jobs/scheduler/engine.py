"""The engine: turns fired slots and run requests into ledger rows and running work.

One thread owns it. APScheduler's thread only hands fired slots over (no I/O there); the engine
drains them in batches and writes the ledger in one transaction per batch, because a transaction
per fire cannot keep up with a thousand fires a second on SQLite.
"""

import heapq
import itertools
import logging
import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs import notifications
from jobs.calendars import calendar_reason
from jobs.models import Executor, Job, Run
from jobs.scheduler import run_metrics
from jobs.scheduler.chains import create_chained_runs
from jobs.scheduler.node import LeaseLost, fence
from jobs.scheduler.specs import JobSpec
from jobs.scheduler.workers import ActiveRun, Completion, WorkerPools

logger = logging.getLogger("jobs.scheduler")


BATCH_WINDOW_SECONDS = 0.005
# Under a deep backlog of tasks each worker gets up to this many runs handed over in advance.
PREFETCH_PER_WORKER = 64

# What the engine reads of a run asked for elsewhere (run now, re-run of a slot, the API).
REQUEST_FIELDS = (
    "id",
    "job_id",
    "trigger",
    "scheduled_for",
    "attempt",
    "retry_of_id",
    "not_before",
    "stands_for_id",
    "params",
)
CLAIM_SQL = (
    "INSERT INTO jobs_run (job_id, job_version, state, reason, cause, scheduled_for, "
    "created_at, finished_at, node_id, term, claim_batch, host, pid, trigger, attempt, output, "
    "output_dropped_bytes, error) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'schedule', 1, '', 0, '') "
    "ON CONFLICT DO NOTHING"
)


class Slot(NamedTuple):
    # A tuple, not a dataclass: APScheduler's thread makes a thousand of these a second.
    job_id: int
    scheduled_for: datetime
    # Catch-up decides the fate of old slots itself; fresh fires are decided here.
    state: str | None = None
    reason: str = ""
    cause: str = ""  # a Run.Cause


@dataclass(slots=True)
class Pending:
    """A queued run this engine has claimed and may start."""

    sort_key: tuple[int, datetime, int]
    run_id: int
    job_id: int
    trigger: str
    scheduled_for: datetime
    attempt: int = 1
    first_run_id: int = 0
    not_before: datetime | None = None
    # Catch-up runs wait their turn whatever the overlap policy: they are owed, not optional.
    catch_up: bool = False
    # Task parameters asked for this run only (run now with other values); None: the job's.
    params: dict | None = None


def _pending(
    run_id: int,
    job_id: int,
    priority: int,
    trigger: str,
    scheduled_for: datetime,
    attempt: int = 1,
    first_run_id: int | None = None,
    not_before: datetime | None = None,
) -> Pending:
    # Higher priority first, then the oldest slot, then the oldest request.
    return Pending(
        (-priority, scheduled_for, run_id),
        run_id,
        job_id,
        trigger,
        scheduled_for,
        attempt,
        first_run_id or run_id,
        not_before,
    )


def _calendar_skips(spec: JobSpec, slot: datetime) -> bool:
    verdict = spec.calendar_verdict(slot)
    return verdict is not None and verdict.skipped


class Engine:
    def __init__(self, *, node_id: int, term: int, host: str, pid: int) -> None:
        self.node_id = node_id
        self.term = term
        self.host = host
        self.pid = pid
        self.specs: dict[int, JobSpec] = {}
        self.wake = threading.Event()
        self.pools = WorkerPools(on_complete=self.complete)
        self._lock = threading.Lock()
        self._slots: list[Slot] = []
        self._completions: list[Completion] = []
        self._poll_requested = True
        self._specs_changed = False
        self._batch_ids = itertools.count(random.getrandbits(40) << 20)

        self.active: dict[int, ActiveRun] = {}
        self.active_by_job: dict[int, set[int]] = defaultdict(set)
        self.ready: dict[str, list[Pending]] = {"process": [], "thread": []}
        self.ready_by_job: dict[int, int] = defaultdict(int)
        self.waiting: dict[int, deque[Pending]] = defaultdict(deque)
        self.delayed: list[tuple[datetime, int, Pending]] = []
        self.accepting = True
        # Set once another scheduler holds the lease: from then on this engine writes nothing.
        self.lease_lost: LeaseLost | None = None
        # Monotonic time of the first failed database call of an incident; the monitor reads it.
        self.db_failing_since: float | None = None
        self._backoff = 0.0

    # --- inputs, called from other threads -------------------------------------------------

    def fire(self, job_id: int, run_times: list[datetime]) -> None:
        with self._lock:
            # APScheduler runs in UTC and our trigger hands out UTC instants already.
            self._slots.extend(Slot(job_id, t) for t in run_times)
        self.wake.set()

    def add_slots(self, slots: list[Slot]) -> None:
        with self._lock:
            self._slots.extend(slots)
        self.wake.set()

    def complete(self, completion: Completion) -> None:
        with self._lock:
            self._completions.append(completion)
        self.wake.set()

    def request_poll(self) -> None:
        with self._lock:
            self._poll_requested = True
        self.wake.set()

    def set_specs(self, specs: dict[int, JobSpec]) -> None:
        self.specs = specs
        with self._lock:
            self._specs_changed = True
        self.wake.set()

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set() and self.lease_lost is None:
            if self.wake.wait(self._sleep_time()):
                # Let a few more fires and completions arrive: one transaction for many rows
                # is what keeps the ledger ahead of a thousand fires a second.
                time.sleep(BATCH_WINDOW_SECONDS)
            self.wake.clear()
            self.step()

    def _sleep_time(self) -> float:
        if self._backoff:
            return self._backoff
        if self.delayed:
            due = (self.delayed[0][0] - timezone.now()).total_seconds()
            return max(0.0, min(due, 1.0))
        return 1.0

    def step(self) -> None:
        with self._lock:
            slots, self._slots = self._slots, []
            completions, self._completions = self._completions, []
            poll, self._poll_requested = self._poll_requested, False
            specs_changed, self._specs_changed = self._specs_changed, False
        if specs_changed:
            self.cancel_runs_of_deleted_jobs()
        for completion in completions:
            # Counted once: a completion put back after a failed write finds no active run.
            run_metrics.observe(completion, self.active.get(completion.run_id))
            self._forget_active(completion.run_id, completion.job_id)
        if self.lease_lost is not None:
            return
        if not (slots or completions or poll or self._has_startable()):
            return
        try:
            with transaction.atomic():
                fence(self.node_id, self.term)
                self._record_completions(completions)
                claimed = self._claim(slots) if self.accepting else []
                if poll and self.accepting:
                    claimed += self._pick_up_requests(exclude={p.run_id for p in claimed})
                if poll:
                    self._apply_cancel_requests()
                if self.accepting:
                    self._admit(claimed)
                    starts = self._select_starts()
                else:
                    starts = []
        except LeaseLost as exc:
            # Fencing: what this engine decided in the lost term is dropped, not written.
            logger.critical("%s; stopping", exc)
            self.lease_lost = exc
            self.accepting = False
            return
        except DatabaseError as exc:
            self._on_db_error(exc)
            with self._lock:
                self._slots[:0] = slots
                self._completions[:0] = completions
                self._poll_requested = self._poll_requested or poll
            # What was decided in memory during the failed transaction is rebuilt from the rows.
            self._rebuild_queues()
            return
        self._on_db_ok()
        # Committed: the notifier (its own thread) may now read these runs' final rows.
        notifications.hand_over(
            c for c in completions if (spec := self.specs.get(c.job_id)) and spec.notifies
        )
        for pending, active in starts:
            spec = self.specs.get(pending.job_id)
            config = spec.params() if spec else {}
            if pending.params is not None:
                config = {**config, "params": pending.params}
            self.pools.start(active, config)

    # --- database errors: retried with backoff, logged once per incident ---------------------

    def _on_db_error(self, exc: DatabaseError) -> None:
        if self.db_failing_since is None:
            self.db_failing_since = time.monotonic()
            logger.error("database error in the run ledger, retrying with backoff: %s", exc)
        self._backoff = min(max(self._backoff * 2, 0.1), 5.0)
        connection.close()

    def _on_db_ok(self) -> None:
        if self.db_failing_since is not None:
            logger.warning(
                "run ledger writes work again after %.1f s",
                time.monotonic() - self.db_failing_since,
            )
        self.db_failing_since = None
        self._backoff = 0.0

    # --- completions -------------------------------------------------------------------------

    def _forget_active(self, run_id: int, job_id: int) -> None:
        if self.active.pop(run_id, None) is not None:
            self.active_by_job[job_id].discard(run_id)
        waiting = self.waiting.get(job_id)
        spec = self.specs.get(job_id)
        limit = spec.max_concurrent if spec and spec.overlap == Job.Overlap.ALLOW else 1
        if waiting and self._busy(job_id) < limit:
            self._push_ready(waiting.popleft())

    def _record_completions(self, completions: list[Completion]) -> None:
        if not completions:
            return
        # Most completions are quiet successes; they get a narrower statement.
        quiet = [c for c in completions if c.state == Run.State.SUCCEEDED and not c.output]
        other = [c for c in completions if c.state != Run.State.SUCCEEDED or c.output]
        with connection.cursor() as cursor:
            if quiet:
                cursor.executemany(
                    "UPDATE jobs_run SET state = 'succeeded', finished_at = %s, "
                    "pid = COALESCE(%s, pid), started_at = COALESCE(%s, started_at) "
                    "WHERE id = %s AND state = 'running'",
                    [self._adapt((c.finished_at, c.pid, c.started_at, c.run_id)) for c in quiet],
                )
            if other:
                cursor.executemany(
                    # An empty reason keeps the one the row had (a catch-up or retry note).
                    "UPDATE jobs_run SET state = %s, reason = COALESCE(NULLIF(%s, ''), reason), "
                    "error = %s, exit_code = %s, http_status = %s, output = %s, "
                    "output_dropped_bytes = %s, finished_at = %s, pid = COALESCE(%s, pid), "
                    "started_at = COALESCE(%s, started_at) WHERE id = %s AND state = 'running'",
                    [
                        self._adapt(
                            (c.state, c.reason, c.error, c.exit_code, c.http_status, c.output)
                            + (c.dropped, c.finished_at, c.pid, c.started_at, c.run_id)
                        )
                        for c in other
                    ],
                )
        retry_states = (Run.State.FAILED, Run.State.TIMED_OUT)
        to_retry = [c for c in completions if c.state in retry_states]
        if to_retry:
            self._schedule_retries(to_retry)
        self._start_chains(completions)

    def _start_chains(self, completions: list[Completion]) -> None:
        # Same transaction as the completions; the queued rows are claimed by the next poll,
        # where overlap policies apply to them as to manual runs.
        if create_chained_runs(completions, self.specs):
            self.request_poll()

    def _adapt(self, row: tuple) -> tuple:
        ops = connection.ops
        return tuple(
            ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v for v in row
        )

    def _schedule_retries(self, completions: list[Completion]) -> None:
        runs = Run.objects.in_bulk([c.run_id for c in completions])
        now = timezone.now()
        for completion in completions:
            run = runs.get(completion.run_id)
            spec = self.specs.get(completion.job_id)
            if run is None or spec is None or not spec.retries_after(run.attempt):
                continue
            attempt = run.attempt + 1
            delay = spec.retry_delay(attempt)
            retry = Run.objects.create(
                job_id=run.job_id,
                job_version=spec.version,
                trigger=Run.Trigger.RETRY,
                state=Run.State.QUEUED,
                reason=f"Attempt {attempt} of {spec.max_retries + 1}, {delay:.0f} s after "
                f"run #{run.pk} {completion.state.replace('_', ' ')}.",
                scheduled_for=run.scheduled_for,
                created_at=now,
                not_before=now + timedelta(seconds=delay),
                attempt=attempt,
                retry_of_id=run.retry_of_id or run.pk,
                stands_for_id=run.stands_for_id,
                node_id=self.node_id,
                term=self.term,
                params=run.params,
            )
            pending = _pending(
                retry.pk,
                run.job_id,
                spec.priority,
                Run.Trigger.RETRY,
                run.scheduled_for,
                attempt,
                retry.retry_of_id,
                retry.not_before,
            )
            pending.params = run.params
            heapq.heappush(self.delayed, (retry.not_before, retry.pk, pending))

    # --- claiming slots ----------------------------------------------------------------------

    def _claim(self, slots: list[Slot]) -> list[Pending]:
        if not slots:
            return []
        now = timezone.now()
        grace = timedelta(seconds=settings.CRONADMIN_MISFIRE_GRACE_SECONDS)
        batch = next(self._batch_ids)
        adapt = connection.ops.adapt_datetimefield_value
        created = adapt(now)
        rows = []
        offline = self._offline_executors(slots, now)
        slots = self._apply_misfire_policy(slots, now, grace, offline)
        for slot in slots:
            spec = self.specs.get(slot.job_id)
            if spec is None:
                continue  # deleted since it fired
            state, reason, cause = slot.state, slot.reason, slot.cause
            if state is None:
                if spec.is_paused_at(slot.scheduled_for):
                    state, cause = Run.State.SKIPPED, Run.Cause.PAUSED
                    reason = "Job paused" + (f": {spec.pause_note}" if spec.pause_note else ".")
                elif spec.executor_id in offline:
                    state, cause = Run.State.SKIPPED, Run.Cause.EXECUTOR_OFFLINE
                    reason = offline[spec.executor_id]
                elif verdict := spec.calendar_verdict(slot.scheduled_for):
                    # Skipped, or run here having been moved out of an excluded period.
                    state = Run.State.SKIPPED if verdict.skipped else Run.State.QUEUED
                    reason, cause = calendar_reason(verdict), Run.Cause.CALENDAR
                else:
                    state = Run.State.QUEUED
            finished = None if state == Run.State.QUEUED else created
            rows.append(
                (slot.job_id, spec.version, state, reason, cause, adapt(slot.scheduled_for))
                + (created,)
                + (finished, self.node_id, self.term, batch, self.host, self.pid)
            )
        # The unique (job, slot) index decides who owns a slot; a conflict means another
        # scheduler (or an earlier fire of ours) already recorded it. Plain executemany: the
        # ORM's bulk_create costs more than the insert itself at a thousand rows a second.
        with connection.cursor() as cursor:
            cursor.executemany(CLAIM_SQL, rows)
        won = Run.objects.filter(claim_batch=batch).values_list(
            "id", "job_id", "scheduled_for", "state"
        )
        won = list(won)
        if len(won) < len(rows):
            logger.info("%d slot(s) were already recorded, not run again", len(rows) - len(won))
        preset = {(s.job_id, s.scheduled_for) for s in slots if s.state == Run.State.QUEUED}
        claimed = []
        for run_id, job_id, slot, state in won:
            if state == Run.State.QUEUED:
                pending = _pending(
                    run_id, job_id, self.specs[job_id].priority, Run.Trigger.SCHEDULE, slot
                )
                pending.catch_up = (job_id, slot) in preset
                claimed.append(pending)
        return claimed

    def _apply_misfire_policy(
        self, slots: list[Slot], now: datetime, grace: timedelta, offline: dict[int, str]
    ) -> list[Slot]:
        """Decide the fresh fires that came past the grace by the job's misfire policy.

        A wall clock jumping forward (NTP step, a suspended VM resuming) makes APScheduler hand
        over every slot of the jump at once; like slots missed while the scheduler was down,
        the policy picks the ones that still run and the rest are recorded missed, never a
        storm of runs. Paused jobs and offline executors keep their own reasons below.
        """
        from jobs.scheduler import catchup  # it imports Slot from this module

        late: dict[int, list[datetime]] = defaultdict(list)
        kept: list[Slot] = []
        for slot in slots:
            spec = self.specs.get(slot.job_id)
            if (
                slot.state is None
                and spec is not None
                and now - slot.scheduled_for > grace
                and not spec.is_paused_at(slot.scheduled_for)
                and spec.executor_id not in offline
                and not _calendar_skips(spec, slot.scheduled_for)
            ):
                late[slot.job_id].append(slot.scheduled_for)
            else:
                kept.append(slot)
        for job_id, times in late.items():
            kept += catchup.late_fires(self.specs[job_id], sorted(times), now, grace)
        return kept

    def _offline_executors(self, slots: list[Slot], now: datetime) -> dict[int, str]:
        """The offline executors among those owning `slots`, with the reason to record.

        Heartbeats are written by the web, so they are read here, at claim time: a silent
        executor's next slot is already skipped, and a returning one's next slot runs, without
        waiting for a reconcile. Jobs without an executor cost nothing.
        """
        ids = {
            spec.executor_id
            for slot in slots
            if (spec := self.specs.get(slot.job_id)) is not None and spec.executor_id is not None
        }
        if not ids:
            return {}
        offline = {}
        for executor in Executor.objects.filter(pk__in=ids):
            if executor.state_at(now) == Executor.State.OFFLINE:
                offline[executor.pk] = (
                    f"Executor {executor.name} offline: no heartbeat since "
                    f"{executor.last_heartbeat_at:%Y-%m-%d %H:%M:%S} UTC "
                    f"({Executor.MISSED_HEARTBEATS_OFFLINE} missed)."
                )
        return offline

    def _pick_up_requests(self, exclude: set[int]) -> list[Pending]:
        """Claim runs asked for elsewhere (run now, the API) and those left queued by a restart."""
        mine = set(self.active) | self._known_pending_ids() | exclude
        rows = list(
            Run.objects.filter(state=Run.State.QUEUED)
            .exclude(node_id=self.node_id)
            .values_list(*REQUEST_FIELDS)
            .order_by("created_at")[:1000]
        )
        rows += [
            r
            for r in Run.objects.filter(state=Run.State.QUEUED, node_id=self.node_id).values_list(
                *REQUEST_FIELDS
            )
            if r[0] not in mine
        ]
        if not rows:
            return []
        Run.objects.filter(id__in=[r[0] for r in rows], state=Run.State.QUEUED).update(
            node_id=self.node_id, term=self.term, host=self.host, pid=self.pid
        )
        claimed = []
        now = timezone.now()
        for run_id, job_id, trigger, slot, attempt, first, not_before, stands_for, params in rows:
            spec = self.specs.get(job_id)
            if spec is None:
                continue
            pending = _pending(
                run_id, job_id, spec.priority, trigger, slot, attempt, first, not_before
            )
            pending.params = params
            # A slot re-run by hand is owed like a catch-up: it waits its turn, never skipped.
            pending.catch_up = stands_for is not None
            if not_before and not_before > now:
                heapq.heappush(self.delayed, (not_before, run_id, pending))
            else:
                claimed.append(pending)
        return claimed

    def _apply_cancel_requests(self) -> None:
        if not self.active:
            return
        requested = Run.objects.filter(
            id__in=list(self.active), cancel_requested_at__isnull=False
        ).values_list("id", "reason")
        for run_id, reason in requested:
            active = self.active.get(run_id)
            if active:
                active.cancel(reason or "Cancelled on request.")

    def _known_pending_ids(self) -> set[int]:
        ids = {p.run_id for heap in self.ready.values() for _, p in heap}
        ids |= {p.run_id for line in self.waiting.values() for p in line}
        ids |= {p.run_id for _, _, p in self.delayed}
        return ids

    # --- admission: overlap policies ---------------------------------------------------------

    def _busy(self, job_id: int) -> int:
        return len(self.active_by_job[job_id]) + self.ready_by_job[job_id]

    def _push_ready(self, pending: Pending) -> None:
        spec = self.specs.get(pending.job_id)
        pool = self.pools.pool_of(spec.kind if spec else Job.Kind.TASK)
        heapq.heappush(self.ready[pool], (pending.sort_key, pending))
        self.ready_by_job[pending.job_id] += 1

    def _admit(self, claimed: list[Pending]) -> None:
        skips: dict[str, list[int]] = defaultdict(list)
        deleted: list[int] = []
        for pending in sorted(claimed, key=lambda p: p.scheduled_for):
            spec = self.specs.get(pending.job_id)
            if spec is None:
                deleted.append(pending.run_id)
                continue
            busy = self._busy(pending.job_id)
            limit = spec.max_concurrent if spec.overlap == Job.Overlap.ALLOW else 1
            line = self.waiting[pending.job_id]
            if pending.trigger == Run.Trigger.RETRY or (busy < limit and not line):
                self._push_ready(pending)
            elif pending.catch_up:
                line.append(pending)
            elif spec.overlap == Job.Overlap.REPLACE:
                for run_id in list(self.active_by_job[pending.job_id]):
                    self.active[run_id].cancel(
                        f"Replaced by a newer run (#{pending.run_id}), as the job's overlap "
                        "policy says."
                    )
                self._push_ready(pending)
            elif spec.overlap == Job.Overlap.QUEUE and not line:
                line.append(pending)
            elif spec.overlap == Job.Overlap.QUEUE:
                skips["One run is already waiting for the running one to finish."].append(
                    pending.run_id
                )
            elif spec.overlap == Job.Overlap.ALLOW:
                skips[f"{limit} run(s) already in progress, the job's limit."].append(
                    pending.run_id
                )
            else:
                running = sorted(self.active_by_job[pending.job_id])
                which = f" (#{running[0]})" if running else ""
                skips[f"The previous run{which} was still in progress."].append(pending.run_id)
        now = timezone.now()
        overlap = [(reason, ids, Run.Cause.OVERLAP) for reason, ids in skips.items()]
        gone = [("Job deleted before the run could start.", deleted, Run.Cause.JOB_DELETED)]
        for reason, ids, cause in overlap + (gone if deleted else []):
            Run.objects.filter(id__in=ids, state=Run.State.QUEUED).update(
                state=Run.State.SKIPPED, reason=reason, finished_at=now, cause=cause
            )

    def _has_startable(self) -> bool:
        if self.delayed and self.delayed[0][0] <= timezone.now():
            return True
        return any(heap and self._free(pool) > 0 for pool, heap in self.ready.items())

    def _free(self, pool: str) -> int:
        used = sum(1 for a in self.active.values() if self.pools.pool_of(a.kind) == pool)
        return self.pools.capacity(pool) - used

    def _select_starts(self) -> list[tuple[Pending, ActiveRun]]:
        now = timezone.now()
        while self.delayed and self.delayed[0][0] <= now:
            _, _, pending = heapq.heappop(self.delayed)
            self._push_ready(pending)
        chosen: list[Pending] = []
        for pool, heap in self.ready.items():
            free = self._free(pool)
            capacity = self.pools.capacity(pool)
            if pool == "process" and len(heap) >= free + 2 * capacity:
                # A deep backlog of tasks: hand each worker one more run in advance so it never
                # idles waiting for this loop. The heap order (priority) still decides which.
                free += PREFETCH_PER_WORKER * capacity
            while heap and free > 0:
                _, pending = heapq.heappop(heap)
                self.ready_by_job[pending.job_id] -= 1
                chosen.append(pending)
                free -= 1
        if not chosen:
            return []
        startable = self._mark_running([p.run_id for p in chosen], now)
        starts = []
        for pending in chosen:
            spec = self.specs.get(pending.job_id)
            if pending.run_id not in startable or spec is None:
                continue
            active = ActiveRun(
                run_id=pending.run_id,
                job_id=pending.job_id,
                kind=spec.kind,
                attempt=pending.attempt,
                first_run_id=pending.first_run_id,
                scheduled_for=pending.scheduled_for,
                timeout=spec.timeout,
            )
            self.active[pending.run_id] = active
            self.active_by_job[pending.job_id].add(pending.run_id)
            starts.append((pending, active))
        return starts

    def _mark_running(self, run_ids: list[int], now: datetime) -> set[int]:
        # The web may have cancelled a queued run, or the job may be gone: only rows still queued
        # start, and RETURNING says which in the same statement (SQLite 3.35+, PostgreSQL).
        started: set[int] = set()
        when = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            for chunk in range(0, len(run_ids), 500):
                ids = run_ids[chunk : chunk + 500]
                cursor.execute(
                    "UPDATE jobs_run SET state = 'running', started_at = %s, node_id = %s, "
                    "term = %s, host = %s, pid = %s "
                    f"WHERE state = 'queued' AND id IN ({', '.join(['%s'] * len(ids))}) "
                    "RETURNING id",
                    [when, self.node_id, self.term, self.host, self.pid, *ids],
                )
                started.update(row[0] for row in cursor.fetchall())
        return started

    def _rebuild_queues(self) -> None:
        self.ready = {"process": [], "thread": []}
        self.ready_by_job = defaultdict(int)
        self.waiting = defaultdict(deque)
        self.delayed = []
        with self._lock:
            self._poll_requested = True

    # --- jobs that changed or disappeared ----------------------------------------------------

    def cancel_runs_of_deleted_jobs(self) -> None:
        for active in list(self.active.values()):
            if active.job_id not in self.specs:
                active.cancel("The job was deleted while this run was in progress.")

    # --- shutdown ----------------------------------------------------------------------------

    def drain(self, grace: float, stop_reason: str) -> None:
        """Stop starting work, give running work `grace` seconds, then cut it short."""
        self.accepting = False
        # A fenced engine cannot record outcomes any more: no point letting runs finish.
        deadline = time.monotonic() + (0 if self.lease_lost else grace)
        while self.active and time.monotonic() < deadline:
            self.wake.wait(0.1)
            self.wake.clear()
            self.step()
        for active in list(self.active.values()):
            active.cancel(stop_reason, state=Run.State.INTERRUPTED)
        # Killed workers report back quickly; wait a little for their rows to be written.
        deadline = time.monotonic() + 5
        while self.active and time.monotonic() < deadline:
            self.wake.wait(0.1)
            self.wake.clear()
            self.step()
        self.step()
        self.pools.shutdown()
        # Claimed runs that never started go back to the queue for the next scheduler.
        unstarted = self._known_pending_ids()
        if unstarted and self.lease_lost is None:
            try:
                Run.objects.filter(id__in=unstarted, state=Run.State.QUEUED).update(node_id=None)
            except DatabaseError:
                logger.warning("could not release %d queued run(s)", len(unstarted))

    def running_count(self) -> int:
        return len(self.active)

    def waiting_summary(self) -> dict[str, int]:
        return {
            "ready": sum(len(h) for h in self.ready.values()),
            "waiting": sum(len(line) for line in self.waiting.values()),
            "delayed": len(self.delayed),
        }

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
from jobs.dispatch.leader import CAPACITY, Dispatch, Dispatcher, time_limit
from jobs.models import Executor, Job, Run
from jobs.run_reasons import Reason, reason, requested_cancel
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
    "job_version",
)
CLAIM_SQL = (
    "INSERT INTO jobs_run (job_id, job_version, state, reason, reason_code, reason_params, "
    "cause, scheduled_for, created_at, finished_at, node_id, term, claim_batch, host, pid, "
    "trigger, attempt, output, output_dropped_bytes, error) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'schedule', 1, '', 0, "
    "'') ON CONFLICT DO NOTHING"
)


class Slot(NamedTuple):
    # A tuple, not a dataclass: APScheduler's thread makes a thousand of these a second.
    job_id: int
    scheduled_for: datetime
    # Catch-up decides the fate of old slots itself; fresh fires are decided here.
    state: str | None = None
    reason: Reason | None = None
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
        # Runs of jobs with a queue go to Celery workers when a broker is configured.
        self.dispatcher: Dispatcher | None = None
        if settings.CRONADMIN_CELERY_BROKER_URL:
            self.dispatcher = Dispatcher()
        # Dispatched in the current transaction: published once it has committed.
        self._to_publish: list[Dispatch] = []
        self._lock = threading.Lock()
        self._slots: list[Slot] = []
        self._completions: list[Completion] = []
        self._poll_requested = True
        self._specs_changed = False
        self._batch_ids = itertools.count(random.getrandbits(40) << 20)

        self.active: dict[int, ActiveRun] = {}
        self.active_by_job: dict[int, set[int]] = defaultdict(set)
        self.ready: dict[str, list[Pending]] = {"process": [], "thread": [], "celery": []}
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

    def remote_run_ended(self) -> None:
        """A worker wrote a run's outcome (PostgreSQL NOTIFY): look at once."""
        if self.dispatcher is not None:
            self.dispatcher.wake.set()
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
        # Runs on workers are looked at twice a second even when no NOTIFY wakes the engine.
        ceiling = 0.5 if self.dispatcher is not None else 1.0
        if self.delayed:
            due = (self.delayed[0][0] - timezone.now()).total_seconds()
            return max(0.0, min(due, ceiling))
        return ceiling

    def step(self) -> None:
        with self._lock:
            slots, self._slots = self._slots, []
            completions, self._completions = self._completions, []
            poll, self._poll_requested = self._poll_requested, False
            specs_changed, self._specs_changed = self._specs_changed, False
        if specs_changed:
            self.cancel_runs_of_deleted_jobs()
        sweep = self.dispatcher is not None and self.dispatcher.sweep_due()
        if self.dispatcher is not None and self.dispatcher.finished_due():
            completions += self._remote_completions()
        for completion in completions:
            # Counted once: a completion put back after a failed write finds no active run.
            run_metrics.observe(completion, self.active.get(completion.run_id))
            self._forget_active(completion.run_id, completion.job_id)
        if self.lease_lost is not None:
            return
        if not (slots or completions or poll or sweep or self._has_startable()):
            return
        try:
            with transaction.atomic():
                fence(self.node_id, self.term)
                if sweep:
                    self._sweep_remote()
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
            self._to_publish = []
            return
        except DatabaseError as exc:
            self._on_db_error(exc)
            self._forget_unpublished()
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
        if self._to_publish and self.dispatcher is not None:
            # Committed first, published second: a message always finds its queued row.
            self.dispatcher.publisher.hand_over(self._to_publish)
            self._to_publish = []

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
        params = Run._meta.get_field("reason_params")
        with connection.cursor() as cursor:
            if quiet:
                cursor.executemany(
                    "UPDATE jobs_run SET state = 'succeeded', finished_at = %s, "
                    "pid = COALESCE(%s, pid), started_at = COALESCE(%s, started_at) "
                    "WHERE id = %s AND state = 'running'",
                    [self._adapt((c.finished_at, c.pid, c.started_at, c.run_id)) for c in quiet],
                )
            # A completion without a reason keeps the one the row had (a catch-up or retry note).
            reasoned = [c for c in other if c.reason is not None]
            unreasoned = [c for c in other if c.reason is None]
            rest = (
                "error = %s, exit_code = %s, http_status = %s, output = %s, "
                "output_dropped_bytes = %s, finished_at = %s, pid = COALESCE(%s, pid), "
                "started_at = COALESCE(%s, started_at) WHERE id = %s AND state = 'running'"
            )
            if reasoned:
                cursor.executemany(
                    "UPDATE jobs_run SET state = %s, reason = %s, reason_code = %s, "
                    "reason_params = %s, " + rest,
                    [
                        self._adapt(
                            (c.state, c.reason.english, c.reason.code)
                            + (params.get_db_prep_save(dict(c.reason.params), connection),)
                            + (c.error, c.exit_code, c.http_status, c.output, c.dropped)
                            + (c.finished_at, c.pid, c.started_at, c.run_id)
                        )
                        for c in reasoned
                        if c.reason is not None
                    ],
                )
            if unreasoned:
                cursor.executemany(
                    "UPDATE jobs_run SET state = %s, " + rest,
                    [
                        self._adapt(
                            (c.state, c.error, c.exit_code, c.http_status, c.output, c.dropped)
                            + (c.finished_at, c.pid, c.started_at, c.run_id)
                        )
                        for c in unreasoned
                    ],
                )
        retry_states = (Run.State.FAILED, Run.State.TIMED_OUT)
        # A run whose worker was lost is retried like a failure; a local one interrupted by a
        # stopping scheduler is not (its outcome is unknown and nobody is left to retry it).
        to_retry = [
            c
            for c in completions
            if c.state in retry_states or (c.remote and c.state == Run.State.INTERRUPTED)
        ]
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
            why = reason(
                "retry",
                attempt=attempt,
                attempts=spec.max_retries + 1,
                delay=f"{delay:.0f}",
                run=run.pk,
                outcome=completion.state,
            )
            retry = Run.objects.create(
                job_id=run.job_id,
                job_version=spec.version,
                trigger=Run.Trigger.RETRY,
                state=Run.State.QUEUED,
                **why.fields(),
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
        params = Run._meta.get_field("reason_params")
        # Most fresh fires have no reason: their empty parameters are adapted once per batch.
        no_reason = ("", "", params.get_db_prep_save({}, connection))
        created = adapt(now)
        rows = []
        offline = self._offline_executors(slots, now)
        slots = self._apply_misfire_policy(slots, now, grace, offline)
        for slot in slots:
            spec = self.specs.get(slot.job_id)
            if spec is None:
                continue  # deleted since it fired
            state, why, cause = slot.state, slot.reason, slot.cause
            if state is None:
                if spec.is_paused_at(slot.scheduled_for):
                    state, cause = Run.State.SKIPPED, Run.Cause.PAUSED
                    why = (
                        reason("paused_note", note=spec.pause_note)
                        if spec.pause_note
                        else reason("paused")
                    )
                elif spec.executor_id in offline:
                    state, cause = Run.State.SKIPPED, Run.Cause.EXECUTOR_OFFLINE
                    why = offline[spec.executor_id]
                elif verdict := spec.calendar_verdict(slot.scheduled_for):
                    # Skipped, or run here having been moved out of an excluded period.
                    state = Run.State.SKIPPED if verdict.skipped else Run.State.QUEUED
                    why, cause = calendar_reason(verdict), Run.Cause.CALENDAR
                else:
                    state = Run.State.QUEUED
            finished = None if state == Run.State.QUEUED else created
            stored = (
                (why.english, why.code, params.get_db_prep_save(dict(why.params), connection))
                if why is not None
                else no_reason
            )
            rows.append(
                (slot.job_id, spec.version, state, *stored, cause, adapt(slot.scheduled_for))
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
        self, slots: list[Slot], now: datetime, grace: timedelta, offline: dict[int, Reason]
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

    def _offline_executors(self, slots: list[Slot], now: datetime) -> dict[int, Reason]:
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
                offline[executor.pk] = reason(
                    "executor_offline",
                    executor=executor.name,
                    since=f"{executor.last_heartbeat_at:%Y-%m-%d %H:%M:%S}",
                    missed=Executor.MISSED_HEARTBEATS_OFFLINE,
                )
        return offline

    def _pick_up_requests(self, exclude: set[int]) -> list[Pending]:
        """Claim runs asked for elsewhere (run now, the API) and those left queued by a restart."""
        mine = set(self.active) | self._known_pending_ids() | exclude
        # Runs handed to Celery are the dispatcher's; with Celery turned off they run here (a late
        # message then finds them taken: the claim wants them queued).
        local = {"dispatch_token": ""} if self.dispatcher is not None else {}
        rows = list(
            Run.objects.filter(state=Run.State.QUEUED, **local)
            .exclude(node_id=self.node_id)
            .values_list(*REQUEST_FIELDS)
            .order_by("created_at")[:1000]
        )
        rows += [
            r
            for r in Run.objects.filter(
                state=Run.State.QUEUED, node_id=self.node_id, **local
            ).values_list(*REQUEST_FIELDS)
            if r[0] not in mine
        ]
        # A run asked for right after an edit must run the edited definition. Its row names the
        # version it was asked for; while the specs here are older, the request waits: the edit
        # bumped the change marker, so the sync thread's next reconcile brings the new spec and
        # polls again.
        rows = [r for r in rows if (spec := self.specs.get(r[1])) is None or spec.version >= r[-1]]
        if not rows:
            return []
        Run.objects.filter(id__in=[r[0] for r in rows], state=Run.State.QUEUED).update(
            node_id=self.node_id, term=self.term, host=self.host, pid=self.pid
        )
        claimed = []
        now = timezone.now()
        newer: dict[int, list[int]] = defaultdict(list)
        for (
            run_id,
            job_id,
            trigger,
            slot,
            attempt,
            first,
            not_before,
            stands_for,
            params,
            version,
        ) in rows:
            spec = self.specs.get(job_id)
            if spec is None:
                continue
            if version != spec.version:
                # Edited again between the request and now: it runs, and records, the newest.
                newer[spec.version].append(run_id)
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
        for version, run_ids in newer.items():
            Run.objects.filter(id__in=run_ids).update(job_version=version)
        return claimed

    def _apply_cancel_requests(self) -> None:
        if not self.active:
            return
        requested = Run.objects.filter(
            id__in=list(self.active), cancel_requested_at__isnull=False
        ).values_list("id", "reason_code", "reason_params", "reason")
        for run_id, code, params, text in requested:
            active = self.active.get(run_id)
            # A worker's supervisor reads the request from the row itself.
            if active and active.pool != "celery":
                active.cancel(requested_cancel(code, params, text))

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
        pool = self._pool_of(spec)
        heapq.heappush(self.ready[pool], (pending.sort_key, pending))
        self.ready_by_job[pending.job_id] += 1

    def _admit(self, claimed: list[Pending]) -> None:
        skips: dict[tuple[str, int | None], list[int]] = defaultdict(list)
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
                    replaced = reason("overlap_replaced", run=pending.run_id)
                    if self.active[run_id].pool == "celery" and self.dispatcher is not None:
                        self.dispatcher.cancel(run_id, replaced)
                    else:
                        self.active[run_id].cancel(replaced)
                self._push_ready(pending)
            elif spec.overlap == Job.Overlap.QUEUE and not line:
                line.append(pending)
            elif spec.overlap == Job.Overlap.QUEUE:
                skips[("overlap_waiting", None)].append(pending.run_id)
            elif spec.overlap == Job.Overlap.ALLOW:
                skips[("overlap_limit", limit)].append(pending.run_id)
            else:
                running = sorted(self.active_by_job[pending.job_id])
                if running:
                    skips[("overlap_previous_run", running[0])].append(pending.run_id)
                else:
                    skips[("overlap_previous", None)].append(pending.run_id)
        now = timezone.now()
        overlap = [
            (_overlap_reason(code, value), ids, Run.Cause.OVERLAP)
            for (code, value), ids in skips.items()
        ]
        gone = [(reason("job_deleted"), deleted, Run.Cause.JOB_DELETED)]
        for why, ids, cause in overlap + (gone if deleted else []):
            Run.objects.filter(id__in=ids, state=Run.State.QUEUED).update(
                state=Run.State.SKIPPED, finished_at=now, cause=cause, **why.fields()
            )

    def _has_startable(self) -> bool:
        if self.delayed and self.delayed[0][0] <= timezone.now():
            return True
        return any(heap and self._free(pool) > 0 for pool, heap in self.ready.items())

    def _pool_of(self, spec: JobSpec | None) -> str:
        if spec is not None and spec.queue and self.dispatcher is not None:
            return "celery"
        return self.pools.pool_of(spec.kind if spec else Job.Kind.TASK)

    def _free(self, pool: str) -> int:
        if pool == "celery":
            return CAPACITY
        used = sum(1 for a in self.active.values() if a.pool == pool)
        return self.pools.capacity(pool) - used

    def _select_starts(self) -> list[tuple[Pending, ActiveRun]]:
        now = timezone.now()
        while self.delayed and self.delayed[0][0] <= now:
            _, _, pending = heapq.heappop(self.delayed)
            self._push_ready(pending)
        chosen: list[Pending] = []
        for pool, heap in self.ready.items():
            free = self._free(pool)
            capacity = self.pools.capacity(pool) if pool != "celery" else 0
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
        remote = [p for p in chosen if self._pool_of(self.specs.get(p.job_id)) == "celery"]
        if remote:
            self._dispatch(remote)
            sent = {p.run_id for p in remote}
            chosen = [p for p in chosen if p.run_id not in sent]
        startable = self._mark_running([p.run_id for p in chosen], now) if chosen else set()
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
                pool=self.pools.pool_of(spec.kind),
            )
            self.active[pending.run_id] = active
            self.active_by_job[pending.job_id].add(pending.run_id)
            starts.append((pending, active))
        return starts

    # --- runs on Celery workers (jobs.dispatch) ----------------------------------------------

    def _dispatch(self, chosen: list[Pending]) -> None:
        assert self.dispatcher is not None
        tokens = self.dispatcher.mark_dispatched([p.run_id for p in chosen], next(self._batch_ids))
        queues: dict[str, list[int]] = defaultdict(list)
        for pending in chosen:
            spec = self.specs.get(pending.job_id)
            token = tokens.get(pending.run_id)
            if token is None or spec is None:
                continue
            queues[spec.queue].append(pending.run_id)
            self._track_remote(
                pending.run_id, pending.job_id, pending.attempt, pending.scheduled_for
            )
            self._to_publish.append(
                Dispatch(pending.run_id, token, spec.queue, time_limit(spec.timeout))
            )
        for name, ids in queues.items():
            Run.objects.filter(id__in=ids).update(queue=name, node_id=self.node_id, term=self.term)

    def _track_remote(
        self, run_id: int, job_id: int, attempt: int = 1, scheduled_for: datetime | None = None
    ) -> None:
        spec = self.specs.get(job_id)
        self.active[run_id] = ActiveRun(
            run_id=run_id,
            job_id=job_id,
            kind=spec.kind if spec else Job.Kind.TASK,
            attempt=attempt,
            first_run_id=run_id,
            scheduled_for=scheduled_for or timezone.now(),
            timeout=spec.timeout if spec else 0,
            pool="celery",
        )
        self.active_by_job[job_id].add(run_id)

    def _remote_completions(self) -> list[Completion]:
        assert self.dispatcher is not None
        ids = [run_id for run_id, a in self.active.items() if a.pool == "celery"]
        try:
            return self.dispatcher.finished(ids)
        except DatabaseError:
            connection.close()
            return []

    def _sweep_remote(self) -> None:
        assert self.dispatcher is not None
        known = {run_id for run_id, a in self.active.items() if a.pool == "celery"}
        for run_id, job_id, _state in self.dispatcher.sweep(known):
            # Left in flight by an earlier leader: tracked for overlap and outcomes from now.
            self._track_remote(run_id, job_id)

    def _forget_unpublished(self) -> None:
        for item in self._to_publish:
            active = self.active.pop(item.run_id, None)
            if active is not None:
                self.active_by_job[active.job_id].discard(item.run_id)
        self._to_publish = []

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
        self.ready = {"process": [], "thread": [], "celery": []}
        self.ready_by_job = defaultdict(int)
        self.waiting = defaultdict(deque)
        self.delayed = []
        with self._lock:
            self._poll_requested = True

    # --- jobs that changed or disappeared ----------------------------------------------------

    def cancel_runs_of_deleted_jobs(self) -> None:
        for active in list(self.active.values()):
            if active.job_id not in self.specs:
                active.cancel(reason("job_deleted_running"))

    # --- shutdown ----------------------------------------------------------------------------

    def drain(self, grace: float, stop_reason: Reason) -> None:
        """Stop starting work, give running work `grace` seconds, then cut it short."""
        self.accepting = False
        # A fenced engine cannot record outcomes any more: no point letting runs finish.
        deadline = time.monotonic() + (0 if self.lease_lost else grace)
        while self._local_active() and time.monotonic() < deadline:
            self.wake.wait(0.1)
            self.wake.clear()
            self.step()
        for active in self._local_active():
            active.cancel(stop_reason, state=Run.State.INTERRUPTED)
        # Killed workers report back quickly; wait a little for their rows to be written.
        deadline = time.monotonic() + 5
        while self._local_active() and time.monotonic() < deadline:
            self.wake.wait(0.1)
            self.wake.clear()
            self.step()
        self.step()
        self.pools.shutdown()
        if self.dispatcher is not None:
            # Runs on workers go on; the next leader watches over them.
            self.dispatcher.shutdown()
        # Claimed runs that never started go back to the queue for the next scheduler.
        unstarted = self._known_pending_ids()
        if unstarted and self.lease_lost is None:
            try:
                Run.objects.filter(id__in=unstarted, state=Run.State.QUEUED).update(node_id=None)
            except DatabaseError:
                logger.warning("could not release %d queued run(s)", len(unstarted))

    def _local_active(self) -> list[ActiveRun]:
        return [a for a in self.active.values() if a.pool != "celery"]

    def running_count(self) -> int:
        return len(self._local_active())

    def waiting_summary(self) -> dict[str, int]:
        return {
            "ready": sum(len(h) for h in self.ready.values()),
            "waiting": sum(len(line) for line in self.waiting.values()),
            "delayed": len(self.delayed),
        }


def _overlap_reason(code: str, value: int | None) -> Reason:
    if code == "overlap_limit":
        return reason(code, limit=value)
    if code == "overlap_previous_run":
        return reason(code, run=value)
    return reason(code)

"""Chained runs: when a run ends, the runs of the jobs linked to it are written as queued rows.

Called by the engine inside the transaction that records the completions, so a run's end and the
runs it starts are committed together or not at all. The rows are left queued for the engine's
next poll, where the overlap policy of each downstream job applies as for a manual run.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from jobs.models import Job, JobLink, Run
from jobs.run_reasons import reason
from jobs.scheduler.specs import JobSpec
from jobs.scheduler.workers import Completion

# The link events an ended run sets off. Cancelled and interrupted runs start nothing: nobody
# knows how they would have ended.
EVENTS_OF_STATE: dict[str, tuple[str, ...]] = {
    Run.State.SUCCEEDED: (JobLink.Event.SUCCESS, JobLink.Event.FINISH),
    Run.State.FAILED: (JobLink.Event.FAILURE, JobLink.Event.FINISH),
    Run.State.TIMED_OUT: (JobLink.Event.FAILURE, JobLink.Event.FINISH),
}


def create_chained_runs(
    completions: Iterable[Completion], specs: dict[int, JobSpec], now: datetime | None = None
) -> int:
    """Write the runs that `completions` start; returns how many were queued (not skipped)."""
    ended = [
        c
        for c in completions
        if c.state in EVENTS_OF_STATE and (spec := specs.get(c.job_id)) and spec.starts_jobs
    ]
    if not ended:
        return 0
    # One query finds the links of the jobs that start others.
    links: dict[int, list[tuple]] = defaultdict(list)
    rows = JobLink.objects.filter(upstream_id__in={c.job_id for c in ended}).values_list(
        "upstream_id",
        "downstream_id",
        "event",
        "downstream__version",
        "downstream__state",
        "downstream__paused_until",
        "downstream__pause_note",
    )
    for upstream, *link in rows.order_by("downstream_id"):
        links[upstream].append(tuple(link))
    if not links:
        return 0
    ended = [c for c in ended if c.job_id in links]
    runs = Run.objects.only("id", "job_id", "state", "attempt").in_bulk([c.run_id for c in ended])
    now = now or timezone.now()
    new: list[Run] = []
    for completion in ended:
        run = runs.get(completion.run_id)
        # The row's state says whether this completion really ended it (a run already ended
        # elsewhere must not start its chain twice).
        if run is None or run.state != completion.state:
            continue
        spec = specs.get(completion.job_id)
        if completion.state != Run.State.SUCCEEDED and spec and spec.retries_after(run.attempt):
            continue  # not a failure yet: its last attempt decides
        events = EVENTS_OF_STATE[completion.state]
        upstream = spec.name if spec else f"#{completion.job_id}"
        started: set[int] = set()
        for downstream, event, version, state, paused_until, note in links[completion.job_id]:
            # Linked on success and on finish: a successful run still starts it once.
            if event not in events or downstream in started:
                continue
            started.add(downstream)
            paused = state == Job.State.PAUSED and (paused_until is None or now < paused_until)
            new.append(_chained_run(run, upstream, event, downstream, version, now, paused, note))
            if paused:
                new[-1].state = Run.State.SKIPPED
                new[-1].finished_at = now
    Run.objects.bulk_create(new)
    return sum(1 for run in new if run.state == Run.State.QUEUED)


def _chained_run(
    parent: Run,
    upstream: str,
    event: str,
    downstream: int,
    version: int,
    now: datetime,
    paused: bool,
    note: str,
) -> Run:
    how = {
        JobLink.Event.SUCCESS: "succeeded",
        JobLink.Event.FAILURE: "failed",
        JobLink.Event.FINISH: "finished",
    }[event]
    code = ("chain_paused_note" if note else "chain_paused") if paused else "chain"
    extra = {"note": note} if paused and note else {}
    why = reason(code, run=parent.pk, upstream=upstream, outcome=how, **extra)
    return Run(
        job_id=downstream,
        job_version=version,
        trigger=Run.Trigger.CHAIN,
        state=Run.State.QUEUED,
        **why.fields(),
        scheduled_for=now,
        created_at=now,
        parent_run_id=parent.pk,
    )

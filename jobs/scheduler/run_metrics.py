"""Run duration and start lateness, observed live in the scheduler process as runs complete.

Histograms cannot be rebuilt from the ledger at scrape time without reading every row, so the
scheduler counts them as it goes and serves them on its own HTTP endpoint (jobs.scheduler.monitor).
They live in their own registry: the web's /metrics never serves them.
"""

from prometheus_client import CollectorRegistry, Histogram

from jobs.scheduler.workers import ActiveRun, Completion

REGISTRY = CollectorRegistry(auto_describe=True)

RUN_DURATION = Histogram(
    "cronadmin_run_duration_seconds",
    "Time from a run's start to its end, by job kind and final state.",
    ["kind", "state"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
START_LATENESS = Histogram(
    "cronadmin_run_start_lateness_seconds",
    "Time from a run's slot (or its request, for run now) to its start; retries are left out.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)


def observe(completion: Completion, active: ActiveRun | None) -> None:
    """Count one finished run; `active` is None when it was already counted (a retried write)."""
    if active is None:
        return
    started = completion.started_at or active.started_at
    duration = (completion.finished_at - started).total_seconds()
    RUN_DURATION.labels(active.kind, completion.state).observe(max(duration, 0.0))
    # A retry's slot is its first attempt's: its wait includes the backoff, not lateness.
    if active.attempt == 1:
        lateness = (started - active.scheduled_for).total_seconds()
        START_LATENESS.labels(active.kind).observe(max(lateness, 0.0))

"""The web's /metrics: read from the database at scrape time, in the Prometheus text format.

Every gunicorn worker answers scrapes; counting in process memory would give each its own
numbers, so the collector reads the rows instead, with a handful of aggregate queries that stay
cheap at 10,000 jobs and a million runs (docs/operations.md has the measurement). Run duration
and lateness histograms come from the scheduler process itself (jobs.scheduler.run_metrics).
"""

import hmac
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobs.models import Job, Run
from jobs.monitoring import scheduler_health

# Final states are counted over a recent window: a whole-ledger count only grows (or drops when
# old runs are pruned), and what an alert wants is how the last hour went.
WINDOW = timedelta(hours=1)
# Per-job series only for runs that went wrong, and only for the jobs with the most of them:
# a series per job and state would be 90,000 series at 10,000 jobs.
PROBLEM_STATES = (Run.State.FAILED, Run.State.TIMED_OUT, Run.State.MISSED, Run.State.INTERRUPTED)
MAX_JOB_SERIES = 100


class DatabaseCollector(Collector):
    def describe(self) -> list[Metric]:
        # Registering must not query the database; the families are built at scrape time.
        return []

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        now = timezone.now()
        yield from self._runs(now)
        yield from self._jobs()
        yield from self._schedulers(now)
        yield from self._celery_workers(now)
        yield GaugeMetricFamily(
            "cronadmin_metrics_collect_seconds",
            "Time this scrape spent reading the database.",
            value=time.perf_counter() - started,
        )

    def _runs(self, now: datetime) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "cronadmin_runs_active", "Runs queued or running now.", labels=["state"]
        )
        counts = dict(
            Run.objects.filter(state__in=Run.ACTIVE_STATES)
            .order_by()
            .values_list("state")
            .annotate(n=Count("id"))
        )
        for state in Run.ACTIVE_STATES:
            active.add_metric([state], counts.get(state, 0))
        yield active

        # state IN (...) AND scheduled_for >= ... is a range scan per state on the run_state index.
        since = now - WINDOW
        recent = GaugeMetricFamily(
            "cronadmin_runs_last_hour",
            "Runs that ended, by state, among those whose slot (or request) is in the last hour.",
            labels=["state"],
        )
        counts = dict(
            Run.objects.filter(state__in=Run.FINAL_STATES, scheduled_for__gte=since)
            .order_by()
            .values_list("state")
            .annotate(n=Count("id"))
        )
        for state in Run.FINAL_STATES:
            recent.add_metric([state], counts.get(state, 0))
        yield recent

        by_job = GaugeMetricFamily(
            "cronadmin_job_problem_runs_last_hour",
            f"Failed, timed out, missed or interrupted runs of the last hour, for the "
            f"{MAX_JOB_SERIES} jobs with the most.",
            labels=["job_id", "job_name", "state"],
        )
        rows = list(
            Run.objects.filter(state__in=PROBLEM_STATES, scheduled_for__gte=since)
            .order_by()
            .values_list("job_id", "job__name", "state")
            .annotate(n=Count("id"))
        )
        totals: dict[int, int] = {}
        for job_id, _name, _state, n in rows:
            totals[job_id] = totals.get(job_id, 0) + n
        kept = set(sorted(totals, key=lambda j: (-totals[j], j))[:MAX_JOB_SERIES])
        # Open to anyone without a metrics token: the jobs are then known by their ids alone,
        # since a failing job's name can say more than an outsider should learn.
        named = bool(settings.CRONADMIN_METRICS_TOKEN)
        for job_id, name, state, n in rows:
            if job_id in kept:
                by_job.add_metric([str(job_id), name if named else "", state], n)
        yield by_job
        yield GaugeMetricFamily(
            "cronadmin_job_problem_series_dropped",
            "Jobs with problem runs in the last hour left out of the per-job series.",
            value=max(0, len(totals) - len(kept)),
        )

    def _jobs(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "cronadmin_jobs", "Jobs by state and kind.", labels=["state", "kind"]
        )
        counts = {
            (state, kind): n
            for state, kind, n in Job.objects.order_by()
            .values_list("state", "kind")
            .annotate(n=Count("id"))
        }
        for state in Job.State.values:
            for kind in Job.Kind.values:
                jobs.add_metric([state, kind], counts.get((state, kind), 0))
        yield jobs

    def _schedulers(self, now: datetime) -> Iterator[Metric]:
        health = scheduler_health(now)
        yield GaugeMetricFamily(
            "cronadmin_scheduler_healthy",
            "1 while a scheduler holds the lease and its heartbeat is within the lease time.",
            value=1 if health.healthy else 0,
        )
        yield GaugeMetricFamily(
            "cronadmin_scheduler_lease_term",
            "The lease's term: it grows by one at every takeover.",
            value=health.term,
        )
        yield GaugeMetricFamily(
            "cronadmin_change_version", "The change marker's version.", value=health.change_version
        )
        leader = GaugeMetricFamily(
            "cronadmin_scheduler_leader", "1 for the node holding the lease.", labels=["node"]
        )
        age = GaugeMetricFamily(
            "cronadmin_scheduler_heartbeat_age_seconds",
            "Seconds since each scheduler node's last heartbeat.",
            labels=["node"],
        )
        applied = GaugeMetricFamily(
            "cronadmin_scheduler_applied_change",
            "The change marker version each node has applied.",
            labels=["node"],
        )
        delay = GaugeMetricFamily(
            "cronadmin_scheduler_change_delay_seconds",
            "From the newest job change to the leader applying it (still growing while pending).",
            labels=["node"],
        )
        for node in health.nodes:
            leader.add_metric([node.name], 1 if node.leader else 0)
            age.add_metric([node.name], node.heartbeat_age.total_seconds())
            applied.add_metric([node.name], node.node.applied_change)
            if node.change_delay is not None:
                delay.add_metric([node.name], node.change_delay.total_seconds())
        yield from (leader, age, applied, delay)

    def _celery_workers(self, now: datetime) -> Iterator[Metric]:
        from jobs.dispatch.overview import celery_workers

        up = GaugeMetricFamily(
            "cronadmin_celery_worker_up", "1 while a Celery worker heartbeats.", labels=["worker"]
        )
        running = GaugeMetricFamily(
            "cronadmin_celery_worker_runs",
            "Runs in progress on each Celery worker.",
            labels=["worker"],
        )
        age = GaugeMetricFamily(
            "cronadmin_celery_worker_heartbeat_age_seconds",
            "Seconds since each Celery worker's last heartbeat.",
            labels=["worker"],
        )
        for row in celery_workers(now):
            up.add_metric([row.worker.name], 1 if row.online else 0)
            running.add_metric([row.worker.name], row.running)
            age.add_metric([row.worker.name], (now - row.worker.heartbeat_at).total_seconds())
        yield from (up, running, age)


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(DatabaseCollector())


def render() -> bytes:
    return generate_latest(REGISTRY)


def token_accepted(request: HttpRequest) -> bool:
    """With CRONADMIN_METRICS_TOKEN set, /metrics wants it as a bearer token; else it is open."""
    return bearer_matches(request.headers.get("Authorization", ""))


def bearer_matches(header: str) -> bool:
    expected = settings.CRONADMIN_METRICS_TOKEN
    if not expected:
        return True
    scheme, _space, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )

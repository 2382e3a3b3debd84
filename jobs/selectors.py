"""Read queries for the web pages: each page asks here, in a bounded number of queries.

Writes never happen here (they live in jobs.services); nothing here changes the database.
"""

import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact
from django.utils import timezone

from jobs.calendars import CalendarSchedule, CalendarSet, with_calendars
from jobs.models import (
    AuditEvent,
    ChangeMarker,
    Job,
    JobLink,
    JobVersion,
    Notification,
    Run,
    SchedulerLease,
    SchedulerNode,
)
from jobs.output import output_path, read_output
from jobs.schedules import Schedule, ScheduleError, parse_schedule

JOBS_PER_PAGE = 50
RUNS_PER_PAGE = 25
AUDIT_PER_PAGE = 50
STRIP_LENGTH = 20
FAILED_STATES = (Run.State.FAILED, Run.State.TIMED_OUT, Run.State.INTERRUPTED)
# Runs that were meant to run: skipped and cancelled ones were stopped on purpose.
RATED_STATES = (*FAILED_STATES, Run.State.SUCCEEDED, Run.State.MISSED)


# --- schedules -------------------------------------------------------------------------------


@lru_cache(maxsize=20_000)
def _parsed(text: str, tz: str, anchor: datetime) -> Schedule | None:
    # Parsing costs ~50 µs; a page listing many jobs asks for the same schedules again and again.
    try:
        return parse_schedule(text, tz, anchor=anchor)
    except ScheduleError:
        return None  # written behind the services' back: it does not fire, and says so


def job_calendars(job: Job) -> CalendarSet:
    """The job's calendars (prefetch `calendars` when listing many jobs)."""
    if job.pk is None:
        return CalendarSet()
    # A page asks several times for one job's runs: read its calendars once.
    cached = getattr(job, "_calendar_set", None)
    if cached is None:
        cached = CalendarSet(tuple(calendar.rule() for calendar in job.calendars.all()))
        job._calendar_set = cached  # type: ignore[attr-defined]
    return cached


def job_schedule(job: Job) -> Schedule | CalendarSchedule | None:
    """The job's schedule as its calendars shape it: what the scheduler fires."""
    schedule = _parsed(job.schedule, job.timezone, job.schedule_anchor)
    if schedule is None:
        return None
    return with_calendars(schedule, job_calendars(job), job.on_calendar)


def timing_fires(
    row: "TimingRow", count: int, after: datetime, until: datetime | None = None
) -> list[datetime]:
    """The runs of a job read as a TimingRow (see _UpcomingIndex), up to `count` or `until`."""
    schedule = _parsed(row.schedule, row.timezone, row.schedule_anchor)
    if schedule is not None and row.calendars:
        schedule = with_calendars(schedule, row.calendars, row.on_calendar)
    end_at = row.end_at if until is None or (row.end_at and row.end_at < until) else until
    return _fires(
        schedule,
        count,
        after,
        start_at=row.start_at,
        end_at=end_at,
        paused=row.state == Job.State.PAUSED,
        paused_until=row.paused_until,
    )


@dataclass(frozen=True)
class TimingRow:
    """What decides a job's run times, as read for an index of every job."""

    name: str
    kind: str
    labels: Any
    schedule: str
    timezone: str
    schedule_anchor: datetime
    start_at: datetime | None
    end_at: datetime | None
    state: str
    paused_until: datetime | None
    on_calendar: str
    calendars: CalendarSet

    def timing(self) -> tuple[Any, ...]:
        return (
            self.schedule,
            self.timezone,
            self.schedule_anchor,
            self.start_at,
            self.end_at,
            self.state,
            self.paused_until,
            self.on_calendar,
            self.calendars,
        )


TIMING_FIELDS = (
    "name",
    "kind",
    "labels",
    "schedule",
    "timezone",
    "schedule_anchor",
    "start_at",
    "end_at",
    "state",
    "paused_until",
    "on_calendar",
)


def timing_rows() -> dict[int, TimingRow]:
    """Every job that may still run, with what decides when: three queries, whatever the count."""
    from jobs.scheduler.specs import calendar_sets

    calendars = calendar_sets()
    rows = (
        Job.objects.exclude(state=Job.State.PAUSED, paused_until__isnull=True)
        .order_by()
        .values_list("id", *TIMING_FIELDS)
        .iterator(chunk_size=5000)
    )
    empty = CalendarSet()
    return {row[0]: TimingRow(*row[1:], calendars.get(row[0], empty)) for row in rows}


def _fires(
    schedule: Schedule | CalendarSchedule | None,
    count: int,
    after: datetime,
    *,
    start_at: datetime | None,
    end_at: datetime | None,
    paused: bool,
    paused_until: datetime | None,
) -> list[datetime]:
    if schedule is None or (paused and paused_until is None):
        return []
    # A paused job's slots before "until" are skipped; a slot at "until" itself runs (the
    # scheduler's rule, JobSpec.is_paused_at), so the search starts just before it.
    resume_floor = paused_until - timedelta(microseconds=1) if paused and paused_until else None
    floor = max(t for t in (after, resume_floor) if t is not None)
    if start_at is not None and start_at > floor:
        floor = start_at - timedelta(microseconds=1)
    if end_at is None:
        return schedule.next_runs(count, floor)
    return schedule.runs_between(floor, end_at, count)


def job_next_runs(job: Job, count: int = 10, after: datetime | None = None) -> list[datetime]:
    """The next instants the scheduler will start `job` at (start, end and pause respected)."""
    return _fires(
        job_schedule(job),
        count,
        after or timezone.now(),
        start_at=job.start_at,
        end_at=job.end_at,
        paused=job.state == Job.State.PAUSED,
        paused_until=job.paused_until,
    )


@dataclass(frozen=True)
class UpcomingRun:
    job_id: int
    job_name: str
    at: datetime


class _UpcomingIndex:
    """The next fire instant of every job, kept between requests.

    Computing it for 10,000 jobs costs ~0.5 s, far over a page's budget. The change marker
    (bumped by database triggers on every write to the jobs table) says when to re-read the
    definitions; then only the jobs whose timing changed, or whose next instant has passed, are
    computed again.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[Any, ...] | None = None
        self.rows: dict[int, TimingRow] = {}
        self.next: dict[int, datetime | None] = {}

    def clear(self) -> None:
        with self.lock:
            self.key, self.rows, self.next = None, {}, {}

    def upcoming(self, now: datetime, limit: int) -> list[UpcomingRun]:
        marker = ChangeMarker.objects.filter(id=1).values_list("version", "changed_at").first()
        with self.lock:
            if marker is None or marker != self.key:
                self._reload(now)
                self.key = marker
            for job_id, at in self.next.items():
                if at is not None and at <= now:
                    self.next[job_id] = self._compute(self.rows[job_id], now)
            due = sorted((at, job_id) for job_id, at in self.next.items() if at is not None)
            return [UpcomingRun(job_id, self.rows[job_id].name, at) for at, job_id in due[:limit]]

    def _reload(self, now: datetime) -> None:
        rows = timing_rows()
        next_fires: dict[int, datetime | None] = {}
        for job_id, row in rows.items():
            old = self.rows.get(job_id)
            kept = self.next.get(job_id)
            if old is not None and old.timing() == row.timing() and (kept is None or kept > now):
                next_fires[job_id] = kept
            else:
                next_fires[job_id] = self._compute(row, now)
        self.rows, self.next = rows, next_fires

    @staticmethod
    def _compute(row: TimingRow, now: datetime) -> datetime | None:
        fires = timing_fires(row, 1, now)
        return fires[0] if fires else None


_upcoming = _UpcomingIndex()


def upcoming_runs(now: datetime | None = None, limit: int = 10) -> list[UpcomingRun]:
    return _upcoming.upcoming(now or timezone.now(), limit)


def clear_caches() -> None:
    from jobs.week_ahead import week_index

    _upcoming.clear()
    week_index.clear()
    _parsed.cache_clear()


# --- dashboard -------------------------------------------------------------------------------


@dataclass
class SchedulerStatus:
    nodes: list[SchedulerNode]
    leader_id: int | None
    heartbeat_age: timedelta | None  # of the freshest running node
    alive: bool


def scheduler_status(now: datetime | None = None) -> SchedulerStatus:
    now = now or timezone.now()
    nodes = list(
        SchedulerNode.objects.filter(stopped_at__isnull=True).order_by("-heartbeat_at")[:5]
    )
    lease = SchedulerLease.objects.filter(name="scheduler").values_list("holder_id", flat=True)
    leader_id = lease.first()
    age = now - nodes[0].heartbeat_at if nodes else None
    # Several missed heartbeats in a row, not one late one, mean the scheduler is gone.
    limit = timedelta(seconds=max(settings.CRONADMIN_HEARTBEAT_SECONDS * 5, 10))
    return SchedulerStatus(nodes, leader_id, age, age is not None and age <= limit)


def job_state_counts() -> dict[str, int]:
    counts = dict(Job.objects.order_by().values_list("state").annotate(n=Count("id")))
    return {state: counts.get(state, 0) for state in Job.State.values}


def active_runs(limit: int = 50) -> list[Run]:
    return list(
        Run.objects.filter(state__in=Run.ACTIVE_STATES)
        .select_related("job")
        .only(*_RUN_ROW, "job__name")
        .order_by("-state", "scheduled_for")[:limit]
    )


_RUN_ROW = (
    "id",
    "job_id",
    "state",
    "trigger",
    "reason",
    "reason_code",
    "reason_params",
    "scheduled_for",
    "started_at",
    "finished_at",
    "attempt",
    "cancel_requested_at",
)


@dataclass
class Failure:
    """A run that failed for good: its last attempt, and how many attempts it took."""

    run: Run  # the last attempt
    attempts: int
    rerun: bool  # someone has asked for it to run again

    @property
    def scheduled(self) -> bool:
        return self.run.trigger in (Run.Trigger.SCHEDULE, Run.Trigger.RETRY) and (
            self.run.stands_for_id is None
        )


def recent_failures(limit: int = 10) -> list[Failure]:
    """The newest runs whose last attempt failed, one per run, not one per attempt; a run whose
    retry is still to come, or succeeded, has not failed."""
    # One query per state walks the (state, scheduled_for) index backwards; an IN over the
    # states would sort every failure ever recorded. Attempts of one run share its slot, so a
    # few times `limit` rows hold `limit` runs unless most of them are retried often.
    rows: list[Run] = []
    for state in FAILED_STATES:
        rows += (
            Run.objects.filter(state=state)
            .only("id", "retry_of_id", "scheduled_for")
            .order_by("-scheduled_for", "-id")[: limit * 4]
        )
    rows.sort(key=lambda r: (r.scheduled_for, r.pk), reverse=True)
    roots = list(dict.fromkeys(r.retry_of_id or r.pk for r in rows))[: limit * 2]
    if not roots:
        return []
    attempts: dict[int, list[Run]] = {}
    rerun: set[int] = set()
    for run in (
        Run.objects.filter(Q(pk__in=roots) | Q(retry_of_id__in=roots))
        .select_related("job")
        .only(*_RUN_ROW, "retry_of_id", "stands_for_id", "job__name")
        .annotate(rerun=Exists(Run.objects.filter(stands_for_id=OuterRef("pk"))))
    ):
        attempts.setdefault(run.retry_of_id or run.pk, []).append(run)
        if run.rerun:
            rerun.add(run.pk)
    failures = []
    for root in roots:
        tries = sorted(attempts.get(root, []), key=lambda r: (r.attempt, r.pk))
        if tries and tries[-1].state in FAILED_STATES:
            failures.append(Failure(tries[-1], len(tries), root in rerun))
    return failures[:limit]


@dataclass
class SuccessRate:
    by_state: dict[str, int]
    succeeded: int
    rated: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.succeeded / self.rated if self.rated else None


def success_rate(now: datetime | None = None, hours: int = 24) -> SuccessRate:
    since = (now or timezone.now()) - timedelta(hours=hours)
    counts = dict(
        Run.objects.filter(state__in=Run.FINAL_STATES, scheduled_for__gte=since)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
    )
    rated = sum(counts.get(s, 0) for s in RATED_STATES)
    return SuccessRate(counts, counts.get(Run.State.SUCCEEDED, 0), rated)


# --- jobs list -------------------------------------------------------------------------------

JOB_SORTS = {
    "name": ("name",),
    "-name": ("-name",),
    "updated": ("-updated_at", "name"),
    "kind": ("kind", "name"),
    "state": ("state", "name"),
    # Jobs that never ran go last on every database (PostgreSQL sorts NULL first when descending).
    "last_run": (F("last_run_at").desc(nulls_last=True), "name"),
}


@dataclass
class JobFilters:
    q: str = ""
    state: str = ""
    kind: str = ""
    label: str = ""
    last: str = ""  # the state of the newest run
    sort: str = "name"
    page: int = 1


@dataclass
class JobRow:
    job: Job
    strip: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    next_run: datetime | None = None

    @property
    def last_run(self) -> dict[str, Any] | None:
        return self.strip[-1] if self.strip else None


def _last_run(field_name: str) -> Subquery:
    newest = Run.objects.filter(job=OuterRef("pk")).order_by("-scheduled_for", "-id")
    return Subquery(newest.values(field_name)[:1])


def job_queryset(filters: JobFilters) -> QuerySet[Job]:
    jobs = Job.objects.all()
    if filters.q:
        jobs = jobs.filter(Q(name__icontains=filters.q) | Q(description__icontains=filters.q))
    if filters.state:
        jobs = jobs.filter(state=filters.state)
    if filters.kind:
        jobs = jobs.filter(kind=filters.kind)
    if filters.label:
        key, has_value, value = filters.label.partition("=")
        if has_value:
            # KeyTextTransform takes the key as one JSON key: "__" in it is not a path.
            jobs = jobs.filter(Exact(KeyTextTransform(key.strip(), "labels"), value.strip()))
        else:
            jobs = jobs.filter(labels__has_key=key.strip())
    if filters.last:
        jobs = jobs.alias(last_state=_last_run("state")).filter(last_state=filters.last)
    if filters.sort == "last_run":
        jobs = jobs.alias(last_run_at=_last_run("scheduled_for"))
    return jobs.order_by(*JOB_SORTS.get(filters.sort, JOB_SORTS["name"]))


def job_list(filters: JobFilters, now: datetime | None = None) -> tuple[Page, list[JobRow]]:
    now = now or timezone.now()
    jobs_found = job_queryset(filters)
    if filters.last:
        # The newest-run lookup runs once per job; counting and then fetching the page would
        # do it twice over every job. One pass for the matching ids, then only the page's rows.
        paginator = Paginator(list(jobs_found.values_list("id", flat=True)), JOBS_PER_PAGE)
        page = paginator.get_page(filters.page)
        by_id = Job.objects.in_bulk(list(page.object_list))
        jobs = [by_id[pk] for pk in page.object_list if pk in by_id]
    else:
        page = Paginator(jobs_found, JOBS_PER_PAGE).get_page(filters.page)
        jobs = list(page.object_list)
    prefetch_related_objects(jobs, "calendars")
    strips = run_strips([job.pk for job in jobs])
    rows = [
        JobRow(job, strips.get(job.pk, []), next(iter(job_next_runs(job, 1, now)), None))
        for job in jobs
    ]
    return page, rows


def run_strips(job_ids: list[int], length: int = STRIP_LENGTH) -> dict[int, list[dict[str, Any]]]:
    """The newest `length` runs of each job, oldest first, in one query.

    A window function would number every run of every listed job; a UNION of small
    index-ordered LIMIT queries reads only the rows shown.
    """
    if not job_ids:
        return {}
    table = connection.ops.quote_name(Run._meta.db_table)
    columns = "id, job_id, state, scheduled_for, started_at, finished_at, reason"
    one = (
        f"SELECT * FROM (SELECT {columns} FROM {table} WHERE job_id = %s "
        f"ORDER BY scheduled_for DESC, id DESC LIMIT {int(length)}) AS r{{n}}"
    )
    sql = " UNION ALL ".join(one.format(n=n) for n in range(len(job_ids)))
    strips: dict[int, list[dict[str, Any]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, list(job_ids))
        names = [c[0] for c in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            for name in ("scheduled_for", "started_at", "finished_at"):
                row[name] = _as_datetime(row[name])
            start, end = row["started_at"], row["finished_at"]
            row["duration"] = end - start if start and end else None
            strips.setdefault(row["job_id"], []).append(row)
    for strip in strips.values():
        strip.sort(key=lambda r: (r["scheduled_for"], r["id"]))
    return strips


def _as_datetime(value: Any) -> datetime | None:
    # Raw SQL skips the ORM's converters: SQLite hands back naive UTC datetimes (or text).
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- job detail ------------------------------------------------------------------------------


@dataclass
class RunFilters:
    state: str = ""
    trigger: str = ""
    page: int = 1


def job_runs(job: Job, filters: RunFilters) -> Page:
    runs = Run.objects.filter(job=job).only(*_RUN_ROW, "job_version")
    if filters.state:
        runs = runs.filter(state=filters.state)
    if filters.trigger:
        runs = runs.filter(trigger=filters.trigger)
    return Paginator(runs.order_by("-scheduled_for", "-id"), RUNS_PER_PAGE).get_page(filters.page)


def job_has_active_runs(job: Job) -> bool:
    return Run.objects.filter(job=job, state__in=Run.ACTIVE_STATES).exists()


def recent_durations(job: Job, limit: int = 40) -> list[Run]:
    """The newest finished runs that really ran, oldest first, for the duration chart."""
    runs = (
        Run.objects.filter(job=job, started_at__isnull=False, finished_at__isnull=False)
        .only("id", "state", "scheduled_for", "started_at", "finished_at")
        .order_by("-scheduled_for", "-id")[:limit]
    )
    return list(reversed(runs))


def job_versions(job: Job) -> list[JobVersion]:
    return list(
        JobVersion.objects.filter(job=job).select_related("created_by").order_by("-version")
    )


# --- runs ------------------------------------------------------------------------------------


def run_output(run: Run) -> tuple[str, int]:
    """The output to show: spooled files while the run goes on here, the stored copy after."""
    if run.state == Run.State.RUNNING and run.host in ("", socket.gethostname()):
        path = output_path(run.pk)
        if path.exists():
            return read_output(path)
    return run.output, run.output_dropped_bytes


def slot_replacements(run: Run) -> list[Run]:
    """The runs asked for to do the slot of `run` again (`run` itself left out), oldest first."""
    slot = run.stands_for_id or run.retry_of_id or run.pk
    return list(
        Run.objects.filter(stands_for_id=slot, retry_of__isnull=True)
        .exclude(pk=run.pk)
        .only(*_RUN_ROW)
        .order_by("id")
    )


def run_attempts(run: Run) -> list[Run]:
    first = run.retry_of_id or run.pk
    return list(
        Run.objects.filter(Q(pk=first) | Q(retry_of_id=first))
        .only(*_RUN_ROW)
        .order_by("attempt", "id")
    )


# --- chains ----------------------------------------------------------------------------------

CHAIN_CHOICES_SHOWN = 20


@dataclass
class ChainRow:
    """One job in the chain editor, with the events that start it."""

    job: Job
    events: dict[str, bool]


def chain_rows(
    *, selected: dict[str, set[int]], q: str = "", exclude: int | None = None
) -> tuple[list[ChainRow], bool]:
    """The chain editor's rows: every chosen job, then the first others whose name has `q`.

    Chosen jobs are always listed so that filtering never drops a choice from the form. Returns
    the rows and whether more jobs matched than are shown.
    """
    chosen = set().union(*selected.values())
    others = Job.objects.exclude(pk__in=chosen).only("id", "name").order_by("name")
    if exclude is not None:
        others = others.exclude(pk=exclude)
    if q:
        others = others.filter(name__icontains=q)
    found = list(others[: CHAIN_CHOICES_SHOWN + 1])
    jobs = list(Job.objects.filter(pk__in=chosen).only("id", "name").order_by("name"))
    rows = [
        ChainRow(job, {name: job.pk in ids for name, ids in selected.items()})
        for job in jobs + found[:CHAIN_CHOICES_SHOWN]
    ]
    return rows, len(found) > CHAIN_CHOICES_SHOWN


def job_links(job: Job) -> dict[str, list[JobLink]]:
    """What starts `job` and what it starts, for its page."""
    return {
        "started_by": list(
            job.upstream_links.select_related("upstream").order_by("upstream__name", "event")
        ),
        "starts": list(
            job.downstream_links.select_related("downstream").order_by("event", "downstream__name")
        ),
    }


def run_chained(run: Run) -> list[Run]:
    """The runs this run started through chains."""
    return list(run.chained_runs.select_related("job").only(*_RUN_ROW, "job__name").order_by("id"))


def run_newest_after(run: Run) -> Run | None:
    """The job's newest run asked for after this one: a reader of an old run learns of it."""
    return run.job.runs.filter(pk__gt=run.pk).only("id", "state").order_by("-id").first()


# --- audit -----------------------------------------------------------------------------------


@dataclass
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    page: int = 1


def audit_events(filters: AuditFilters) -> Page:
    events = AuditEvent.objects.all()
    if filters.actor:
        events = events.filter(actor_name__icontains=filters.actor)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
    if filters.object_id:
        events = events.filter(object_id=filters.object_id)
    return Paginator(events.order_by("-at", "-id"), AUDIT_PER_PAGE).get_page(filters.page)


# --- notifications ---------------------------------------------------------------------------

NOTIFICATIONS_SHOWN = 20


def job_notifications(job: Job) -> list[Notification]:
    """The newest messages about a job, for its page (the API pages through all of them)."""
    return list(
        Notification.objects.filter(job=job)
        .annotate(run_count=Count("runs"))
        .order_by("-created_at", "-id")[:NOTIFICATIONS_SHOWN]
    )


def run_notifications(run: Run) -> list[Notification]:
    return list(
        Notification.objects.filter(runs=run)
        .annotate(run_count=Count("runs"))
        .order_by("-created_at", "-id")
    )

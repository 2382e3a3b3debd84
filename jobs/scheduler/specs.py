"""An immutable snapshot of one job as the scheduler needs it, rebuilt from the models."""

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef

from jobs.calendars import CalendarSchedule, CalendarSet, Verdict, with_calendars
from jobs.models import Job, JobLink
from jobs.schedules import Schedule, ScheduleError, parse_schedule


@dataclass(frozen=True)
class JobSpec:
    id: int
    name: str
    version: int
    kind: str
    config: Any
    schedule_text: str
    timezone: str
    schedule_anchor: datetime
    start_at: datetime | None
    end_at: datetime | None
    state: str
    paused_until: datetime | None
    pause_note: str
    timeout: int
    max_retries: int
    overlap: str
    max_concurrent: int
    misfire: str
    misfire_limit: int
    priority: int
    retry_backoff: str
    retry_backoff_seconds: int
    # The self-registering executor that owns this job, if any: its slots are skipped while the
    # executor is offline (see Engine._offline_executors).
    executor_id: int | None = None
    # The Celery queue its task and shell runs go to (jobs.dispatch); empty: the local pools.
    queue: str = ""
    # Whether anyone wants messages about its runs: only then are they handed to the notifier,
    # so a thousand quiet successes a second cost it nothing.
    notifies: bool = False
    # Whether it starts other jobs (chains): only then does an ended run need the links looked up.
    starts_jobs: bool = False
    # Its calendars, and whether a slot in one is skipped or moved (Job.OnCalendar).
    calendars: CalendarSet = field(default_factory=CalendarSet)
    on_calendar: str = Job.OnCalendar.SKIP

    @classmethod
    def from_job(cls, job: Job, calendars: CalendarSet | None = None) -> "JobSpec":
        return cls(
            id=job.pk,
            name=job.name,
            version=job.version,
            kind=job.kind,
            # Frozen dataclasses compare by value; JSON config is compared as its canonical text.
            config=_freeze(job.config),
            schedule_text=job.schedule,
            timezone=job.timezone,
            schedule_anchor=job.schedule_anchor,
            start_at=job.start_at,
            end_at=job.end_at,
            state=job.state,
            paused_until=job.paused_until,
            pause_note=job.pause_note,
            timeout=job.effective_timeout(),
            max_retries=job.max_retries,
            overlap=job.overlap,
            max_concurrent=max(job.max_concurrent, 1),
            misfire=job.misfire,
            misfire_limit=job.misfire_limit,
            priority=job.priority,
            retry_backoff=job.retry_backoff,
            retry_backoff_seconds=job.retry_backoff_seconds,
            executor_id=job.executor_id,
            queue=job.queue if job.kind != Job.Kind.HTTP else "",
            notifies=bool(job.notify_on and job.notify_targets()),
            # Annotated by load_specs; a job read some other way is assumed to start others.
            starts_jobs=getattr(job, "starts_jobs", True),
            # load_specs reads every job's calendars at once and hands them in.
            calendars=calendars if calendars is not None else CalendarSet(),
            on_calendar=job.on_calendar,
        )

    def schedule(self) -> Schedule | CalendarSchedule | None:
        # A definition written behind the services' back (raw SQL) may not parse: such a job
        # simply does not fire, and the reconcile logs it.
        return self._schedule

    @functools.cached_property
    def _schedule(self) -> Schedule | CalendarSchedule | None:
        try:
            schedule = parse_schedule(
                self.schedule_text, self.timezone, anchor=self.schedule_anchor
            )
        except ScheduleError:
            return None
        return with_calendars(schedule, self.calendars, self.on_calendar)

    def calendar_verdict(self, slot: datetime) -> Verdict | None:
        """Whether the job's calendars skipped the slot at `slot`, or moved it there."""
        schedule = self.schedule()
        return schedule.verdict(slot) if isinstance(schedule, CalendarSchedule) else None

    def timing_key(self) -> tuple[Any, ...]:
        """What decides the fire times: when it changes, the trigger is rebuilt."""
        return (
            self.schedule_text,
            self.timezone,
            self.schedule_anchor,
            self.start_at,
            self.end_at,
            self.calendars,
            self.on_calendar,
        )

    def is_paused_at(self, instant: datetime) -> bool:
        if self.state != Job.State.PAUSED:
            return False
        return self.paused_until is None or instant < self.paused_until

    def params(self) -> dict[str, Any]:
        return _thawed(self.config)

    def retries_after(self, attempt: int) -> bool:
        """Whether a failed attempt number `attempt` is followed by another one."""
        return attempt <= self.max_retries

    def retry_delay(self, attempt: int) -> float:
        job = Job(
            retry_backoff=self.retry_backoff, retry_backoff_seconds=self.retry_backoff_seconds
        )
        return job.retry_delay(attempt)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("__list__", tuple(_freeze(v) for v in value))
    return value


@functools.lru_cache(maxsize=4096)
def _thawed(config: Any) -> Any:
    # Every start of a job needs its settings as a dict; build it once per definition.
    return _thaw(config)


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == "__list__":
            return [_thaw(v) for v in value[1]]
        return {k: _thaw(v) for k, v in value}
    return value


def calendar_sets() -> dict[int, CalendarSet]:
    """Every job's calendars (jobs without any are left out), in one query."""
    rules: dict[int, Any] = {}
    by_job: dict[int, list[Any]] = defaultdict(list)
    links = Job.calendars.through.objects.select_related("calendar").order_by("calendar__name")
    for link in links:
        if link.calendar_id not in rules:
            rules[link.calendar_id] = link.calendar.rule()
        by_job[link.job_id].append(rules[link.calendar_id])
    return {job_id: CalendarSet(tuple(found)) for job_id, found in by_job.items()}


def load_specs() -> dict[int, JobSpec]:
    calendars = calendar_sets()
    jobs = Job.objects.annotate(
        starts_jobs=Exists(JobLink.objects.filter(upstream=OuterRef("pk")))
    ).iterator(chunk_size=2000)
    return {job.pk: JobSpec.from_job(job, calendars.get(job.pk, CalendarSet())) for job in jobs}

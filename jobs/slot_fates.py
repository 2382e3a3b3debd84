"""“Why didn't it run?”: every slot a job's schedule had in a period, with its fate from the ledger.

The fate of a recorded slot comes from its row's state and `cause` code, never from the wording
of its reason. A slot without a row gets an explanation worked out from the job's own dates.
Read-only, like jobs.selectors.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from jobs.models import Job, Run
from jobs.selectors import job_schedule

MAX_PERIOD = timedelta(days=7)
MAX_SLOTS = 2000
# Runs of one period read at most; a week of a busy schedule with retries stays far below.
MAX_RUNS = 20_000
# A slot whose own run ended (or is on its way) like this ran as planned.
NORMAL_STATES = (Run.State.SUCCEEDED, Run.State.RUNNING, Run.State.QUEUED)


class Fate(models.TextChoices):
    RAN = "ran", gettext_lazy("Ran")
    OVERLAP = "overlap", gettext_lazy("Skipped: still running")
    PAUSED = "paused", gettext_lazy("Skipped: paused")
    SCHEDULER_DOWN = "scheduler_down", gettext_lazy("Missed: scheduler down or late")
    EXECUTOR_OFFLINE = "executor_offline", gettext_lazy("Skipped: executor offline")
    CALENDAR = "calendar", gettext_lazy("Skipped: calendar")
    OTHER = "other", gettext_lazy("Not run: other reason")
    NO_RECORD = "no_record", gettext_lazy("No record")


SKIP_FATES = {
    Run.Cause.OVERLAP: Fate.OVERLAP,
    Run.Cause.PAUSED: Fate.PAUSED,
    Run.Cause.EXECUTOR_OFFLINE: Fate.EXECUTOR_OFFLINE,
    Run.Cause.CALENDAR: Fate.CALENDAR,
}
MISS_FATES = {Run.Cause.SCHEDULER_DOWN: Fate.SCHEDULER_DOWN, Run.Cause.LATE: Fate.SCHEDULER_DOWN}


def fate_of(run: Run) -> str:
    if run.state == Run.State.SKIPPED:
        return SKIP_FATES.get(run.cause, Fate.OTHER)
    if run.state == Run.State.MISSED:
        return MISS_FATES.get(run.cause, Fate.OTHER)
    return Fate.RAN


@dataclass
class SlotFate:
    at: datetime
    fate: str
    run: Run | None = None  # the slot's own row
    later: list[Run] = field(default_factory=list)  # retries and re-runs for it, oldest first
    note: str = ""  # why a slot has no row, or that a row is not a slot of today's schedule

    @property
    def fate_label(self) -> str:
        return str(Fate(self.fate).label)

    @property
    def tone(self) -> str:
        # A slot that ran shows its outcome's badge; these are for the slots that did not.
        return "warn" if self.fate in (Fate.SCHEDULER_DOWN, Fate.EXECUTOR_OFFLINE) else "muted"

    @property
    def ran_as_planned(self) -> bool:
        """Ran on its own run, which went (or is going) well: nothing to look into."""
        return (
            self.fate == Fate.RAN
            and self.run is not None
            and not self.later
            and self.run.state in NORMAL_STATES
        )

    @property
    def newest(self) -> Run | None:
        """The row that tells how the slot ended: its last retry or re-run, else its own."""
        return self.later[-1] if self.later else self.run


@dataclass
class SlotReport:
    job: Job
    start: datetime
    end: datetime
    slots: list[SlotFate]  # newest first
    counts: dict[str, int]  # per fate, every fate present
    other_runs: list[Run]  # manual, API and chained runs of the period that stand for no slot
    no_schedule: bool = False  # @manual, or a schedule that does not parse

    @property
    def unusual(self) -> list[SlotFate]:
        """The slots to look into first: every one that did not simply run well."""
        return [slot for slot in self.slots if not slot.ran_as_planned]

    @property
    def as_planned(self) -> list[SlotFate]:
        return [slot for slot in self.slots if slot.ran_as_planned]


def default_start(job: Job, end: datetime) -> datetime:
    """Where "why didn't it run?" starts when no start is chosen: at the job's creation or its
    last schedule change, as far back as a report may reach (a week, and MAX_SLOTS slots)."""
    start = max(job.schedule_anchor, job.created_at, end - MAX_PERIOD)
    schedule = job_schedule(job)
    if schedule is None or schedule.kind == "manual" or start >= end:
        return min(start, end - timedelta(minutes=1))
    # A frequent schedule fills a week with more slots than a report holds: the newest day, or
    # hour, or ten minutes of them then.
    for span in (None, timedelta(days=1), timedelta(hours=1), timedelta(minutes=10)):
        candidate = start if span is None else max(start, end - span)
        found = schedule.slots_between(candidate, end, MAX_SLOTS + 1)
        if len(found) <= MAX_SLOTS:
            return candidate
    return end - timedelta(minutes=1)


def check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationError({"end": _("The end must be after the start.")})
    if end - start > MAX_PERIOD:
        raise ValidationError(
            {"start": _("Choose a period of at most %(n)d days.") % {"n": MAX_PERIOD.days}}
        )


def job_slot_report(
    job: Job, start: datetime, end: datetime, now: datetime | None = None
) -> SlotReport:
    """The slots of [start, end); raises ValidationError for a period too long or too full."""
    check_period(start, end)
    now = now or timezone.now()
    schedule = job_schedule(job)
    no_schedule = schedule is None or schedule.kind == "manual"
    instants: list[datetime] = []
    if not no_schedule:
        # slots_between is (start, end]; the report is [start, end).
        found = schedule.slots_between(start - timedelta(microseconds=1), end, MAX_SLOTS + 2)
        instants = [t for t in found if t < end]
        if len(instants) > MAX_SLOTS:
            raise ValidationError(
                {
                    "start": _(
                        "This schedule plans more than %(n)s runs in that period: choose a "
                        "shorter one."
                    )
                    % {"n": f"{MAX_SLOTS:,}"}
                }
            )
    runs = list(
        Run.objects.filter(job=job, scheduled_for__gte=start, scheduled_for__lt=end)
        .select_related("requested_by")
        .defer("output", "error")
        .order_by("scheduled_for", "id")[:MAX_RUNS]
    )
    own = {run.scheduled_for: run for run in runs if run.trigger == Run.Trigger.SCHEDULE}
    by_id = {run.pk: run for run in runs}
    later: dict[int, list[Run]] = {}
    other_runs = []
    for run in runs:
        if run.trigger == Run.Trigger.SCHEDULE:
            continue
        slot_id = run.stands_for_id or run.retry_of_id
        root = by_id.get(slot_id) if slot_id else None
        if root is not None and root.trigger == Run.Trigger.SCHEDULE:
            later.setdefault(root.pk, []).append(run)
        else:
            other_runs.append(run)
    known = set(instants)
    oldest = (
        Run.objects.filter(job=job)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)[:1]
    )
    oldest_run = oldest[0] if oldest else None
    slots = []
    for at in sorted(known | set(own), reverse=True):
        run = own.get(at)
        if run is None:
            note = _no_record_note(job, at, now, oldest_run)
            slots.append(SlotFate(at, Fate.NO_RECORD, note=note))
            continue
        note = "" if at in known or no_schedule else _("Not planned by the current schedule.")
        slots.append(SlotFate(at, fate_of(run), run, later.get(run.pk, []), note))
    counts = Counter(slot.fate for slot in slots)
    return SlotReport(
        job,
        start,
        end,
        slots,
        {fate: counts.get(fate, 0) for fate in Fate.values},
        other_runs,
        no_schedule,
    )


def _no_record_note(job: Job, at: datetime, now: datetime, oldest_run: datetime | None) -> str:
    grace = timedelta(seconds=settings.CRONADMIN_MISFIRE_GRACE_SECONDS)
    if at > now:
        return _("Not due yet.")
    if job.start_at and at < job.start_at:
        return _("Before the job's start date.")
    if job.end_at and at > job.end_at:
        return _("After the job's end date.")
    if at < job.created_at:
        return _("Before the job existed.")
    if at < job.schedule_anchor:
        return _(
            "Before the current schedule took effect: the schedule or its time zone was "
            "changed later, so this run may not have been planned then."
        )
    if now - at <= grace:
        return _("Just due: the scheduler records it when it fires, within the grace period.")
    if oldest_run is not None and at < oldest_run:
        return _(
            "Older than the oldest run kept: removed by the history clean-up, or never "
            "recorded because no scheduler was running."
        )
    return _(
        "Not recorded yet: no scheduler has run since this time. The next scheduler to start "
        "records it as missed, or catches it up as the job's missed-runs policy says."
    )

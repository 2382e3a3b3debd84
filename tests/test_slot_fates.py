"""The fate of every slot of a period, from the ledger's rows and their cause codes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from jobs import services
from jobs.models import Job, Run
from jobs.slot_fates import MAX_SLOTS, Fate, fate_of, job_slot_report

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def make_job(schedule: str = "*/10 * * * *", **fields) -> Job:
    job = services.job_create(
        actor=None,
        name=fields.pop("name", "every ten"),
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule=schedule,
        **fields,
    )
    # As if it had existed for a day before T0, with the same schedule all along.
    Job.objects.filter(pk=job.pk).update(
        created_at=T0 - timedelta(days=1), schedule_anchor=T0 - timedelta(days=1)
    )
    job.refresh_from_db()
    return job


def row(job: Job, minutes: int, state: str, cause: str = "", **fields) -> Run:
    return Run.objects.create(
        job=job,
        job_version=1,
        trigger=fields.pop("trigger", Run.Trigger.SCHEDULE),
        state=state,
        cause=cause,
        scheduled_for=T0 + timedelta(minutes=minutes),
        **fields,
    )


@pytest.mark.parametrize(
    "state, cause, fate",
    [
        (Run.State.SUCCEEDED, "", Fate.RAN),
        (Run.State.FAILED, "", Fate.RAN),
        (Run.State.INTERRUPTED, "", Fate.RAN),
        (Run.State.SUCCEEDED, Run.Cause.CATCH_UP, Fate.RAN),
        (Run.State.SKIPPED, Run.Cause.OVERLAP, Fate.OVERLAP),
        (Run.State.SKIPPED, Run.Cause.PAUSED, Fate.PAUSED),
        (Run.State.SKIPPED, Run.Cause.EXECUTOR_OFFLINE, Fate.EXECUTOR_OFFLINE),
        (Run.State.SKIPPED, Run.Cause.JOB_DELETED, Fate.OTHER),
        (Run.State.SKIPPED, "", Fate.OTHER),
        (Run.State.MISSED, Run.Cause.SCHEDULER_DOWN, Fate.SCHEDULER_DOWN),
        (Run.State.MISSED, Run.Cause.LATE, Fate.SCHEDULER_DOWN),
        (Run.State.MISSED, "", Fate.OTHER),
    ],
)
def test_fate_of_reads_state_and_cause(state, cause, fate):
    assert fate_of(Run(state=state, cause=cause)) == fate


def test_it_lists_every_slot_with_its_fate():
    job = make_job()
    ran = row(job, 0, Run.State.FAILED)
    retry = row(job, 0, Run.State.FAILED, trigger=Run.Trigger.RETRY, retry_of=ran, attempt=2)
    rerun = row(job, 0, Run.State.SUCCEEDED, trigger=Run.Trigger.MANUAL, stands_for=ran)
    row(job, 10, Run.State.SKIPPED, Run.Cause.OVERLAP)
    row(job, 20, Run.State.MISSED, Run.Cause.SCHEDULER_DOWN)
    row(job, 30, Run.State.SKIPPED, Run.Cause.PAUSED)
    manual = row(job, 33, Run.State.SUCCEEDED, trigger=Run.Trigger.MANUAL)
    odd = row(job, 45, Run.State.SUCCEEDED)  # not a slot of */10: an older schedule's
    report = job_slot_report(job, T0, T0 + timedelta(minutes=60), now=T0 + timedelta(hours=2))

    assert [s.at.minute for s in report.slots] == [50, 45, 40, 30, 20, 10, 0]
    fates = {s.at.minute: s.fate for s in report.slots}
    assert fates == {
        0: Fate.RAN,
        10: Fate.OVERLAP,
        20: Fate.SCHEDULER_DOWN,
        30: Fate.PAUSED,
        40: Fate.NO_RECORD,
        45: Fate.RAN,
        50: Fate.NO_RECORD,
    }
    first = report.slots[-1]
    assert first.run == ran and first.later == [retry, rerun] and first.newest == rerun
    assert report.slots[1].run == odd and "current schedule" in report.slots[1].note
    assert "Not recorded yet" in report.slots[0].note
    assert report.other_runs == [manual]
    assert report.counts[Fate.RAN] == 2 and report.counts[Fate.NO_RECORD] == 2
    assert report.counts[Fate.EXECUTOR_OFFLINE] == 0 and sum(report.counts.values()) == 7


def test_it_explains_slots_without_a_row():
    job = make_job(end_at=T0 + timedelta(minutes=25))
    Job.objects.filter(pk=job.pk).update(
        created_at=T0 + timedelta(minutes=5), schedule_anchor=T0 + timedelta(minutes=12)
    )
    job.refresh_from_db()
    report = job_slot_report(job, T0, T0 + timedelta(minutes=60), now=T0 + timedelta(minutes=40))
    notes = {s.at.minute: s.note for s in report.slots}
    assert "existed" in notes[0]
    assert "current schedule took effect" in notes[10]
    assert "Not recorded yet" in notes[20]
    assert "end date" in notes[30]
    assert "Not due yet" in notes[50]
    assert all(s.fate == Fate.NO_RECORD for s in report.slots)


def test_it_explains_pruned_and_just_due_slots(settings):
    settings.CRONADMIN_MISFIRE_GRACE_SECONDS = 30
    job = make_job()
    row(job, 30, Run.State.SUCCEEDED)
    report = job_slot_report(
        job, T0, T0 + timedelta(minutes=41), now=T0 + timedelta(minutes=40, seconds=10)
    )
    notes = {s.at.minute: s.note for s in report.slots}
    assert "clean-up" in notes[0]
    assert "Just due" in notes[40]


def test_a_manual_job_has_no_slots():
    job = make_job("@manual")
    row(job, 5, Run.State.SUCCEEDED, trigger=Run.Trigger.MANUAL)
    report = job_slot_report(job, T0, T0 + timedelta(hours=1), now=T0 + timedelta(hours=2))
    assert report.no_schedule and report.slots == [] and len(report.other_runs) == 1


@pytest.mark.parametrize(
    "start, end, message",
    [
        (T0, T0, "after the start"),
        (T0, T0 + timedelta(days=7, seconds=1), "at most 7 days"),
    ],
)
def test_it_bounds_the_period(start, end, message):
    with pytest.raises(ValidationError, match=message):
        job_slot_report(make_job(), start, end)


def test_it_bounds_the_number_of_slots():
    job = make_job("@every 1m")
    with pytest.raises(ValidationError, match="more than 2,000 runs"):
        job_slot_report(job, T0, T0 + timedelta(minutes=MAX_SLOTS + 5))
    assert len(job_slot_report(job, T0, T0 + timedelta(minutes=MAX_SLOTS - 5)).slots) > 1900

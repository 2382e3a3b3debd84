"""The real scheduler records why slots did not run, and runs re-run slots as owed work."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job, Run
from jobs.slot_fates import Fate, job_slot_report
from tests.conftest import runs_of, wait_for
from tests.test_scheduler import make_job

pytestmark = pytest.mark.timeout(90)


def test_the_why_view_classifies_what_the_scheduler_recorded(start_scheduler):
    began = timezone.now()
    # Slots owed from before the scheduler started: missed (policy skip), past a 1 s grace.
    missed = make_job(
        "missed",
        schedule="@every 2s",
        misfire=Job.Misfire.SKIP,
        schedule_anchor=began - timedelta(seconds=9),
    )
    # A run lasting longer than the period: the slots in between are skipped by overlap.
    busy = make_job("busy", schedule="@every 1s", task="demo.sleep", params={"seconds": 2.5})
    paused = make_job("paused", schedule="@every 1s")
    services.job_pause(actor=None, job=paused, until=began + timedelta(hours=1))
    scheduler = start_scheduler(CRONADMIN_MISFIRE_GRACE_SECONDS="1")
    wait_for(lambda: runs_of(busy, state=Run.State.SUCCEEDED), timeout=30)
    wait_for(lambda: len(runs_of(busy, state=Run.State.SKIPPED)) >= 2, timeout=30)
    wait_for(lambda: runs_of(paused, state=Run.State.SKIPPED), timeout=30)
    scheduler.stop()
    end = timezone.now() + timedelta(seconds=1)
    start = began - timedelta(seconds=10)

    report = job_slot_report(missed, start, end)
    gone = [s for s in report.slots if s.fate == Fate.SCHEDULER_DOWN]
    assert len(gone) >= 3, scheduler.log()
    assert {s.run.cause for s in gone} == {Run.Cause.SCHEDULER_DOWN}
    assert all(s.at < began for s in gone)

    report = job_slot_report(busy, start, end)
    assert report.counts[Fate.RAN] >= 1 and report.counts[Fate.OVERLAP] >= 2
    for slot in report.slots:
        if slot.fate == Fate.OVERLAP:
            assert slot.run.state == Run.State.SKIPPED and slot.run.cause == Run.Cause.OVERLAP
    assert any(s.fate == Fate.RAN and s.run.state == Run.State.SUCCEEDED for s in report.slots)

    report = job_slot_report(paused, start, end)
    assert report.counts[Fate.PAUSED] >= 1 and report.counts[Fate.RAN] == 0

    # Re-running the missed slots: every one runs, one after another, though the job's overlap
    # policy skips a new run while one is going; each stands for its slot.
    services.job_update(actor=None, job=missed, schedule="@manual")
    plan_slots = [s.run for s in gone]
    reruns = [services.run_slot_rerun(actor=None, run=run) for run in plan_slots]
    start_scheduler(CRONADMIN_MISFIRE_GRACE_SECONDS="1")
    wait_for(
        lambda: (
            Run.objects.filter(pk__in=[r.pk for r in reruns], state="succeeded").count()
            == len(reruns)
        ),
        timeout=45,
    )
    report = job_slot_report(missed, start, end)
    for slot in report.slots:
        if slot.run in plan_slots:
            assert slot.fate == Fate.SCHEDULER_DOWN
            assert [r.state for r in slot.later] == [Run.State.SUCCEEDED]


def test_failed_slots_rerun_in_bulk_all_run_despite_the_overlap_policy(start_scheduler):
    job = make_job("flaky", schedule="@every 1s", task="demo.fail", params={})
    scheduler = start_scheduler()
    wait_for(lambda: len(runs_of(job, state=Run.State.FAILED)) >= 3, timeout=30)
    services.job_update(
        actor=None, job=job, kind="task", config={"task": "demo.sleep", "params": {"seconds": 0.3}}
    )
    services.job_update(actor=None, job=job, schedule="@manual")
    end = timezone.now() + timedelta(seconds=1)
    plan = services.runs_rerun_failed(actor=None, start=end - timedelta(minutes=5), end=end)
    assert plan.count >= 3
    wait_for(
        lambda: (
            Run.objects.filter(pk__in=plan.runs, state=Run.State.SUCCEEDED).count()
            == len(plan.runs)
        ),
        timeout=45,
    )
    scheduler.stop()
    assert not Run.objects.filter(pk__in=plan.runs, state=Run.State.SKIPPED).exists()

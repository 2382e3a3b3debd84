"""Running slots again: one at a time, and the failed slots of a period."""

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from jobs import services
from jobs.models import AuditEvent, ChangeMarker, Job, Run
from tests.conftest import user_with_role

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def make_job(name: str = "echo", **fields) -> Job:
    defaults = {
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "hi"}},
        "schedule": "*/5 * * * *",
    }
    return services.job_create(actor=None, name=name, **{**defaults, **fields})


def slot_run(job: Job, state: str, hours_ago: float = 1, **fields) -> Run:
    at = NOW - timedelta(hours=hours_ago)
    values = {
        "job": job,
        "job_version": job.version,
        "trigger": Run.Trigger.SCHEDULE,
        "state": state,
        "scheduled_for": at,
        "created_at": at,
        "finished_at": None if state in Run.ACTIVE_STATES else at,
        **fields,
    }
    return Run.objects.create(**values)


def retry_of(run: Run, state: str) -> Run:
    return Run.objects.create(
        job=run.job,
        job_version=run.job_version,
        trigger=Run.Trigger.RETRY,
        state=state,
        scheduled_for=run.scheduled_for,
        attempt=run.attempt + 1,
        retry_of=run,
        stands_for_id=run.stands_for_id,
    )


@pytest.fixture(name="operator")
def operator_fixture():
    return user_with_role("Operator")


class TestRunSlotRerun:
    @pytest.mark.parametrize("state", services.RERUNNABLE_STATES)
    def test_it_works(self, operator, state):
        job = make_job()
        run = slot_run(job, state)
        before = ChangeMarker.objects.get(id=1).version
        rerun = services.run_slot_rerun(actor=operator, run=run)
        assert rerun.stands_for == run
        assert (rerun.trigger, rerun.state, rerun.attempt) == ("manual", "queued", 1)
        assert rerun.scheduled_for == run.scheduled_for
        assert rerun.requested_by == operator
        assert f"#{run.pk}" in rerun.reason and "operator" in rerun.reason
        assert ChangeMarker.objects.get(id=1).version == before + 1
        event = AuditEvent.objects.get(action="run_now", object_id=str(job.pk))
        assert event.changes == {"run": [None, rerun.pk], "stands_for": [None, run.pk]}

    def test_a_rerun_of_a_rerun_or_a_retry_stands_for_the_slot(self, operator):
        run = slot_run(make_job(), Run.State.FAILED)
        retry = retry_of(run, Run.State.FAILED)
        first = services.run_slot_rerun(actor=operator, run=retry)
        assert first.stands_for == run
        Run.objects.filter(pk=first.pk).update(state=Run.State.FAILED)
        second = services.run_slot_rerun(actor=operator, run=first)
        assert second.stands_for == run
        assert services.slot_run_id(second) == run.pk

    def test_the_api_marks_its_reruns(self, operator):
        run = slot_run(make_job(), Run.State.MISSED)
        rerun = services.run_slot_rerun(actor=operator, run=run, trigger=Run.Trigger.API)
        assert rerun.trigger == "api"
        with pytest.raises(ValueError):
            services.run_slot_rerun(actor=operator, run=run, trigger=Run.Trigger.RETRY)

    @pytest.mark.parametrize("state", [Run.State.QUEUED, Run.State.RUNNING])
    def test_it_refuses_a_run_still_going(self, operator, state):
        run = slot_run(make_job(), state)
        with pytest.raises(ValidationError, match="still"):
            services.run_slot_rerun(actor=operator, run=run)
        assert Run.objects.count() == 1

    def test_it_refuses_a_success(self, operator):
        run = slot_run(make_job(), Run.State.SUCCEEDED)
        with pytest.raises(ValidationError, match="succeeded"):
            services.run_slot_rerun(actor=operator, run=run)
        assert Run.objects.count() == 1

    def test_it_refuses_a_slot_already_being_rerun(self, operator):
        run = slot_run(make_job(), Run.State.FAILED)
        queued = services.run_slot_rerun(actor=operator, run=run)
        with pytest.raises(ValidationError, match=f"run #{queued.pk} is queued"):
            services.run_slot_rerun(actor=operator, run=run)
        assert Run.objects.count() == 2
        # Once that one ended, the slot may be run again.
        Run.objects.filter(pk=queued.pk).update(state=Run.State.FAILED)
        assert services.run_slot_rerun(actor=operator, run=run).stands_for == run

    def test_it_refuses_a_slot_whose_retry_is_waiting(self, operator):
        run = slot_run(make_job(), Run.State.FAILED)
        retry = retry_of(run, Run.State.QUEUED)
        with pytest.raises(ValidationError, match=f"#{retry.pk}"):
            services.run_slot_rerun(actor=operator, run=run)

    def test_it_refuses_when_the_job_is_gone(self, operator):
        job = make_job()
        run = slot_run(job, Run.State.FAILED)
        Job.objects.filter(pk=job.pk).delete()
        with pytest.raises(ValidationError, match="deleted"):
            services.run_slot_rerun(actor=operator, run=run)
        assert Run.objects.count() == 0

    def test_it_needs_an_operator(self):
        run = slot_run(make_job(), Run.State.FAILED)
        with pytest.raises(PermissionDenied):
            services.run_slot_rerun(actor=user_with_role("Viewer"), run=run)
        assert Run.objects.count() == 1


class TestRunsRerunFailed:
    def test_it_counts_each_failed_slot_once_and_reruns_it(self, operator):
        job, other = make_job(), make_job("other")
        failed = slot_run(job, Run.State.FAILED, 1)
        timed_out = slot_run(job, Run.State.TIMED_OUT, 2)
        # Three failed attempts of one slot: one re-run.
        tried = slot_run(other, Run.State.FAILED, 3)
        retry_of(retry_of(tried, Run.State.FAILED), Run.State.FAILED)
        # Not counted: a retry succeeded, a retry still waits, not failures, out of the period.
        healed = slot_run(job, Run.State.FAILED, 4)
        retry_of(healed, Run.State.SUCCEEDED)
        waiting = slot_run(job, Run.State.FAILED, 5)
        retry_of(waiting, Run.State.QUEUED)
        slot_run(job, Run.State.MISSED, 6)
        slot_run(job, Run.State.SUCCEEDED, 7)
        slot_run(job, Run.State.FAILED, 30)
        start, end = NOW - timedelta(hours=24), NOW

        plan = services.runs_rerun_failed(actor=operator, start=start, end=end, dry_run=True)
        assert plan.count == 3 and plan.runs == []
        assert plan.by_job == [(job.pk, "echo", 2), (other.pk, "other", 1)]
        count = Run.objects.count()
        assert Run.objects.filter(stands_for__isnull=False).count() == 0

        plan = services.runs_rerun_failed(actor=operator, start=start, end=end)
        assert plan.count == 3 and len(plan.runs) == 3
        assert Run.objects.count() == count + 3
        made = Run.objects.filter(pk__in=plan.runs)
        assert {r.stands_for_id for r in made} == {failed.pk, timed_out.pk, tried.pk}
        assert {r.trigger for r in made} == {"manual"} and {r.state for r in made} == {"queued"}
        for rerun in made:
            assert rerun.scheduled_for == rerun.stands_for.scheduled_for
        assert AuditEvent.objects.filter(action="rerun_failed").count() == 2

        again = services.runs_rerun_failed(actor=operator, start=start, end=end)
        assert (again.count, again.already_rerun, again.runs) == (0, 3, [])
        assert Run.objects.count() == count + 3

    def test_it_takes_chosen_jobs_only(self, operator):
        job, other = make_job(), make_job("other")
        slot_run(job, Run.State.FAILED)
        slot_run(other, Run.State.FAILED)
        plan = services.runs_rerun_failed(
            actor=operator, start=NOW - timedelta(hours=2), end=NOW, job_ids=[other.pk]
        )
        assert [r.job_id for r in Run.objects.filter(pk__in=plan.runs)] == [other.pk]

    @pytest.mark.parametrize(
        "start, end, job_ids, field",
        [
            (NOW, NOW - timedelta(hours=1), None, "end"),
            (NOW - timedelta(days=32), NOW, None, "start"),
            (NOW - timedelta(hours=1), NOW, [424242], "jobs"),
            (NOW - timedelta(hours=1), NOW, [], "jobs"),
        ],
    )
    def test_it_rejects_bad_input_and_writes_nothing(self, operator, start, end, job_ids, field):
        slot_run(make_job(), Run.State.FAILED, 0.5)
        with pytest.raises(ValidationError) as caught:
            services.runs_rerun_failed(actor=operator, start=start, end=end, job_ids=job_ids)
        assert field in caught.value.message_dict
        assert Run.objects.count() == 1

    def test_it_caps_the_number_of_runs(self, operator, monkeypatch):
        monkeypatch.setattr("jobs.services.reruns.MAX_RERUNS", 2)
        job = make_job()
        for hours in (1, 2, 3):
            slot_run(job, Run.State.FAILED, hours)
        with pytest.raises(ValidationError, match="More than 2"):
            services.runs_rerun_failed(actor=operator, start=NOW - timedelta(hours=5), end=NOW)
        assert Run.objects.count() == 3

    def test_it_needs_an_operator(self):
        slot_run(make_job(), Run.State.FAILED)
        with pytest.raises(PermissionDenied):
            services.runs_rerun_failed(
                actor=user_with_role("Viewer"), start=NOW - timedelta(hours=2), end=NOW
            )
        assert Run.objects.count() == 1

    def test_the_reason_names_the_period_in_utc(self, operator):
        slot_run(make_job(), Run.State.FAILED, 1)
        start = datetime(2000, 1, 1, 12, 0, tzinfo=UTC)
        Run.objects.update(scheduled_for=start + timedelta(hours=1))
        plan = services.runs_rerun_failed(
            actor=operator,
            start=start.astimezone(ZoneInfo("Asia/Shanghai")),
            end=start + timedelta(hours=2),
        )
        assert (
            "from 2000-01-01 12:00 UTC to 2000-01-01 14:00 UTC"
            in Run.objects.get(pk=plan.runs[0]).reason
        )


@pytest.mark.django_db(transaction=True)
def test_two_people_confirming_at_once_rerun_each_slot_once():
    operator = user_with_role("Operator")
    job = make_job()
    failed = [slot_run(job, Run.State.FAILED, hours) for hours in (1, 2, 3)]
    start, end = NOW - timedelta(hours=24), NOW
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_the_job() -> None:
        # Both confirmations have counted by the time they queue behind this transaction.
        try:
            with transaction.atomic():
                list(Job.objects.select_for_update().filter(pk=job.pk))
                Job.objects.filter(pk=job.pk).update(description="busy")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    def confirm() -> None:
        try:
            services.runs_rerun_failed(actor=operator, start=start, end=end)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_job)
    holder.start()
    assert holding.wait(10)
    people = [threading.Thread(target=confirm) for _ in range(2)]
    for person in people:
        person.start()
    time.sleep(1)
    release.set()
    for thread in [holder, *people]:
        thread.join(30)
    assert errors == []
    for run in failed:
        assert Run.objects.filter(stands_for=run).count() == 1

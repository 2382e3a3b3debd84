"""Chained jobs: the services that save links, and the real scheduler starting chain runs."""

import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from jobs import services
from jobs.models import AuditEvent, Job, JobLink, JobVersion, Run
from jobs.scheduler.chains import create_chained_runs
from jobs.scheduler.specs import load_specs
from jobs.scheduler.workers import Completion
from tests.conftest import runs_of, user_with_role, wait_for


def task_job(name: str, task: str = "demo.echo", schedule: str = "@manual", **fields) -> Job:
    params = {"message": name} if task == "demo.echo" else {"message": f"{name} broke"}
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": task, "params": params},
        schedule=schedule,
        **fields,
    )


def links(job: Job) -> set[tuple[str, str]]:
    return {(link.event, link.downstream.name) for link in job.downstream_links.all()}


# --- services ----------------------------------------------------------------------------------


@pytest.mark.django_db
class TestServices:
    def test_job_create_saves_links(self):
        b, c, d = task_job("b"), task_job("c"), task_job("d")
        a = task_job("a", on_success=[b], on_failure=[c.pk], on_finish=[str(d.pk)])
        assert links(a) == {("success", "b"), ("failure", "c"), ("finish", "d")}
        definition = JobVersion.objects.get(job=a).definition
        assert definition["on_success"] == [b.pk]
        assert definition["on_failure"] == [c.pk] and definition["on_finish"] == [d.pk]
        entry = AuditEvent.objects.get(action="create", object_id=str(a.pk))
        assert entry.changes["on_success"] == [None, [b.pk]]

    def test_job_update_replaces_links_as_a_new_version(self):
        b, c = task_job("b"), task_job("c")
        a = task_job("a", on_success=[b])
        a = services.job_update(actor=None, job=a, on_success=[c], on_failure=[b])
        assert a.version == 2
        assert links(a) == {("success", "c"), ("failure", "b")}
        entry = AuditEvent.objects.filter(action="update", object_id=str(a.pk)).get()
        assert entry.changes["on_success"] == [[b.pk], [c.pk]]
        assert entry.changes["on_failure"] == [None, [b.pk]]
        versions = dict(JobVersion.objects.filter(job=a).values_list("version", "definition"))
        assert versions[1]["on_success"] == [b.pk] and versions[2]["on_success"] == [c.pk]

    def test_job_update_keeps_the_events_it_is_not_given(self):
        b, c = task_job("b"), task_job("c")
        a = task_job("a", on_success=[b], on_failure=[c])
        services.job_update(actor=None, job=a, on_success=[c])
        assert links(a) == {("success", "c"), ("failure", "c")}

    def test_an_unchanged_chain_makes_no_version(self):
        b = task_job("b")
        a = task_job("a", on_success=[b])
        a = services.job_update(actor=None, job=a, on_success=[b.pk])
        assert a.version == 1

    def test_restoring_a_version_restores_its_links(self):
        b, c = task_job("b"), task_job("c")
        a = task_job("a", on_success=[b, c])
        services.job_update(actor=None, job=a, on_success=[])
        services.job_delete(actor=None, job=c)
        a = services.job_restore_version(actor=None, job=a, version=1)
        # The deleted job cannot come back; the rest of the version does.
        assert links(a) == {("success", "b")}
        # A version without links (such as one saved before chains existed) has none.
        a = services.job_restore_version(actor=None, job=a, version=2)
        assert links(a) == set()
        assert "on_success" not in JobVersion.objects.get(job=a, version=2).definition

    def test_it_refuses_a_cycle_with_its_path(self):
        a = task_job("A")
        b = task_job("B")
        c = task_job("C", on_success=[a])
        services.job_update(actor=None, job=b, on_failure=[c])
        with pytest.raises(ValidationError) as caught:
            services.job_update(actor=None, job=a, on_finish=[b])
        assert caught.value.error_dict.keys() == {"on_finish"}
        [message] = caught.value.message_dict["on_finish"]
        assert "A → B → C → A" in message
        assert not a.downstream_links.exists()
        assert Job.objects.get(pk=a.pk).version == 1

    def test_it_refuses_a_two_job_cycle_on_any_events(self):
        a = task_job("A")
        b = task_job("B", on_failure=[a])
        with pytest.raises(ValidationError) as caught:
            services.job_update(actor=None, job=a, on_success=[b])
        assert "A → B → A" in caught.value.message_dict["on_success"][0]

    def test_it_refuses_itself_and_missing_jobs(self):
        a = task_job("a")
        with pytest.raises(ValidationError) as caught:
            services.job_update(actor=None, job=a, on_success=[a], on_failure=[999_999])
        errors = caught.value.message_dict
        assert errors["on_success"] == ["A job cannot start itself."]
        assert errors["on_failure"] == ["No job with id 999999."]
        with pytest.raises(ValidationError) as caught:
            task_job("x", on_finish=["nope"])
        assert "on_finish" in caught.value.message_dict
        assert not JobLink.objects.exists() and not Job.objects.filter(name="x").exists()

    def test_chain_and_field_errors_are_reported_together(self):
        with pytest.raises(ValidationError) as caught:
            task_job("x", schedule="not a schedule", on_success=[999_999])
        assert {"schedule", "on_success"} <= caught.value.message_dict.keys()

    def test_it_checks_the_role(self):
        b = task_job("b")
        a = task_job("a")
        with pytest.raises(PermissionDenied):
            services.job_update(actor=user_with_role("Operator"), job=a, on_success=[b])
        assert not JobLink.objects.exists()

    def test_deleting_a_downstream_job_removes_its_links_only(self):
        b, c = task_job("b"), task_job("c")
        a = task_job("a", on_success=[b, c])
        services.job_delete(actor=None, job=b)
        a.refresh_from_db()
        assert links(a) == {("success", "c")}
        assert a.version == 1
        # The upstream job still saves and runs as before.
        services.job_update(actor=None, job=a, description="still fine")

    def test_a_paused_downstream_job_gets_a_skipped_row(self):
        b = task_job("b")
        a = task_job("a", on_success=[b])
        services.job_pause(actor=None, job=b, note="maintenance")
        parent = Run.objects.create(
            job=a,
            job_version=1,
            trigger=Run.Trigger.MANUAL,
            state=Run.State.SUCCEEDED,
            scheduled_for=timezone.now(),
        )
        done = Completion(run_id=parent.pk, job_id=a.pk, state=Run.State.SUCCEEDED)
        assert create_chained_runs([done], load_specs()) == 0
        [run] = runs_of(b)
        assert run.state == Run.State.SKIPPED and run.finished_at is not None
        assert run.trigger == Run.Trigger.CHAIN and run.parent_run == parent
        assert "maintenance" in run.reason

    def test_a_completion_that_did_not_end_the_row_starts_nothing(self):
        b = task_job("b")
        a = task_job("a", on_finish=[b])
        parent = Run.objects.create(
            job=a,
            job_version=1,
            trigger=Run.Trigger.MANUAL,
            state=Run.State.CANCELLED,
            scheduled_for=timezone.now(),
        )
        done = Completion(run_id=parent.pk, job_id=a.pk, state=Run.State.FAILED)
        assert create_chained_runs([done], load_specs()) == 0
        assert not runs_of(b)


# --- the real scheduler ----------------------------------------------------------------------

scheduler = pytest.mark.timeout(90)


def final(job: Job) -> list[Run]:
    return runs_of(job, state__in=Run.FINAL_STATES)


@scheduler
@pytest.mark.parametrize(
    "task, started, left_alone", [("demo.echo", "b", "c"), ("demo.fail", "c", "b")]
)
def test_a_chain_starts_the_job_of_the_outcome(start_scheduler, task, started, left_alone):
    b = task_job("b")
    c = task_job("c")
    a = task_job("a", task=task, on_success=[b], on_failure=[c])
    start_scheduler()
    parent = services.job_run_now(actor=None, job=a)
    downstream = Job.objects.get(name=started)
    [child] = wait_for(lambda: final(downstream), timeout=20)
    assert child.state == Run.State.SUCCEEDED
    assert child.output.strip() == started
    assert child.trigger == Run.Trigger.CHAIN
    assert child.parent_run_id == parent.pk
    assert child.job_version == downstream.version
    assert f"run #{parent.pk} of a" in child.reason
    time.sleep(0.5)
    assert not runs_of(Job.objects.get(name=left_alone))
    assert len(runs_of(downstream)) == 1


@scheduler
def test_on_finish_starts_after_success_and_after_failure(start_scheduler):
    d = task_job("d")
    ok = task_job("ok", on_finish=[d], on_success=[d])
    bad = task_job("bad", task="demo.fail", on_finish=[d])
    start_scheduler()
    first = services.job_run_now(actor=None, job=ok)
    wait_for(lambda: len(final(d)) == 1, timeout=20)
    second = services.job_run_now(actor=None, job=bad)
    wait_for(lambda: len(final(d)) == 2, timeout=20)
    # Linked twice (success and finish), it is still started once per parent run.
    assert sorted(r.parent_run_id for r in runs_of(d)) == [first.pk, second.pk]
    assert all(r.state == Run.State.SUCCEEDED for r in runs_of(d))


@scheduler
def test_a_failure_counts_only_after_the_last_retry(start_scheduler):
    c = task_job("c")
    a = task_job("a", task="demo.fail", on_failure=[c], max_retries=2, retry_backoff_seconds=1)
    start_scheduler()
    services.job_run_now(actor=None, job=a)
    [child] = wait_for(lambda: final(c), timeout=30)
    attempts = runs_of(a)
    assert [r.attempt for r in attempts] == [1, 2, 3]
    assert all(r.state == Run.State.FAILED for r in attempts)
    last = max(attempts, key=lambda r: r.attempt)
    assert child.parent_run_id == last.pk
    time.sleep(0.5)
    assert len(runs_of(c)) == 1


@scheduler
def test_a_chain_of_three_runs_end_to_end_with_manual_schedules(start_scheduler):
    c = task_job("c")
    b = task_job("b", on_success=[c])
    a = task_job("a", schedule="@every 1s", on_success=[b])
    start_scheduler()
    [grandchild] = wait_for(lambda: final(c)[:1], timeout=20)
    services.job_pause(actor=None, job=a)
    child = grandchild.parent_run
    assert child.job_id == b.pk and child.parent_run.job_id == a.pk
    assert child.parent_run.trigger == Run.Trigger.SCHEDULE


@scheduler
def test_a_paused_downstream_job_is_skipped_by_the_scheduler(start_scheduler):
    b = task_job("b")
    a = task_job("a", on_success=[b])
    services.job_pause(actor=None, job=b, note="quiet please")
    start_scheduler()
    services.job_run_now(actor=None, job=a)
    [child] = wait_for(lambda: final(b), timeout=20)
    assert child.state == Run.State.SKIPPED
    assert "quiet please" in child.reason


@scheduler
def test_the_overlap_policy_applies_to_chain_runs(start_scheduler):
    slow = services.job_create(
        actor=None,
        name="slow",
        kind="task",
        config={"task": "demo.sleep", "params": {"seconds": 3}},
        schedule="@manual",
        overlap="skip",
    )
    a = task_job("a", on_success=[slow])
    start_scheduler()
    services.job_run_now(actor=None, job=slow)
    wait_for(lambda: runs_of(slow, state=Run.State.RUNNING), timeout=20)
    services.job_run_now(actor=None, job=a)
    [chained] = wait_for(
        lambda: runs_of(slow, trigger=Run.Trigger.CHAIN, state=Run.State.SKIPPED), timeout=20
    )
    assert "still in progress" in chained.reason


@scheduler
def test_a_deleted_downstream_job_does_not_break_the_upstream_one(start_scheduler):
    b = task_job("b")
    c = task_job("c")
    a = task_job("a", on_success=[b, c])
    start_scheduler()
    services.job_delete(actor=None, job=b)
    parent = services.job_run_now(actor=None, job=a)
    [child] = wait_for(lambda: final(c), timeout=20)
    assert child.parent_run_id == parent.pk
    parent.refresh_from_db()
    assert parent.state == Run.State.SUCCEEDED
    assert not Run.objects.filter(job_id=b.pk).exists()

"""The dashboard and its live region."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job, Run, SchedulerLease, SchedulerNode
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_operator_fixture,
    as_viewer_fixture,
    fresh_caches_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_job,
    make_run,
    operator_fixture,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db


def alive_scheduler(age: float = 1) -> SchedulerNode:
    node = SchedulerNode.objects.create(
        host="sched-1", pid=42, heartbeat_at=timezone.now() - timedelta(seconds=age)
    )
    SchedulerLease.objects.update_or_create(name="scheduler", defaults={"holder": node})
    return node


class TestDashboard:
    def test_it_works(self, as_viewer):
        alive_scheduler()
        # Made first: at the top of the hour both are due at once, and the older job comes first.
        make_job("minutely", schedule="* * * * *")
        hourly = make_job("hourly", schedule="@hourly")
        make_job("paused", state="paused")
        make_run(hourly, Run.State.SUCCEEDED, ago=600)
        make_run(hourly, Run.State.FAILED, ago=300, reason="RuntimeError: boom")
        make_run(hourly, Run.State.SKIPPED, ago=200)
        make_run(hourly, Run.State.RUNNING, ago=5)
        response = as_viewer.get("/")
        assert response.status_code == 200
        context = response.context
        assert context["state_counts"] == {"active": 2, "paused": 1}
        assert [r.state for r in context["running"]] == ["running"]
        assert [u.job_name for u in context["upcoming"]][0] == "minutely"
        assert len(context["upcoming"]) == 2  # paused jobs do not run
        assert [f.run.reason for f in context["failures"]] == ["RuntimeError: boom"]
        assert (context["rate"].succeeded, context["rate"].rated) == (1, 2)
        assert context["scheduler"].alive
        assert context["live_watch"]["topics"] == "runs,jobs,schedulers"
        page = response.content.decode()
        assert "No scheduler is running" not in page
        assert "50.0 %" in page

    def test_a_retried_failure_is_one_row_after_its_attempts(self, as_operator):
        job = make_job("flaky", schedule="@hourly")
        first = make_run(job, Run.State.FAILED, ago=900, trigger="schedule", reason="boom 1")
        for attempt in (2, 3):
            last = make_run(
                job,
                Run.State.FAILED,
                ago=900,
                trigger="retry",
                attempt=attempt,
                retry_of=first,
                scheduled_for=first.scheduled_for,
                reason=f"boom {attempt}",
            )
        response = as_operator.get("/")
        (failure,) = response.context["failures"]
        assert (failure.run.pk, failure.attempts, failure.rerun) == (last.pk, 3, False)
        page = response.content.decode()
        assert "after 3 attempts" in page and "boom 1" not in page
        assert response.context["rerun_count"] == 1
        assert "finds 1 planned run of the last 24 hours to run again." in page

    def test_a_run_that_recovered_or_still_retries_is_not_a_failure(self, as_viewer):
        job = make_job("flaky", schedule="@hourly")
        recovered = make_run(job, Run.State.FAILED, ago=900, trigger="schedule")
        make_run(
            job,
            Run.State.SUCCEEDED,
            ago=900,
            trigger="retry",
            attempt=2,
            retry_of=recovered,
            scheduled_for=recovered.scheduled_for,
        )
        waiting = make_run(job, Run.State.FAILED, ago=300, trigger="schedule")
        make_run(
            job,
            Run.State.QUEUED,
            ago=300,
            trigger="retry",
            attempt=2,
            retry_of=waiting,
            scheduled_for=waiting.scheduled_for,
        )
        assert as_viewer.get("/").context["failures"] == []

    def test_it_says_why_the_rerun_count_differs_from_the_list(self, as_operator, operator):
        job = make_job("nightly", schedule="@daily")
        manual = make_run(job, Run.State.FAILED, ago=120, trigger="manual")
        slot = make_run(job, Run.State.FAILED, ago=600, trigger="schedule")
        services.run_slot_rerun(actor=operator, run=slot)
        response = as_operator.get("/")
        failures = {f.run.pk: f for f in response.context["failures"]}
        assert set(failures) == {manual.pk, slot.pk} and failures[slot.pk].rerun
        assert (response.context["rerun_count"], response.context["rerun_already"]) == (0, 1)
        page = response.content.decode()
        assert "1 more was already run again." in page
        assert "Runs asked for by hand, through the API or by another job" in page

    def test_it_warns_loudly_without_a_scheduler(self, as_viewer):
        alive_scheduler(age=120)
        response = as_viewer.get("/dashboard/live/", headers=HX)
        assert response.status_code == 200
        assert not response.context["scheduler"].alive
        assert 'role="alert"' in response.content.decode()
        assert "No scheduler is running" in response.content.decode()

    def test_its_live_region_redraws_on_changes_and_rechecks_the_scheduler(self, as_viewer):
        alive_scheduler()
        make_job("yearly", schedule="@yearly")
        response = as_viewer.get("/dashboard/live/", headers=HX)
        # It answers the change events; only the scheduler's health needs the clock.
        trigger = response.context["live_trigger"]
        assert "live-runs from:body" in trigger and "live-schedulers from:body" in trigger
        assert trigger.endswith("every 30s")

    def test_upcoming_runs_follow_changes(self, as_viewer):
        job = make_job("soon", schedule="@hourly")
        assert [u.job_name for u in as_viewer.get("/").context["upcoming"]] == ["soon"]
        Job.objects.filter(pk=job.pk).update(state="paused")  # behind the services' back
        assert as_viewer.get("/").context["upcoming"] == []

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/"))
        assert login_redirect(client.get("/dashboard/live/", headers=HX))

    def test_it_checks_role(self, db):
        client = logged_in(user_with_role(None))
        assert client.get("/").status_code == 403
        assert client.get("/dashboard/live/", headers=HX).status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.post("/").status_code == 405
        assert as_viewer.post("/dashboard/live/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer):
        # A definition written behind the services' back must not break the page.
        Job.objects.create(name="broken", kind="task", schedule="not a schedule", config={})
        response = as_viewer.get("/?page=x")
        assert response.status_code == 200
        assert response.context["upcoming"] == []
        assert "Invalid schedule" in as_viewer.get("/jobs/").content.decode()

    def test_its_query_count_is_bounded(self, as_viewer, django_assert_max_num_queries):
        alive_scheduler()
        for i in range(40):
            job = make_job(f"job {i}", schedule="@every 90s")
            make_run(job, Run.State.FAILED, ago=30)
            make_run(job, Run.State.RUNNING, ago=5)
        # Two more than before: the attempts of the failures, and what a re-run of the failed
        # runs would find (counted, then listed).
        with django_assert_max_num_queries(19):
            response = as_viewer.get("/")
        assert len(response.context["upcoming"]) == 10
        assert len(response.context["failures"]) == 10

"""The dashboard and its live region."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, Run, SchedulerLease, SchedulerNode
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_viewer_fixture,
    fresh_caches_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_job,
    make_run,
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
        hourly = make_job("hourly", schedule="@hourly")
        make_job("paused", state="paused")
        make_job("minutely", schedule="* * * * *")
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
        assert [r.reason for r in context["failures"]] == ["RuntimeError: boom"]
        assert (context["rate"].succeeded, context["rate"].rated) == (1, 2)
        assert context["scheduler"].alive
        assert context["live_watch"]["topics"] == "runs,jobs,schedulers"
        page = response.content.decode()
        assert "No scheduler is running" not in page
        assert "50.0 %" in page

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
        with django_assert_max_num_queries(15):
            response = as_viewer.get("/")
        assert len(response.context["upcoming"]) == 10
        assert len(response.context["failures"]) == 10

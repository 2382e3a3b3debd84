"""Runs, schedule previews, tasks, and the seed's /cron endpoints."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Job, Run
from tests.test_api_support import (  # noqa: F401 - fixtures
    as_editor,
    as_operator,
    as_viewer,
    editor,
    error_of,
    fresh_caches,
    make_job,
    make_run,
    operator,
    viewer,
)

pytestmark = pytest.mark.django_db


class TestRunList:
    def test_it_works(self, as_viewer):
        job = make_job()
        old = make_run(job, scheduled_for=timezone.now() - timedelta(hours=2))
        new = make_run(job, state=Run.State.FAILED, reason="boom", trigger=Run.Trigger.MANUAL)
        body = as_viewer.get("/api/v1/runs").json()
        assert body["count"] == 2
        assert [run["id"] for run in body["results"]] == [new.pk, old.pk]
        first = body["results"][0]
        assert first["job"] == job.pk and first["job_name"] == "echo"
        assert first["state"] == "failed" and first["reason"] == "boom"
        assert "output" not in first  # only the run's own page carries the output

    def test_it_filters(self, as_viewer):
        job, other = make_job(), make_job("other")
        since = timezone.now() - timedelta(minutes=30)
        make_run(job, scheduled_for=since - timedelta(hours=1))
        failed = make_run(job, state=Run.State.FAILED)
        manual = make_run(other, trigger=Run.Trigger.MANUAL)

        def ids(query: str) -> set[int]:
            response = as_viewer.get(f"/api/v1/runs?{query}")
            assert response.status_code == 200, response.content
            return {run["id"] for run in response.json()["results"]}

        assert ids("state=failed") == {failed.pk}
        assert ids("trigger=manual") == {manual.pk}
        assert ids(f"since={since.isoformat().replace('+', '%2B')}") == {failed.pk, manual.pk}
        assert ids(f"job={other.pk}") == {manual.pk}

    @pytest.mark.parametrize(
        "query", ["state=done", "trigger=cron", "since=yesterday", "since=2030-01-01T09:00"]
    )
    def test_it_rejects_bad_filters(self, as_viewer, query):
        response = as_viewer.get(f"/api/v1/runs?{query}")
        assert response.status_code == 400
        error_of(response)


class TestJobRuns:
    def test_it_works(self, as_viewer):
        job, other = make_job(), make_job("other")
        mine = make_run(job)
        make_run(other)
        body = as_viewer.get(f"/api/v1/jobs/{job.pk}/runs?state=succeeded").json()
        assert [run["id"] for run in body["results"]] == [mine.pk]

    def test_it_answers_404_and_400(self, as_viewer):
        assert as_viewer.get("/api/v1/jobs/77/runs").status_code == 404
        job = make_job()
        assert as_viewer.get(f"/api/v1/jobs/{job.pk}/runs?page=-1").status_code == 400


class TestRunDetail:
    def test_it_works(self, as_viewer):
        job = make_job()
        started = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
        run = make_run(
            job,
            state=Run.State.FAILED,
            scheduled_for=started,
            started_at=started,
            finished_at=started + timedelta(seconds=2.5),
            output="line 1\nline 2\n",
            error="Traceback: boom",
            exit_code=2,
        )
        body = as_viewer.get(f"/api/v1/runs/{run.pk}").json()
        assert body["output"] == "line 1\nline 2\n" and body["error"] == "Traceback: boom"
        assert body["duration_seconds"] == 2.5 and body["exit_code"] == 2
        assert body["scheduled_for"] == "2030-01-01T09:00:00+00:00"

    def test_it_answers_404(self, as_viewer):
        assert error_of(as_viewer.get("/api/v1/runs/12345"))["code"] == "not_found"


class TestRunCancel:
    def test_it_works(self, as_operator, operator):
        run = make_run(make_job(), state=Run.State.QUEUED, started_at=None, finished_at=None)
        response = as_operator.post(f"/api/v1/runs/{run.pk}/cancel")
        assert response.status_code == 200
        run.refresh_from_db()
        assert run.state == Run.State.CANCELLED and "operator" in run.reason
        assert response.json()["state"] == "cancelled"
        assert AuditEvent.objects.filter(action="cancel", actor=operator).exists()

    def test_a_running_run_gets_a_cancel_request(self, as_operator):
        run = make_run(make_job(), state=Run.State.RUNNING, finished_at=None)
        assert as_operator.post(f"/api/v1/runs/{run.pk}/cancel").status_code == 200
        run.refresh_from_db()
        assert run.state == Run.State.RUNNING and run.cancel_requested_at is not None

    def test_an_ended_run_answers_409(self, as_operator):
        run = make_run(make_job())
        response = as_operator.post(f"/api/v1/runs/{run.pk}/cancel")
        assert response.status_code == 409
        assert error_of(response)["code"] == "already_final"
        run.refresh_from_db()
        assert run.state == Run.State.SUCCEEDED and run.cancel_requested_at is None

    def test_it_rejects_bad_input(self, as_operator):
        run = make_run(make_job(), state=Run.State.QUEUED, started_at=None, finished_at=None)
        assert as_operator.post(f"/api/v1/runs/{run.pk}/cancel", {"force": 1}).status_code == 422
        run.refresh_from_db()
        assert run.state == Run.State.QUEUED


class TestSchedulePreview:
    def test_it_works(self, as_viewer):
        response = as_viewer.get(
            "/api/v1/schedule/preview?schedule=30+2+*+*+*&timezone=Europe/Berlin&count=3"
            "&after=2030-03-30T00:00:00%2B01:00"
        )
        assert response.status_code == 200
        body = response.json()
        assert body["valid"] is True and body["timezone"] == "Europe/Berlin"
        # 2030-03-31 02:30 does not exist in Berlin: the run moves to 03:00 local (01:00 UTC).
        assert body["next_runs"] == [
            "2030-03-30T01:30:00+00:00",
            "2030-03-31T01:00:00+00:00",
            "2030-04-01T00:30:00+00:00",
        ]
        assert body["description"] and any("clocks go forward" in w for w in body["warnings"])

    def test_an_invalid_schedule_is_an_answer_not_an_error(self, as_viewer):
        body = as_viewer.get("/api/v1/schedule/preview?schedule=61+*+*+*+*").json()
        assert body == {
            "valid": False,
            "error": "Minute field: 61 is out of range 0-59",
            "field": "schedule",
            "suggestion": None,
        }
        body = as_viewer.get("/api/v1/schedule/preview?schedule=@daily&timezone=Nowhere").json()
        assert body["valid"] is False and body["field"] == "timezone"

    def test_it_warns_about_clock_changes_a_year_ahead(self, as_viewer):
        body = as_viewer.get(
            "/api/v1/schedule/preview?schedule=30+2+*+*+*&timezone=Europe/Berlin"
            "&after=2026-12-03T10:00:00Z"
        ).json()
        # The next ten runs are all in December; the warnings still name March and October.
        assert body["warnings"] == [
            "The clocks go forward on 2027-03-28: the 02:30 run moves to 03:00, the first time "
            "after the gap.",
            "02:30 on 2027-10-31 happens twice as the clocks go back; it runs once, at the first.",
        ]

    def test_it_honours_start_and_end(self, as_viewer):
        body = as_viewer.get(
            "/api/v1/schedule/preview?schedule=30+2+*+*+*&timezone=Europe/Berlin"
            "&after=2026-12-03T10:00:00Z&start_at=2027-10-30T00:00:00Z"
            "&end_at=2027-11-01T00:00:00Z"
        ).json()
        assert body["next_runs"] == ["2027-10-30T00:30:00+00:00", "2027-10-31T00:30:00+00:00"]
        assert body["warnings"] == [
            "02:30 on 2027-10-31 happens twice as the clocks go back; it runs once, at the first."
        ]
        over = as_viewer.get(
            "/api/v1/schedule/preview?schedule=@daily&end_at=2020-01-01T00:00:00Z"
        ).json()
        assert over["next_runs"] == [] and over["warnings"] == ["No run before the end date."]

    def test_it_suggests_what_to_write(self, as_viewer):
        body = as_viewer.get(
            "/api/v1/schedule/preview?schedule=0+0+9+%3F+*+MON-FRI",
            headers={"Accept-Language": "zh-hans"},
        ).json()
        assert body["valid"] is False and body["field"] == "schedule"
        assert body["suggestion"]["schedule"] == "0 9 * * mon-fri"
        assert (
            "Quartz" in body["suggestion"]["reason"] and "周一" in body["suggestion"]["description"]
        )

    @pytest.mark.parametrize(
        "query",
        [
            "count=0",
            "count=101",
            "after=soon",
            "after=1800-01-01T00:00:00Z",
            "start_at=monday",
            "end_at=2030-01-01T09:00",
        ],
    )
    def test_it_rejects_bad_parameters(self, as_viewer, query):
        response = as_viewer.get(f"/api/v1/schedule/preview?schedule=@daily&{query}")
        assert response.status_code == 400
        error_of(response)


def test_tasks_lists_the_registry_with_parameter_schemas(as_viewer):
    body = as_viewer.get("/api/v1/tasks").json()
    tasks = {task["name"]: task for task in body["results"]}
    assert body["count"] == len(tasks) and "demo.echo" in tasks
    schema = tasks["demo.sleep"]["params_schema"]
    assert schema["properties"]["seconds"] == {
        "type": "number",
        "default": 5.0,
        "description": "How long to run.",
    }


class TestLegacyCron:
    def test_post_creates_a_task_job(self, as_editor, editor):
        response = as_editor.post("/cron", {"spec": "*/10 * * * *", "job": "demo.noop"})
        assert response.status_code == 200
        job = Job.objects.get()
        assert response.json() == {"job_id": job.pk}
        assert job.kind == "task" and job.schedule == "*/10 * * * *"
        assert job.config == {"task": "demo.noop", "params": {}} and job.created_by == editor
        again = as_editor.post("/cron", {"spec": "*/10 * * * *", "job": "demo.noop"})
        assert again.status_code == 200 and Job.objects.count() == 2

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"spec": "bad", "job": "demo.noop"}, "spec"),
            ({"spec": "@daily", "job": "no.such"}, "job"),
            ({"spec": "@daily", "job": "demo.echo"}, "job"),  # needs a parameter
            ({"job": "demo.noop"}, "spec"),
        ],
    )
    def test_post_rejects_bad_input(self, as_editor, body, field):
        response = as_editor.post("/cron", body)
        assert response.status_code == 422
        assert field in error_of(response)["fields"]
        assert not Job.objects.exists()

    def test_get_lists_active_jobs(self, as_viewer):
        job = make_job("active one", schedule="@hourly")
        make_job("paused one", state="paused")
        assert as_viewer.get("/cron").json() == [
            {"job_id": job.pk, "spec": "@hourly", "job": "demo.echo", "name": "active one"}
        ]

    def test_delete_removes_a_job(self, as_editor):
        job = make_job()
        assert as_editor.delete(f"/cron/{job.pk}").status_code == 204
        assert not Job.objects.exists()
        assert as_editor.delete(f"/cron/{job.pk}").status_code == 404


class TestSelfDescription:
    def test_the_schema_names_every_endpoint(self, db):
        from django.test import Client

        from jobs.api import urls

        documented = set(Client().get("/api/v1/openapi.json").json()["paths"])
        for pattern in urls.urlpatterns:
            route = getattr(pattern.pattern, "_route", None)
            if route is None or route.startswith(("openapi", "docs")):
                continue
            assert "/api/v1/" + re.sub(r"<\w+:(\w+)>", r"{\1}", route) in documented, route
        assert {"/cron", "/cron/{job_id}"} <= documented

    def test_the_docs_are_served_without_a_cdn(self, db):
        from django.test import Client

        client = Client()
        page = client.get("/api/v1/docs")
        assert page.status_code == 200
        html = page.content.decode()
        assert "http://" not in html and "https://" not in html
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "start.js"):
            assert f"/api/v1/docs/assets/{asset}" in html
            response = client.get(f"/api/v1/docs/assets/{asset}")
            assert response.status_code == 200, asset
        assert client.get("/api/v1/docs/assets/..%2Fsettings.py").status_code == 404
        assert client.get("/api/v1/docs/assets/index.html").status_code == 404

    def test_ping_needs_no_credentials(self, db):
        from django.test import Client

        body = Client().get("/api/v1/ping").json()
        assert body["status"] == "ok" and body["time"].endswith("+00:00")

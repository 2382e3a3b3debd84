"""The jobs resource: list, create, get, replace, change, delete, pause, resume, run now."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.audit import SECRET_MASK
from jobs.models import AuditEvent, IdempotencyRecord, Job, JobVersion, Run
from jobs.vault import unseal
from tests.test_api_support import (  # noqa: F401 - fixtures
    TASK_JOB,
    Api,
    admin,
    anonymous,
    as_admin,
    as_editor,
    as_operator,
    as_viewer,
    editor,
    error_of,
    fresh_caches,
    make_http_job,
    make_job,
    make_run,
    operator,
    viewer,
)

pytestmark = pytest.mark.django_db


class TestJobList:
    def test_it_works(self, as_viewer):
        job = make_job("nightly import", labels={"team": "data"})
        run = make_run(job, state=Run.State.FAILED, reason="boom")
        response = as_viewer.get("/api/v1/jobs")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1 and body["next"] is None
        [item] = body["results"]
        assert item["id"] == job.pk
        assert item["task"] == "demo.echo" and item["params"] == {"message": "hi"}
        assert item["http"] is None and item["shell"] is None
        assert item["last_run"]["id"] == run.pk and item["last_run"]["state"] == "failed"
        assert item["next_run_at"].endswith("+00:00")
        assert item["created_at"].endswith("+00:00")

    def test_it_filters(self, as_viewer):
        make_job("alpha", labels={"team": "data"})
        make_job("beta", labels={"team": "web"}, description="nightly")
        make_job("gamma", state="paused")
        make_http_job("delta")

        def names(query: str) -> list[str]:
            response = as_viewer.get(f"/api/v1/jobs?{query}")
            assert response.status_code == 200, response.content
            return [job["name"] for job in response.json()["results"]]

        assert names("q=NIGHT") == ["beta"]
        assert names("state=paused") == ["gamma"]
        assert names("kind=http") == ["delta"]
        assert names("label=team:data") == ["alpha"]
        assert names("label=team") == ["alpha", "beta"]
        assert names("label=team:data&label=team:web") == []

    def test_it_pages(self, as_viewer):
        for number in range(5):
            make_job(f"job {number}")
        first = as_viewer.get("/api/v1/jobs?page_size=2&kind=task").json()
        assert first["count"] == 5 and len(first["results"]) == 2
        assert "page=2" in first["next"] and "kind=task" in first["next"]
        last = as_viewer.get("/api/v1/jobs?page_size=2&page=3").json()
        assert [job["name"] for job in last["results"]] == ["job 4"] and last["next"] is None
        assert as_viewer.get("/api/v1/jobs?page=9").json()["results"] == []

    @pytest.mark.parametrize("query", ["state=sleeping", "kind=ftp", "page=0", "page=x"])
    def test_it_rejects_bad_filters(self, as_viewer, query):
        response = as_viewer.get(f"/api/v1/jobs?{query}")
        assert response.status_code == 400
        assert error_of(response)["code"] == "bad_request"


class TestJobCreate:
    def test_it_works(self, as_editor, editor):
        response = as_editor.post("/api/v1/jobs", TASK_JOB)
        assert response.status_code == 201, response.content
        job = Job.objects.get()
        assert response.json()["id"] == job.pk
        assert job.name == "nightly report" and job.timezone == "Europe/Berlin"
        assert job.config == {"task": "demo.echo", "params": {"message": "hi"}}
        assert job.created_by == editor
        assert JobVersion.objects.filter(job=job, version=1).exists()
        assert AuditEvent.objects.filter(action="create", actor=editor).exists()

    def test_it_fills_documented_defaults(self, as_editor):
        body = as_editor.post("/api/v1/jobs", TASK_JOB).json()
        expected = {
            "description": "",
            "state": "active",
            "paused_until": None,
            "timeout_seconds": None,
            "max_retries": 0,
            "retry_backoff": "fixed",
            "retry_backoff_seconds": 10,
            "overlap": "skip",
            "max_concurrent": 1,
            "misfire": "once",
            "misfire_limit": 10,
            "labels": {},
            "priority": 0,
        }
        assert {name: body[name] for name in expected} == expected
        http = as_editor.post(
            "/api/v1/jobs",
            {
                "name": "ping",
                "kind": "http",
                "schedule": "@hourly",
                "http": {"url": "https://a.io"},
            },
        ).json()["http"]
        assert http == {
            "method": "GET",
            "url": "https://a.io/",
            "headers": {},
            "body": "",
            "expect_status": [],
            "secret_headers": [],
        }

    def test_it_gives_the_same_job_as_the_service(self, as_editor, editor):
        # The API is a translation, not a second implementation: same input, same definition.
        as_editor.post("/api/v1/jobs", {**TASK_JOB, "labels": {"team": "data"}, "priority": 5})
        direct = services.job_create(
            actor=editor,
            name="nightly report (service)",
            kind="task",
            config={"task": "demo.echo", "params": {"message": "hi"}},
            schedule="0 3 * * *",
            timezone="Europe/Berlin",
            labels={"team": "data"},
            priority=5,
        )
        via_api = Job.objects.get(name="nightly report")
        api_definition = services.job_definition(via_api)
        service_definition = services.job_definition(direct)
        assert {**api_definition, "name": None} == {**service_definition, "name": None}

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"schedule": "61 * * * *"}, "schedule"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"task": "no.such.task"}, "task"),
            ({"params": {"message": 5, "extra": 1}}, "params"),
            ({"labels": {"bad key!": "x"}}, "labels"),
            ({"max_retries": -1}, "max_retries"),
            ({"priority": "high"}, "priority"),
            ({"kind": "ftp"}, "kind"),
            ({"start_at": "2030-01-01 09:00"}, "start_at"),
            ({"overlap": "sometimes"}, "overlap"),
            ({"surprise": True}, "surprise"),
            ({"http": {"url": "https://a.io"}}, "http"),
            ({"description": "nul\x00byte"}, "description"),
        ],
    )
    def test_it_rejects_bad_input_and_writes_nothing(self, as_editor, change, field):
        response = as_editor.post("/api/v1/jobs", {**TASK_JOB, **change})
        assert response.status_code == 422, response.content
        error = error_of(response)
        assert error["code"] == "invalid"
        assert field in error["fields"], error
        assert not Job.objects.exists()
        assert not AuditEvent.objects.filter(object_type="job").exists()

    def test_a_common_schedule_mistake_gets_a_suggestion_and_is_still_refused(self, as_editor):
        response = as_editor.post("/api/v1/jobs", {**TASK_JOB, "schedule": "0 0 9 ? * MON-FRI"})
        assert response.status_code == 422
        assert error_of(response)["fields"]["schedule"] == (
            "Day-of-month field: '?' is not a number (allowed: 1-31). "
            "Did you mean “0 9 * * mon-fri”?"
        )
        assert not Job.objects.exists()

    def test_it_names_http_errors_by_their_api_field(self, as_editor):
        body = {"name": "h", "kind": "http", "schedule": "@daily", "http": {"url": "ftp://x"}}
        response = as_editor.post("/api/v1/jobs", body)
        assert response.status_code == 422
        assert "http.url" in error_of(response)["fields"]

    def test_it_rejects_a_taken_name_with_409(self, as_editor):
        make_job("nightly report")
        response = as_editor.post("/api/v1/jobs", TASK_JOB)
        assert response.status_code == 409
        assert "name" in error_of(response)["fields"]
        assert Job.objects.count() == 1

    @pytest.mark.parametrize(
        ("body", "content_type", "status"),
        [
            ("{not json", "application/json", 400),
            ("[1, 2]", "application/json", 400),
            ("", "application/json", 400),
            ('{"name": NaN}', "application/json", 400),
            ("name=x", "application/x-www-form-urlencoded", 415),
        ],
    )
    def test_it_rejects_malformed_bodies(self, as_editor, body, content_type, status):
        response = as_editor.post("/api/v1/jobs", body, content_type=content_type)
        assert response.status_code == status
        error_of(response)
        assert not Job.objects.exists()

    def test_shell_jobs_need_an_administrator(self, as_editor, as_admin, settings):
        settings.CRONADMIN_ALLOW_SHELL_JOBS = True
        body = {"name": "sh", "kind": "shell", "schedule": "@daily", "shell": {"command": "true"}}
        assert as_editor.post("/api/v1/jobs", body).status_code == 403
        assert not Job.objects.exists()
        response = as_admin.post("/api/v1/jobs", body)
        assert response.status_code == 201
        assert response.json()["shell"] == {"command": "true"}

    def test_an_idempotency_key_returns_the_first_result(self, as_editor):
        key = {"Idempotency-Key": "create-nightly-1"}
        first = as_editor.post("/api/v1/jobs", TASK_JOB, headers=key)
        again = as_editor.post("/api/v1/jobs", TASK_JOB, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert Job.objects.count() == 1
        reused = as_editor.post("/api/v1/jobs", {**TASK_JOB, "name": "other"}, headers=key)
        assert reused.status_code == 422
        assert error_of(reused)["code"] == "idempotency_key_reused"
        assert Job.objects.count() == 1

    def test_a_rejected_request_keeps_no_idempotency_record(self, as_editor):
        key = {"Idempotency-Key": "k1"}
        bad = as_editor.post("/api/v1/jobs", {**TASK_JOB, "schedule": "nope"}, headers=key)
        assert bad.status_code == 422
        assert not IdempotencyRecord.objects.exists()
        assert as_editor.post("/api/v1/jobs", TASK_JOB, headers=key).status_code == 201


class TestJobDetail:
    def test_it_works(self, as_viewer):
        job = make_http_job(labels={"team": "web"})
        response = as_viewer.get(f"/api/v1/jobs/{job.pk}")
        assert response.status_code == 200
        body = response.json()
        assert body["kind"] == "http" and body["task"] is None
        # Secret-looking header values never leave the server.
        assert body["http"]["headers"] == {"Authorization": SECRET_MASK, "X-Team": "data"}
        assert "s3cret" not in response.content.decode()

    @pytest.mark.parametrize("job_id", ["999", "0", "99999999999999999999999"])
    def test_it_answers_404(self, as_viewer, job_id):
        response = as_viewer.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


class TestJobReplace:
    def test_it_works(self, as_editor, editor):
        job = make_job("nightly report", labels={"team": "data"}, max_retries=3)
        response = as_editor.put(f"/api/v1/jobs/{job.pk}", {**TASK_JOB, "schedule": "0 4 * * *"})
        assert response.status_code == 200, response.content
        job.refresh_from_db()
        assert job.schedule == "0 4 * * *" and job.version == 2
        # PUT is the whole job: what it leaves out goes back to the default.
        assert job.labels == {} and job.max_retries == 0
        assert job.updated_by == editor

    def test_a_get_body_can_be_sent_back(self, as_editor):
        job = make_http_job()
        body = as_editor.get(f"/api/v1/jobs/{job.pk}").json()
        body["description"] = "changed"
        response = as_editor.put(f"/api/v1/jobs/{job.pk}", body)
        assert response.status_code == 200, response.content
        job.refresh_from_db()
        assert job.description == "changed"
        # The masked header came back as the mask: the stored secret is kept.
        assert unseal(job.config["headers"]["Authorization"]) == "Bearer s3cret"

    def test_it_rejects_bad_input_and_writes_nothing(self, as_editor):
        job = make_job("nightly report")
        response = as_editor.put(f"/api/v1/jobs/{job.pk}", {**TASK_JOB, "schedule": "@never"})
        assert response.status_code == 422
        assert "schedule" in error_of(response)["fields"]
        job.refresh_from_db()
        assert job.version == 1 and job.schedule == "*/5 * * * *"
        missing = as_editor.put(f"/api/v1/jobs/{job.pk}", {"name": "x"})
        assert missing.status_code == 422
        assert {"kind", "schedule"} <= set(error_of(missing)["fields"])

    def test_a_masked_value_for_a_new_header_is_refused(self, as_editor):
        job = make_http_job()
        body = as_editor.get(f"/api/v1/jobs/{job.pk}").json()
        body["http"]["headers"]["X-Api-Key"] = SECRET_MASK
        response = as_editor.put(f"/api/v1/jobs/{job.pk}", body)
        assert response.status_code == 422
        assert "http.headers.X-Api-Key" in error_of(response)["fields"]


class TestJobChange:
    def test_it_works(self, as_editor):
        job = make_job("nightly report", labels={"team": "data"})
        response = as_editor.patch(f"/api/v1/jobs/{job.pk}", {"priority": 7})
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.priority == 7 and job.labels == {"team": "data"} and job.version == 2

    def test_it_changes_one_http_setting(self, as_editor):
        job = make_http_job()
        response = as_editor.patch(
            f"/api/v1/jobs/{job.pk}", {"http": {"url": "https://example.com/new"}}
        )
        assert response.status_code == 200, response.content
        job.refresh_from_db()
        assert job.config["url"] == "https://example.com/new"
        assert unseal(job.config["headers"]["Authorization"]) == "Bearer s3cret"

    def test_a_kept_secret_does_not_follow_the_url_to_another_host(self, as_editor):
        job = make_http_job()
        response = as_editor.patch(
            f"/api/v1/jobs/{job.pk}", {"http": {"url": "https://example.org/new"}}
        )
        assert response.status_code == 422
        message = error_of(response)["fields"]["http.headers"]
        assert "https://example.org instead of https://example.com" in message
        assert "Authorization" in message
        job.refresh_from_db()
        assert job.version == 1 and job.config["url"] == "https://example.com/hook"
        # Entered again for the new host, it goes there.
        response = as_editor.patch(
            f"/api/v1/jobs/{job.pk}",
            {"http": {"url": "https://example.org/new", "headers": {"Authorization": "Bearer 2"}}},
        )
        assert response.status_code == 200, response.content
        job.refresh_from_db()
        assert unseal(job.config["headers"]["Authorization"]) == "Bearer 2"

    def test_an_operator_may_pause_through_it_but_not_edit(self, as_operator):
        job = make_job()
        paused = as_operator.patch(f"/api/v1/jobs/{job.pk}", {"state": "paused"})
        assert paused.status_code == 200, paused.content
        job.refresh_from_db()
        assert job.state == "paused" and job.version == 1
        edited = as_operator.patch(f"/api/v1/jobs/{job.pk}", {"priority": 1, "state": "active"})
        assert edited.status_code == 403
        job.refresh_from_db()
        assert job.priority == 0 and job.state == "paused"

    def test_it_rejects_bad_input(self, as_editor):
        job = make_job()
        response = as_editor.patch(f"/api/v1/jobs/{job.pk}", {"http": {"url": "https://a.io"}})
        assert response.status_code == 422
        assert "http" in error_of(response)["fields"]
        past = (timezone.now() - timedelta(hours=1)).isoformat()
        response = as_editor.patch(
            f"/api/v1/jobs/{job.pk}", {"state": "paused", "paused_until": past}
        )
        assert response.status_code == 422
        assert "paused_until" in error_of(response)["fields"]
        job.refresh_from_db()
        assert job.state == "active"


class TestJobDelete:
    def test_it_works(self, as_editor, editor):
        job = make_job()
        make_run(job)
        response = as_editor.delete(f"/api/v1/jobs/{job.pk}")
        assert response.status_code == 204
        assert not Job.objects.exists() and not Run.objects.exists()
        assert AuditEvent.objects.filter(action="delete", actor=editor).exists()

    def test_it_answers_404(self, as_editor):
        assert as_editor.delete("/api/v1/jobs/5").status_code == 404


class TestPauseResume:
    def test_pause_works(self, as_operator):
        job = make_job()
        until = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
        response = as_operator.post(
            f"/api/v1/jobs/{job.pk}/pause", {"until": until.isoformat(), "note": "maintenance"}
        )
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.state == "paused" and job.paused_until == until
        assert job.pause_note == "maintenance"
        assert response.json()["paused_until"] == until.isoformat()

    def test_pause_without_a_body_works(self, as_operator):
        job = make_job()
        assert as_operator.post(f"/api/v1/jobs/{job.pk}/pause").status_code == 200
        job.refresh_from_db()
        assert job.state == "paused" and job.paused_until is None

    @pytest.mark.parametrize(
        "body",
        [{"until": "tomorrow"}, {"until": "2000-01-01T00:00:00Z"}, {"note": 5}, {"why": "x"}],
    )
    def test_pause_rejects_bad_input(self, as_operator, body):
        job = make_job()
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/pause", body)
        assert response.status_code == 422
        error_of(response)
        job.refresh_from_db()
        assert job.state == "active"

    def test_resume_works(self, as_operator):
        job = make_job(state="paused", pause_note="x")
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/resume")
        assert response.status_code == 200
        job.refresh_from_db()
        assert job.state == "active" and job.pause_note == ""

    def test_resume_rejects_bad_input(self, as_operator):
        job = make_job(state="paused")
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/resume", {"now": True})
        assert response.status_code == 422
        job.refresh_from_db()
        assert job.state == "paused"


class TestRunNow:
    def test_it_works(self, as_operator, operator):
        job = make_job()
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/run")
        assert response.status_code == 202
        run = Run.objects.get()
        body = response.json()
        assert body["id"] == run.pk and body["state"] == "queued" and body["trigger"] == "api"
        assert run.requested_by == operator and run.trigger == Run.Trigger.API

    def test_an_idempotency_key_runs_once(self, as_operator):
        job = make_job()
        key = {"Idempotency-Key": "deploy-42"}
        first = as_operator.post(f"/api/v1/jobs/{job.pk}/run", headers=key)
        again = as_operator.post(f"/api/v1/jobs/{job.pk}/run", headers=key)
        assert first.status_code == again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert Run.objects.count() == 1
        other = make_job("other")
        # A key is scoped to its endpoint: the same key on another job is another request.
        assert as_operator.post(f"/api/v1/jobs/{other.pk}/run", headers=key).status_code == 202
        assert Run.objects.count() == 2

    def test_it_rejects_bad_input(self, as_operator):
        job = make_job()
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/run", {"other": {}})
        assert response.status_code == 422
        assert response.json()["error"]["fields"] == {"other": "Unknown field."}
        bad_key = as_operator.post(
            f"/api/v1/jobs/{job.pk}/run", headers={"Idempotency-Key": "x" * 300}
        )
        assert bad_key.status_code == 400
        assert not Run.objects.exists()

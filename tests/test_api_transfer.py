"""Job files over the API: GET /api/v1/jobs/export and POST /api/v1/jobs/import."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import json

import pytest
import yaml

from jobs import services
from jobs.audit import SECRET_MASK
from jobs.models import AuditEvent, Job, JobVersion
from tests.test_api_support import (  # noqa: F401 - fixtures
    Api,
    admin,
    anonymous,
    as_editor,
    as_operator,
    as_viewer,
    editor,
    error_of,
    fresh_caches,
    make_http_job,
    make_job,
    operator,
    user_with_role,
    viewer,
)

pytestmark = pytest.mark.django_db
IMPORT = "/api/v1/jobs/import"


def written() -> tuple[int, int, int]:
    return Job.objects.count(), JobVersion.objects.count(), AuditEvent.objects.count()


def a_file(**jobs) -> dict:
    return {"version": 1, "jobs": jobs}


NEW_JOB = {"kind": "task", "schedule": "@daily", "config": {"task": "demo.noop"}}


class TestExport:
    def test_it_works(self, as_viewer):
        make_job("echo")
        make_http_job("hook")
        response = as_viewer.get("/api/v1/jobs/export")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json; charset=utf-8"
        document = response.json()
        assert document["version"] == 1 and list(document["jobs"]) == ["echo", "hook"]
        assert document["jobs"]["hook"]["config"]["headers"]["Authorization"] == SECRET_MASK

    def test_it_writes_yaml_of_the_jobs_named(self, as_viewer):
        make_job("echo")
        make_job("other")
        response = as_viewer.get("/api/v1/jobs/export?format=yaml&name=echo")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/yaml; charset=utf-8"
        assert list(yaml.safe_load(response.content)["jobs"]) == ["echo"]

    def test_it_rejects_bad_input(self, as_viewer):
        make_job("echo")
        error = error_of(as_viewer.get("/api/v1/jobs/export?name=echo&name=nope"))
        assert error["code"] == "not_found" and "nope" in error["message"]
        response = as_viewer.get("/api/v1/jobs/export?format=xml")
        assert response.status_code == 400 and "json, yaml" in error_of(response)["message"]

    def test_it_requires_credentials(self, anonymous):
        assert anonymous.get("/api/v1/jobs/export").status_code == 401

    def test_it_requires_a_role(self, db):
        nobody = Api(user_with_role(None))
        assert nobody.get("/api/v1/jobs/export").status_code == 403

    def test_it_rejects_post(self, as_viewer):
        response = as_viewer.post("/api/v1/jobs/export", {})
        assert response.status_code == 405 and response["Allow"] == "GET"


class TestImport:
    def test_it_plans_by_default(self, as_editor):
        job = make_job("echo")
        body = a_file(
            echo={**NEW_JOB, "config": {"task": "demo.echo", "params": {"message": "x"}}},
            new=NEW_JOB,
        )
        counts = written()
        response = as_editor.post(IMPORT, body)
        assert response.status_code == 200, response.content
        plan = response.json()
        assert plan["applied"] is False and plan["delete_missing"] is False
        assert plan["counts"] == {"create": 1, "change": 1, "unchanged": 0, "delete": 0}
        by_name = {entry["name"]: entry for entry in plan["jobs"]}
        assert by_name["echo"]["action"] == "change"
        assert by_name["echo"]["changes"]["schedule"] == ["*/5 * * * *", "@daily"]
        assert by_name["new"]["action"] == "create" and by_name["new"]["line"] == 1
        assert written() == counts
        job.refresh_from_db()
        assert job.schedule == "*/5 * * * *"

    def test_it_applies_with_apply_true(self, as_editor, editor):
        make_job("gone")
        plan = as_editor.post(f"{IMPORT}?delete_missing=true", a_file(new=NEW_JOB)).json()
        response = as_editor.post(
            f"{IMPORT}?apply=true&delete_missing=true&fingerprint={plan['fingerprint']}",
            a_file(new=NEW_JOB),
        )
        assert response.status_code == 200, response.content
        assert response.json()["applied"] is True
        assert response.json()["counts"] == {"create": 1, "change": 0, "unchanged": 0, "delete": 1}
        assert list(Job.objects.values_list("name", flat=True)) == ["new"]
        assert Job.objects.get().created_by == editor

    def test_it_reads_yaml(self, as_editor):
        text = "version: 1\njobs:\n  new:\n    kind: task\n    schedule: '@daily'\n"
        text += "    config: {task: demo.noop}\n"
        response = as_editor.post(f"{IMPORT}?apply=1", text, content_type="application/yaml")
        assert response.status_code == 200, response.content
        assert Job.objects.filter(name="new").exists()

    def test_a_round_trip_changes_nothing(self, as_editor):
        make_job("echo")
        make_http_job("hook")
        exported = as_editor.get("/api/v1/jobs/export?format=yaml").content
        counts = written()
        response = as_editor.post(f"{IMPORT}?apply=true", exported, content_type="application/yaml")
        assert response.json()["counts"]["unchanged"] == 2
        assert written() == counts

    def test_a_round_trip_with_chains_changes_nothing(self, as_editor):
        make_job("a", on_success=[make_job("b")])
        exported = as_editor.get("/api/v1/jobs/export").json()
        assert exported["jobs"]["a"]["on_success"] == ["b"]
        counts = written()
        response = as_editor.post(f"{IMPORT}?apply=true", exported)
        assert response.json()["counts"]["unchanged"] == 2
        assert written() == counts

    def test_it_refuses_a_link_to_an_unknown_job_at_its_field(self, as_editor):
        text = json.dumps(a_file(new={**NEW_JOB, "on_success": ["nope"]}), indent=1)
        line = next(i for i, row in enumerate(text.splitlines(), 1) if '"on_success"' in row)
        response = as_editor.post(f"{IMPORT}?apply=true", text)
        assert response.status_code == 422
        error = error_of(response)
        assert error["message"].startswith(f"Line {line} (job “new”, on_success): ")
        assert "“nope”" in error["message"]
        assert error["fields"] == {"jobs.new.on_success": error["message"]}
        assert not Job.objects.exists()

    def test_it_refuses_a_bad_file_whole(self, as_editor):
        make_job("echo")
        text = json.dumps(a_file(new=NEW_JOB, bad={**NEW_JOB, "schedule": "61 * * * *"}), indent=1)
        counts = written()
        response = as_editor.post(f"{IMPORT}?apply=true", text)
        assert response.status_code == 422
        error = error_of(response)
        assert error["code"] == "invalid_file"
        assert error["message"].startswith("Line 13 (job “bad”, schedule): Minute field: 61")
        assert error["fields"] == {"jobs.bad.schedule": error["message"]}
        assert written() == counts

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ('{"version": 2, "jobs": {}}', 422, "invalid_file"),
            ("[]", 422, "invalid_file"),
            ("{", 422, "invalid_file"),
            ("", 400, "body_required"),
        ],
    )
    def test_it_rejects_bad_bodies(self, as_editor, body, status, code):
        response = as_editor.post(IMPORT, body)
        assert response.status_code == status
        assert error_of(response)["code"] == code

    def test_it_rejects_other_media_types_and_flags(self, as_editor):
        response = as_editor.post(IMPORT, "version: 1", content_type="text/plain")
        assert response.status_code == 415
        response = as_editor.post(f"{IMPORT}?apply=maybe", a_file())
        assert response.status_code == 400 and "apply" in error_of(response)["message"]

    def test_it_refuses_to_apply_a_stale_plan(self, as_editor):
        job = make_job("echo")
        plan = as_editor.post(IMPORT, a_file(new=NEW_JOB)).json()
        services.job_pause(actor=None, job=job)
        response = as_editor.post(
            f"{IMPORT}?apply=true&fingerprint={plan['fingerprint']}", a_file(new=NEW_JOB)
        )
        assert response.status_code == 409 and error_of(response)["code"] == "conflict"
        assert not Job.objects.filter(name="new").exists()

    def test_it_requires_the_editor_role(self, as_viewer, as_operator):
        for client in (as_viewer, as_operator):
            response = client.post(f"{IMPORT}?apply=true", a_file(new=NEW_JOB))
            assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
        assert not Job.objects.exists()

    def test_it_requires_credentials(self, anonymous):
        assert anonymous.post(IMPORT, a_file()).status_code == 401

    def test_it_rejects_get(self, as_editor):
        response = as_editor.get(IMPORT)
        assert response.status_code == 405 and response["Allow"] == "POST"

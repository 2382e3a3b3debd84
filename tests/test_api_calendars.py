"""Calendars in the API, a job's calendars, its real next runs, and running with parameters."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters
import pytest

from jobs.models import AuditEvent, Calendar, Job, Run
from jobs.services import jobs_export, jobs_import_apply
from jobs.services.calendars import calendar_create
from tests.test_api_support import (  # noqa: F401 - fixtures
    admin,
    anonymous,
    as_editor,
    as_operator,
    as_viewer,
    editor,
    fresh_caches,
    make_http_job,
    make_job,
    operator,
    viewer,
)

pytestmark = pytest.mark.django_db

CHINA = {
    "name": "China",
    "timezone": "Asia/Shanghai",
    "holidays": {"country": "CN", "subdivision": None},
    "dates": ["2026-12-24"],
    "windows": [{"days": [7], "start": "01:00", "end": "03:00"}],
}


class TestCalendars:
    def test_it_creates_lists_reads_changes_and_deletes(self, as_editor):
        created = as_editor.post("/api/v1/calendars", CHINA)
        assert created.status_code == 201
        body = created.json()
        calendar = Calendar.objects.get()
        assert body["id"] == calendar.pk and body["holidays"] == CHINA["holidays"]
        assert calendar.holiday_country == "CN" and calendar.dates == ["2026-12-24"]
        assert len(body["next_holidays"]) == 10
        listed = as_editor.get("/api/v1/calendars").json()
        assert listed["count"] == 1 and listed["results"][0]["name"] == "China"
        assert as_editor.get(f"/api/v1/calendars/{calendar.pk}").json()["windows"] == [
            {"days": [7], "start": "01:00", "end": "03:00"}
        ]
        changed = as_editor.patch(
            f"/api/v1/calendars/{calendar.pk}",
            {"holidays": {"country": "US", "subdivision": "NY"}, "dates": []},
        )
        assert changed.status_code == 200
        calendar.refresh_from_db()
        assert (calendar.holiday_country, calendar.holiday_subdivision) == ("US", "NY")
        assert calendar.dates == [] and calendar.version == 2
        assert as_editor.delete(f"/api/v1/calendars/{calendar.pk}").status_code == 204
        assert not Calendar.objects.exists()
        actions = AuditEvent.objects.filter(object_type="calendar").values_list("action", flat=True)
        assert sorted(actions) == ["create", "delete", "update"]

    def test_it_requires_a_token(self, anonymous):
        assert anonymous.get("/api/v1/calendars").status_code == 401
        assert anonymous.post("/api/v1/calendars", CHINA).status_code == 401
        assert not Calendar.objects.exists()

    def test_it_checks_the_role(self, as_viewer):
        assert as_viewer.get("/api/v1/calendars").status_code == 200
        assert as_viewer.post("/api/v1/calendars", CHINA).status_code == 403
        calendar = calendar_create(actor=None, name="China")
        assert as_viewer.patch(f"/api/v1/calendars/{calendar.pk}", {"dates": []}).status_code == 403
        assert as_viewer.delete(f"/api/v1/calendars/{calendar.pk}").status_code == 403
        assert Calendar.objects.count() == 1

    def test_it_rejects_wrong_methods(self, as_editor):
        calendar = calendar_create(actor=None, name="China")
        assert as_editor.put(f"/api/v1/calendars/{calendar.pk}", CHINA).status_code == 405
        assert as_editor.delete("/api/v1/calendars").status_code == 405
        assert as_editor.get("/api/v1/calendars/999999").status_code == 404

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"dates": ["2026-02-30"]}, "dates"),
            ({"dates": "2026-02-01"}, "dates"),
            ({"holidays": {"country": "XX"}}, "holidays"),
            ({"holidays": {"country": "US", "subdivision": "ZZ"}}, "holidays"),
            ({"holidays": {"land": "US"}}, "holidays"),
            ({"windows": [{"days": [8], "start": "01:00", "end": "02:00"}]}, "windows"),
            ({"windows": [{"from": "2027-01-02", "to": "2026-12-24"}]}, "windows"),
            ({"windows": "nightly"}, "windows"),
            ({"timezone": "Moon/Base"}, "timezone"),
            ({"name": ""}, "name"),
            ({"color": "red"}, "color"),
        ],
    )
    def test_bad_input_is_a_422_naming_the_field(self, as_editor, change, field):
        response = as_editor.post("/api/v1/calendars", {**CHINA, **change})
        assert response.status_code == 422, response.json()
        assert field in response.json()["error"]["fields"]
        assert not Calendar.objects.exists()

    def test_a_name_taken_is_a_conflict(self, as_editor):
        calendar_create(actor=None, name="China")
        assert as_editor.post("/api/v1/calendars", CHINA).status_code == 409


class TestJobCalendars:
    def test_a_job_lists_its_calendars_by_name(self, as_editor):
        calendar_create(actor=None, name="China", holiday_country="CN")
        job = {
            "name": "report",
            "kind": "task",
            "task": "demo.echo",
            "params": {"message": "hi"},
            "schedule": "0 9 * * *",
            "calendars": ["China"],
            "on_calendar": "next_allowed",
        }
        created = as_editor.post("/api/v1/jobs", job)
        assert created.status_code == 201
        body = created.json()
        assert body["calendars"] == ["China"] and body["on_calendar"] == "next_allowed"
        saved = Job.objects.get()
        assert [c.name for c in saved.calendars.all()] == ["China"]
        changed = as_editor.patch(f"/api/v1/jobs/{saved.pk}", {"calendars": []})
        assert changed.status_code == 200 and changed.json()["calendars"] == []
        saved.refresh_from_db()
        assert not saved.calendars.exists() and saved.version == 2

    def test_an_unknown_calendar_is_a_422(self, as_editor):
        job = make_job()
        response = as_editor.patch(f"/api/v1/jobs/{job.pk}", {"calendars": ["Mars"]})
        assert response.status_code == 422
        assert "Mars" in response.json()["error"]["fields"]["calendars"]
        assert response.json()["error"]["fields"].keys() == {"calendars"}
        bad_mode = as_editor.patch(f"/api/v1/jobs/{job.pk}", {"on_calendar": "ignore"})
        assert bad_mode.status_code == 422 and "on_calendar" in bad_mode.json()["error"]["fields"]
        assert Job.objects.get().version == 1


class TestNextRuns:
    def test_it_honours_the_calendars(self, as_viewer):
        calendar_create(actor=None, name="xmas", dates=["2026-12-25"])
        job = make_job(schedule="0 9 * * *", calendars=["xmas"])
        response = as_viewer.get(f"/api/v1/jobs/{job.pk}/next-runs?count=3&after=2026-12-24T12:00Z")
        assert response.status_code == 200
        assert response.json()["next_runs"] == [
            "2026-12-26T09:00:00+00:00",
            "2026-12-27T09:00:00+00:00",
            "2026-12-28T09:00:00+00:00",
        ]
        Job.objects.filter(pk=job.pk).update(on_calendar="next_allowed")
        moved = as_viewer.get(f"/api/v1/jobs/{job.pk}/next-runs?count=2&after=2026-12-24T12:00Z")
        assert moved.json()["next_runs"] == [
            "2026-12-26T00:00:00+00:00",
            "2026-12-26T09:00:00+00:00",
        ]

    def test_it_checks_its_input(self, as_viewer, anonymous):
        job = make_job()
        assert as_viewer.get(f"/api/v1/jobs/{job.pk}/next-runs?count=0").status_code == 400
        assert as_viewer.get(f"/api/v1/jobs/{job.pk}/next-runs?after=soon").status_code == 400
        assert as_viewer.get("/api/v1/jobs/999999/next-runs").status_code == 404
        assert as_viewer.post(f"/api/v1/jobs/{job.pk}/next-runs").status_code == 405
        assert anonymous.get(f"/api/v1/jobs/{job.pk}/next-runs").status_code == 401

    def test_the_preview_takes_calendars(self, as_viewer):
        calendar_create(actor=None, name="xmas", dates=["2026-12-25"])
        query = "schedule=0 9 * * *&after=2026-12-24T12:00Z&count=1&calendars=xmas"
        assert as_viewer.get(f"/api/v1/schedule/preview?{query}").json()["next_runs"] == [
            "2026-12-26T09:00:00+00:00"
        ]


class TestRunWithParams:
    def test_it_runs_once_with_other_parameters(self, as_operator):
        job = make_job()
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/run", {"params": {"message": "once"}})
        assert response.status_code == 202
        run = Run.objects.get()
        assert run.params == {"message": "once"} and response.json()["params"] == run.params
        assert as_operator.get(f"/api/v1/runs/{run.pk}").json()["params"] == {"message": "once"}
        job.refresh_from_db()
        assert job.config["params"] == {"message": "hi"} and job.version == 1
        plain = as_operator.post(f"/api/v1/jobs/{job.pk}/run")
        assert plain.json()["params"] is None

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"nope": 1}, "params.nope"),
            ({"seconds": "soon"}, "params.seconds"),
            ({"seconds": True}, "params.seconds"),
            ("fast", "params"),
        ],
    )
    def test_bad_parameters_are_a_422_naming_the_field(self, as_operator, params, field):
        job = make_job("sleepy", config={"task": "demo.sleep", "params": {"seconds": 1.0}})
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/run", {"params": params})
        assert response.status_code == 422, response.json()
        assert field in response.json()["error"]["fields"]
        assert not Run.objects.exists()

    def test_only_task_jobs_take_parameters(self, as_operator):
        job = make_http_job()
        response = as_operator.post(f"/api/v1/jobs/{job.pk}/run", {"params": {"a": 1}})
        assert response.status_code == 422 and "params" in response.json()["error"]["fields"]

    def test_it_checks_the_role(self, as_viewer):
        job = make_job()
        response = as_viewer.post(f"/api/v1/jobs/{job.pk}/run", {"params": {"message": "x"}})
        assert response.status_code == 403
        assert not Run.objects.exists()


class TestJobFiles:
    def test_calendars_travel_by_name(self):
        calendar_create(actor=None, name="China", holiday_country="CN")
        make_job(calendars=["China"], on_calendar="next_allowed")
        text = jobs_export(actor=None, fmt="json")
        assert '"calendars": [\n        "China"\n      ]' in text
        Job.objects.all().delete()
        jobs_import_apply(actor=None, text=text, fmt="json")
        job = Job.objects.get()
        assert [c.name for c in job.calendars.all()] == ["China"]
        assert job.on_calendar == "next_allowed"

    def test_an_unknown_calendar_in_a_file_is_refused(self):
        text = '{"version": 1, "jobs": {"a": {"kind": "task", "schedule": "@daily", '
        text += '"config": {"task": "demo.noop", "params": {}}, "calendars": ["Mars"]}}}'
        from jobs.services import JobFileError

        with pytest.raises(JobFileError) as error:
            jobs_import_apply(actor=None, text=text, fmt="json")
        assert error.value.field == "calendars" and "Mars" in str(error.value)
        assert not Job.objects.exists()


class TestVersions:
    def test_a_restored_version_brings_its_calendars_back(self):
        from jobs import services

        calendar_create(actor=None, name="China", holiday_country="CN")
        job = make_job(calendars=["China"])
        job = services.job_update(actor=None, job=job, calendars=[])
        assert not job.calendars.exists() and job.version == 2
        job = services.job_restore_version(actor=None, job=job, version=1)
        assert [c.name for c in job.calendars.all()] == ["China"] and job.version == 3
        audit = AuditEvent.objects.filter(object_type="job", action="update").first()
        assert audit.changes["calendars"] == [None, ["China"]]

"""Creating, editing and cloning jobs; the kind fields and the live schedule preview."""

import re

import pytest

from jobs.models import AuditEvent, Job, JobVersion
from jobs.vault import unseal
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    admin_fixture,
    as_editor_fixture,
    as_operator_fixture,
    as_viewer_fixture,
    editor_fixture,
    fresh_caches_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_job,
    operator_fixture,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict[str, object]:
    data = {
        "name": "nightly",
        "description": "",
        "kind": "task",
        "task": "demo.echo",
        "param_message": "hello",
        "schedule": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "max_retries": 1,
        "retry_backoff": "fixed",
        "retry_backoff_seconds": 10,
        "overlap": "skip",
        "max_concurrent": 1,
        "misfire": "once",
        "misfire_limit": 10,
        "priority": 0,
        "labels": "team=data\nenv = prod",
    }
    return {**data, **overrides}


class TestJobCreate:
    def test_it_works(self, as_editor):
        assert as_editor.get("/jobs/new/").status_code == 200
        response = as_editor.post("/jobs/new/", form_data(), headers=HX)
        job = Job.objects.get()
        assert response.status_code == 200
        assert response["HX-Redirect"] == f"/jobs/{job.pk}/"
        assert job.config == {"task": "demo.echo", "params": {"message": "hello"}}
        assert (job.schedule, job.timezone, job.max_retries) == ("30 2 * * *", "Europe/Berlin", 1)
        assert job.labels == {"team": "data", "env": "prod"}
        assert job.created_by.username == "editor"
        assert AuditEvent.objects.filter(action="create", object_id=str(job.pk)).exists()

    def test_it_creates_http_jobs(self, as_editor):
        data = form_data(
            kind="http",
            method="POST",
            url="https://example.com/hook",
            headers="Authorization: Bearer abc\nX-Team: data",
            body='{"a": 1}',
            expect_status="200, 204",
        )
        response = as_editor.post("/jobs/new/", data)
        assert response.status_code == 302
        config = Job.objects.get().config
        assert config["headers"]["X-Team"] == "data"
        assert unseal(config["headers"]["Authorization"]) == "Bearer abc"
        assert config["expect_status"] == [200, 204]

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/jobs/new/"))
        assert login_redirect(client.post("/jobs/new/", form_data()))
        assert not Job.objects.exists()

    def test_it_checks_role(self, as_operator):
        assert as_operator.get("/jobs/new/").status_code == 403
        assert as_operator.post("/jobs/new/", form_data(), headers=HX).status_code == 403
        assert not Job.objects.exists()

    def test_only_admins_may_create_shell_jobs(self, as_editor, settings):
        settings.CRONADMIN_ALLOW_SHELL_JOBS = True
        data = form_data(kind="shell", command="echo hi")
        response = as_editor.post("/jobs/new/", data)
        assert response.status_code == 200  # "shell" is not offered to editors
        assert "kind" in response.context["form"].errors
        assert not Job.objects.exists()

    def test_it_rejects_wrong_method(self, as_editor):
        assert as_editor.put("/jobs/new/").status_code == 405

    @pytest.mark.parametrize(
        ("overrides", "field", "words"),
        [
            ({"schedule": "61 * * * *"}, "schedule", "Minute field: 61 is out of range 0-59"),
            ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone 'Mars/Olympus'"),
            ({"param_message": ""}, "param_message", "required"),
            ({"task": "no.such"}, "task", "Select a valid choice"),
            ({"labels": "bad key!=x"}, "labels", "must start with a letter or digit"),
            ({"labels": "novalue"}, "labels", "has no “=”"),
            ({"max_concurrent": 0}, "max_concurrent", "greater than or equal to 1"),
        ],
    )
    @pytest.mark.parametrize("hx", [True, False])
    def test_it_handles_bad_input(self, as_editor, overrides, field, words, hx):
        response = as_editor.post("/jobs/new/", form_data(**overrides), headers=HX if hx else {})
        assert response.status_code == 200  # htmx swaps 200s only
        errors = response.context["form"].errors
        assert words in " ".join(errors[field])
        assert (b"<html" in response.content) is not hx
        assert not Job.objects.exists()

    def test_it_puts_service_errors_at_the_field(self, as_editor):
        make_job("nightly")
        response = as_editor.post("/jobs/new/", form_data(), headers=HX)
        assert response.status_code == 200
        assert "name" in response.context["form"].errors
        http = form_data(kind="http", method="GET", url="ftp://example.com", headers="Host: x")
        response = as_editor.post("/jobs/new/", {**http, "name": "other"}, headers=HX)
        errors = response.context["form"].errors
        assert "Only http:// and https://" in errors["url"][0]
        assert "set by CronAdmin" in errors["headers"][0]
        assert Job.objects.count() == 1

    def test_it_speaks_chinese(self, as_editor, editor):
        from jobs.models import UserProfile

        UserProfile.objects.create(user=editor, language="zh-hans")
        response = as_editor.post("/jobs/new/", form_data(schedule="61 * * * *"), headers=HX)
        assert "分钟字段" in response.context["form"].errors["schedule"][0]


class TestJobEdit:
    def test_it_works(self, as_editor, job):
        assert as_editor.get(f"/jobs/{job.pk}/edit/").status_code == 200
        response = as_editor.post(
            f"/jobs/{job.pk}/edit/", form_data(name="echo", schedule="@hourly")
        )
        assert response.status_code == 302
        job.refresh_from_db()
        assert (job.schedule, job.version) == ("@hourly", 2)
        assert JobVersion.objects.filter(job=job).count() == 2

    def test_it_keeps_masked_secrets(self, as_editor):
        job = make_job(
            "hook",
            kind="http",
            config={"url": "https://example.com/", "headers": {"Authorization": "Bearer abc"}},
        )
        page = as_editor.get(f"/jobs/{job.pk}/edit/").content.decode()
        assert "Bearer abc" not in page and "Authorization: ••••••" in page
        data = form_data(
            name="hook",
            kind="http",
            method="GET",
            url="https://example.com/new",
            headers="Authorization: ••••••",
        )
        assert as_editor.post(f"/jobs/{job.pk}/edit/", data).status_code == 302
        job.refresh_from_db()
        assert unseal(job.config["headers"]["Authorization"]) == "Bearer abc"
        assert job.config["url"] == "https://example.com/new"

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.post(f"/jobs/{job.pk}/edit/", form_data(name="x")))
        job.refresh_from_db()
        assert job.name == "echo"

    def test_it_checks_role(self, as_operator, job):
        assert as_operator.get(f"/jobs/{job.pk}/edit/").status_code == 403
        response = as_operator.post(f"/jobs/{job.pk}/edit/", form_data(name="x"), headers=HX)
        assert response.status_code == 403
        job.refresh_from_db()
        assert (job.name, job.version) == ("echo", 1)

    def test_it_rejects_wrong_method(self, as_editor, job):
        assert as_editor.patch(f"/jobs/{job.pk}/edit/").status_code == 405

    @pytest.mark.parametrize("hx", [True, False])
    def test_it_handles_bad_input(self, as_editor, job, hx):
        data = form_data(name="echo", schedule="* * *")
        response = as_editor.post(f"/jobs/{job.pk}/edit/", data, headers=HX if hx else {})
        assert response.status_code == 200
        assert "Expected 5 fields" in response.context["form"].errors["schedule"][0]
        job.refresh_from_db()
        assert job.version == 1


class TestJobClone:
    def test_it_works(self, as_editor, job):
        response = as_editor.get(f"/jobs/{job.pk}/clone/")
        assert response.status_code == 200
        form = response.context["form"]
        assert form.initial["name"] == "Copy of echo"
        assert form.initial["param_message"] == "hi"
        assert b'action="/jobs/new/"' in response.content
        assert Job.objects.count() == 1  # saving goes through create

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.get(f"/jobs/{job.pk}/clone/"))

    def test_it_checks_role(self, as_viewer, job):
        assert as_viewer.get(f"/jobs/{job.pk}/clone/").status_code == 403

    def test_it_rejects_wrong_method(self, as_editor, job):
        assert as_editor.post(f"/jobs/{job.pk}/clone/").status_code == 405
        assert Job.objects.count() == 1

    def test_it_handles_bad_input(self, as_editor):
        assert as_editor.get("/jobs/12345/clone/").status_code == 404


class TestJobKindFields:
    def test_it_works(self, as_editor):
        response = as_editor.get("/jobs/fields/?kind=task&task=demo.sleep", headers=HX)
        assert response.status_code == 200
        assert b'name="param_seconds"' in response.content
        assert b"How long to run." in response.content
        http = as_editor.get("/jobs/fields/?kind=http", headers=HX)
        assert b'name="url"' in http.content and b'name="param_' not in http.content

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/jobs/fields/?kind=http"))

    def test_it_checks_role(self):
        assert logged_in(user_with_role(None)).get("/jobs/fields/").status_code == 403

    def test_it_rejects_wrong_method(self, as_editor):
        assert as_editor.post("/jobs/fields/").status_code == 405

    def test_it_handles_bad_input(self, as_editor):
        response = as_editor.get("/jobs/fields/?kind=<script>&task=nope", headers=HX)
        assert response.status_code == 200
        assert b"<script>" not in response.content


class TestSchedulePreview:
    def test_it_works(self, as_viewer):
        response = as_viewer.get(
            "/jobs/preview/?schedule=30+2+*+*+*&timezone=Europe/Berlin", headers=HX
        )
        assert response.status_code == 200
        page = response.content.decode()
        assert "At 02:30" in page
        assert len(response.context["runs"]) == 10
        assert "Your time (UTC)" in page  # the viewer's zone differs from the job's

    def test_it_warns(self, as_viewer):
        response = as_viewer.get("/jobs/preview/?schedule=*+*+*+*+*+*&timezone=UTC")
        assert "more often than once a minute" in response.content.decode()

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/jobs/preview/?schedule=@daily"))

    def test_it_checks_role(self):
        response = logged_in(user_with_role(None)).get("/jobs/preview/?schedule=@daily")
        assert response.status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.post("/jobs/preview/").status_code == 405

    @pytest.mark.parametrize(
        ("query", "words"),
        [
            ("schedule=0+0+*+*+fri%239", "is not a week of the month"),
            ("schedule=@daily&timezone=Nowhere", "Unknown time zone"),
            ("schedule=", "Type a schedule"),
            ("schedule=%3Cb%3E+*+*+*+*", "&lt;b&gt;"),
        ],
    )
    def test_it_handles_bad_input(self, as_viewer, query, words):
        response = as_viewer.get(f"/jobs/preview/?{query}", headers=HX)
        assert response.status_code == 200
        assert words in response.content.decode()


class TestTimeoutUnits:
    @pytest.mark.parametrize(
        ("amount", "unit", "seconds"), [("90", "1", 90), ("5", "60", 300), ("1.5", "3600", 5400)]
    )
    def test_a_timeout_is_entered_in_seconds_minutes_or_hours(
        self, as_editor, amount, unit, seconds
    ):
        data = form_data(timeout_seconds_0=amount, timeout_seconds_1=unit)
        as_editor.post("/jobs/new/", data, headers=HX)
        assert Job.objects.get().timeout_seconds == seconds

    def test_an_empty_timeout_is_the_server_default(self, as_editor):
        as_editor.post("/jobs/new/", form_data(timeout_seconds_0="", timeout_seconds_1="60"))
        assert Job.objects.get().timeout_seconds is None

    @pytest.mark.parametrize(("amount", "words"), [("0.5", "whole number"), ("0", "At least")])
    def test_it_refuses_what_is_not_whole_seconds(self, as_editor, amount, words):
        data = form_data(timeout_seconds_0=amount, timeout_seconds_1="1")
        response = as_editor.post("/jobs/new/", data, headers=HX)
        assert response.status_code == 200
        assert words in response.content.decode()
        assert not Job.objects.exists()

    def test_the_edit_form_shows_the_largest_exact_unit(self, as_editor, job):
        Job.objects.filter(pk=job.pk).update(timeout_seconds=5400)
        form = as_editor.get(f"/jobs/{job.pk}/edit/").context["form"]
        assert form["timeout_seconds"].value() in ([90, "60"], 5400)
        html = as_editor.get(f"/jobs/{job.pk}/edit/").content.decode()
        assert 'name="timeout_seconds_0" value="90"' in html
        assert '<option value="60" selected>minutes</option>' in html


def test_task_choices_say_what_the_task_does(as_editor):
    html = as_editor.get("/jobs/new/").content.decode()
    option = re.search(r'<option value="demo.echo"[^>]*>([^<]+)</option>', html)
    assert option and option[1] != "demo.echo" and option[1].endswith("(demo.echo)")


def test_notify_on_keeps_its_label_above_the_boxes(as_editor):
    html = as_editor.get("/jobs/new/").content.decode()
    field = re.search(r'<div class="field([^"]*)">\s*<label>Notify on</label>', html)
    assert field and "check" not in field[1]

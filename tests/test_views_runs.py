"""Run pages (live output, cancel), job versions and restoring them, the audit log."""

import pytest

from jobs import services
from jobs.models import AuditEvent, Job, JobVersion, Run
from jobs.output import OutputCapture, output_path
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
    make_run,
    operator_fixture,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db


class TestRunDetail:
    def test_it_works(self, as_viewer, job):
        run = make_run(job, Run.State.FAILED, reason="RuntimeError: boom", error="Traceback …")
        response = as_viewer.get(f"/runs/{run.pk}/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "RuntimeError: boom" in page and "Traceback …" in page
        # Final: only a change to its job's runs redraws it; nothing polls.
        assert response.context["live_trigger"] == f"live-job-{job.pk} from:body"

    def test_it_tails_the_output_of_a_running_run(self, as_viewer, job, settings, tmp_path):
        settings.CRONADMIN_OUTPUT_DIR = tmp_path
        run = make_run(job, Run.State.RUNNING)
        with OutputCapture(output_path(run.pk), 1024, 1024) as capture:
            capture.write("second 1\n")
        response = as_viewer.get(f"/runs/{run.pk}/live/", headers=HX)
        assert response.status_code == 200
        assert "second 1" in response.content.decode()
        assert response.context["live_trigger"] == f"live-job-{job.pk} from:body, every 2s"
        plain = as_viewer.get(f"/runs/{run.pk}/live/")
        assert plain.status_code == 302 and plain["Location"] == f"/runs/{run.pk}/"

    def test_it_requires_login(self, client, job):
        run = make_run(job)
        assert login_redirect(client.get(f"/runs/{run.pk}/"))
        assert login_redirect(client.get(f"/runs/{run.pk}/live/", headers=HX))

    def test_it_checks_role(self, job):
        run = make_run(job)
        assert logged_in(user_with_role(None)).get(f"/runs/{run.pk}/").status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer, job):
        run = make_run(job)
        assert as_viewer.post(f"/runs/{run.pk}/").status_code == 405
        assert as_viewer.post(f"/runs/{run.pk}/live/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer):
        assert as_viewer.get("/runs/31337/").status_code == 404
        assert as_viewer.get("/runs/31337/live/", headers=HX).status_code == 404


class TestRunCancel:
    def test_it_works(self, as_operator, job):
        run = make_run(job, Run.State.QUEUED)
        response = as_operator.post(f"/runs/{run.pk}/cancel/", headers=HX)
        assert response.status_code == 200
        run.refresh_from_db()
        assert run.state == "cancelled"
        assert "Cancelled by operator" in run.reason
        running = make_run(job, Run.State.RUNNING)
        assert as_operator.post(f"/runs/{running.pk}/cancel/").status_code == 302
        running.refresh_from_db()
        assert running.cancel_requested_at is not None

    def test_it_requires_login(self, client, job):
        run = make_run(job, Run.State.QUEUED)
        assert login_redirect(client.post(f"/runs/{run.pk}/cancel/"))
        run.refresh_from_db()
        assert run.state == "queued"

    def test_it_checks_role(self, as_viewer, job):
        run = make_run(job, Run.State.RUNNING)
        assert as_viewer.post(f"/runs/{run.pk}/cancel/", headers=HX).status_code == 403
        run.refresh_from_db()
        assert run.cancel_requested_at is None

    def test_it_rejects_wrong_method(self, as_operator, job):
        run = make_run(job, Run.State.QUEUED)
        assert as_operator.get(f"/runs/{run.pk}/cancel/").status_code == 405
        run.refresh_from_db()
        assert run.state == "queued"

    def test_it_handles_bad_input(self, as_operator, job):
        run = make_run(job, Run.State.SUCCEEDED)
        response = as_operator.post(f"/runs/{run.pk}/cancel/", headers=HX)
        assert response.status_code == 200
        assert "already ended" in response.content.decode()
        run.refresh_from_db()
        assert run.state == "succeeded"


class TestJobVersions:
    def test_it_works(self, as_viewer, job):
        services.job_update(actor=None, job=job, schedule="@hourly", description="now hourly")
        response = as_viewer.get(f"/jobs/{job.pk}/versions/")
        assert response.status_code == 200
        entries = response.context["entries"]
        assert [e["version"].version for e in entries] == [2, 1]
        rows = {row.field: row for row in entries[0]["rows"]}
        assert (rows["schedule"].label, rows["schedule"].before, rows["schedule"].after) == (
            "Schedule",
            "*/5 * * * *",
            "@hourly",
        )
        assert as_viewer.get(f"/jobs/{job.pk}/versions/", headers=HX).status_code == 200

    def test_it_shows_labels_and_display_values(self, as_viewer, job):
        services.job_update(
            actor=None, job=job, overlap=Job.Overlap.QUEUE, timeout_seconds=300, description=""
        )
        page = as_viewer.get(f"/jobs/{job.pk}/versions/").content.decode()
        assert "When the previous run is still going" in page
        assert "Skip the new run" in page and "Queue one run" in page
        assert "5 minutes" in page
        assert ">skip<" not in page and ">queue<" not in page and "overlap:" not in page

    def test_the_first_version_shows_the_definition_compactly(self, as_viewer, job):
        entries = as_viewer.get(f"/jobs/{job.pk}/versions/").context["entries"]
        summary = dict(entries[-1]["summary"])
        assert summary["Kind"] == "Python task" and summary["Schedule"] == "*/5 * * * *"
        assert "—" not in summary.values()
        assert "Description" not in summary  # empty fields are left out

    def test_it_names_the_jobs_a_chain_starts(self, as_viewer, job):
        other = make_job("cleanup")
        services.job_update(actor=None, job=job, on_success=[other.pk])
        entries = as_viewer.get(f"/jobs/{job.pk}/versions/").context["entries"]
        rows = {row.field: row for row in entries[0]["rows"]}
        assert (rows["on_success"].label, rows["on_success"].after) == ("On success", "cleanup")

    def test_it_masks_secrets(self, as_viewer):
        job = make_job(
            "hook",
            kind="http",
            config={"url": "https://e.com/", "headers": {"X-Token": "s3cret-one"}},
        )
        services.job_update(
            actor=None, job=job, config={**job.config, "headers": {"X-Token": "s3cret-two"}}
        )
        page = as_viewer.get(f"/jobs/{job.pk}/versions/").content.decode()
        assert "s3cret-one" not in page and "s3cret-two" not in page

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.get(f"/jobs/{job.pk}/versions/"))

    def test_it_checks_role(self, job):
        assert logged_in(user_with_role(None)).get(f"/jobs/{job.pk}/versions/").status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer, job):
        assert as_viewer.post(f"/jobs/{job.pk}/versions/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer):
        assert as_viewer.get("/jobs/777/versions/").status_code == 404


class TestJobVersionRestore:
    def test_it_works(self, as_editor, job):
        services.job_update(actor=None, job=job, schedule="@hourly")
        response = as_editor.post(f"/jobs/{job.pk}/versions/1/restore/", headers=HX)
        assert response.status_code == 200
        job.refresh_from_db()
        assert (job.schedule, job.version) == ("*/5 * * * *", 3)
        assert JobVersion.objects.filter(job=job).count() == 3
        assert "Version 1 restored as version 3." in response.content.decode()

    def test_it_requires_login(self, client, job):
        services.job_update(actor=None, job=job, schedule="@hourly")
        assert login_redirect(client.post(f"/jobs/{job.pk}/versions/1/restore/"))
        job.refresh_from_db()
        assert job.version == 2

    def test_it_checks_role(self, as_operator, job):
        services.job_update(actor=None, job=job, schedule="@hourly")
        assert as_operator.post(f"/jobs/{job.pk}/versions/1/restore/").status_code == 403
        job.refresh_from_db()
        assert (job.schedule, job.version) == ("@hourly", 2)

    def test_it_rejects_wrong_method(self, as_editor, job):
        assert as_editor.get(f"/jobs/{job.pk}/versions/1/restore/").status_code == 405

    def test_it_handles_bad_input(self, as_editor, job):
        response = as_editor.post(f"/jobs/{job.pk}/versions/9/restore/", headers=HX)
        assert response.status_code == 200
        assert "does not exist" in response.content.decode()
        current = as_editor.post(f"/jobs/{job.pk}/versions/1/restore/")
        assert current.status_code == 302
        job.refresh_from_db()
        assert job.version == 1


class TestAuditLog:
    def test_it_works(self, as_editor, editor, job):
        as_editor.post(f"/jobs/{job.pk}/run/")
        response = as_editor.get("/audit/?action=run_now")
        assert response.status_code == 200
        events = list(response.context["page"])
        assert [(e.action, e.actor_name) for e in events] == [("run_now", "editor")]
        htmx = as_editor.get(f"/audit/?object_type=job&object_id={job.pk}", headers=HX)
        assert {e.action for e in htmx.context["page"]} == {"create", "run_now"}
        assert b"<html" not in htmx.content

    def test_it_shows_labels_and_display_values(self, as_editor, editor, job):
        services.job_update(actor=editor, job=job, overlap=Job.Overlap.ALLOW, description="")
        page = as_editor.get(f"/audit/?object_type=job&object_id={job.pk}").content.decode()
        assert "When the previous run is still going" in page
        assert "Allow up to the concurrency limit" in page
        assert "overlap:" not in page and "kind: task" not in page and "— → —" not in page

    def test_a_creation_lists_the_definition_without_arrows(self, as_editor, job):
        response = as_editor.get(f"/audit/?action=create&object_id={job.pk}")
        (created,) = response.context["page"]
        summary = dict(created.summary)
        assert summary["Kind"] == "Python task" and summary["Name"] == job.name
        assert "→" not in response.content.decode().split('id="audit-table"')[1]

    def test_rerunning_failed_runs_is_its_own_action(self, as_operator, operator, job):
        from datetime import timedelta

        from django.utils import timezone

        make_run(job, Run.State.FAILED, trigger="schedule", ago=600)
        start = timezone.now() - timedelta(hours=1)
        services.runs_rerun_failed(actor=operator, start=start, end=timezone.now())
        response = as_operator.get("/audit/?action=rerun_failed")
        (event,) = response.context["page"]
        assert event.get_action_display() == "Re-ran failed runs"
        rows = {row.field: row for row in event.rows}
        assert rows["failed_runs_rerun"].after == "1"
        assert "Re-ran failed runs" in response.content.decode()

    def test_it_is_read_only(self, as_editor, job):
        count = AuditEvent.objects.count()
        assert as_editor.post("/audit/").status_code == 405
        assert as_editor.delete("/audit/").status_code == 405
        assert AuditEvent.objects.count() == count

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/audit/"))

    def test_it_checks_role(self, db):
        assert logged_in(user_with_role(None)).get("/audit/").status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer):
        assert as_viewer.put("/audit/").status_code == 405

    def test_it_handles_bad_input(self, as_viewer, job):
        response = as_viewer.get("/audit/?action=drop&object_type=x&page=0&actor=%00")
        assert response.status_code == 200
        assert Job.objects.count() == 1

"""The export download, and the import page: upload or paste, plan, apply."""

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import services
from jobs.models import AuditEvent, Job, JobVersion
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_editor_fixture,
    as_operator_fixture,
    as_viewer_fixture,
    editor_fixture,
    fresh_caches_fixture,
    logged_in,
    login_redirect,
    make_job,
    operator_fixture,
    user_with_role,
    viewer_fixture,
)

pytestmark = pytest.mark.django_db
NEW = "version: 1\njobs:\n  new:\n    kind: task\n    schedule: '@daily'\n"
NEW += "    config: {task: demo.noop}\n"


def written() -> tuple[int, int, int]:
    return Job.objects.count(), JobVersion.objects.count(), AuditEvent.objects.count()


class TestExport:
    def test_it_works(self, as_viewer):
        make_job("echo")
        response = as_viewer.get("/jobs/export/?format=yaml")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/yaml; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="cronadmin-jobs-')
        assert list(yaml.safe_load(response.content)["jobs"]) == ["echo"]

    def test_it_exports_the_selected_jobs(self, as_viewer):
        echo, _other = make_job("echo"), make_job("other")
        response = as_viewer.get(f"/jobs/export/?format=json&job={echo.pk}")
        assert list(response.json()["jobs"]) == ["echo"]

    def test_the_list_form_is_redirected_to_the_download(self, as_viewer):
        echo = make_job("echo")
        query = f"?csrfmiddlewaretoken=abc&job={echo.pk}&format=json"
        response = as_viewer.get(f"/jobs/export/{query}")
        assert response.status_code == 302
        assert response["Location"] == f"/jobs/export/?format=json&job={echo.pk}"
        response = as_viewer.get(f"/jobs/export/{query}", headers=HX)
        assert response["HX-Redirect"] == f"/jobs/export/?format=json&job={echo.pk}"

    def test_it_handles_bad_input(self, as_viewer):
        make_job("echo")
        response = as_viewer.get("/jobs/export/?format=xml&job=x")
        assert response.status_code == 200 and b"echo:" in response.content

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/jobs/export/"))

    def test_it_requires_a_role(self, db):
        assert logged_in(user_with_role(None)).get("/jobs/export/").status_code == 403

    def test_it_rejects_post(self, as_viewer):
        assert as_viewer.post("/jobs/export/").status_code == 405

    def test_the_list_offers_it(self, as_viewer, as_editor):
        make_job("echo")
        page = as_viewer.get("/jobs/").content.decode()
        assert "Export all" in page and 'formaction="/jobs/export/"' in page
        assert "/jobs/import/" not in page
        assert "/jobs/import/" in as_editor.get("/jobs/").content.decode()


class TestImportPage:
    def test_it_shows_the_form(self, as_editor):
        response = as_editor.get("/jobs/import/")
        assert response.status_code == 200
        assert b'name="file"' in response.content and b'name="text"' in response.content

    def test_it_shows_the_plan_and_writes_nothing(self, as_editor):
        make_job("echo")
        counts = written()
        response = as_editor.post("/jobs/import/", {"text": NEW, "delete_missing": "on"})
        assert response.status_code == 200
        plan = response.context["plan"]
        assert [(job.name, job.action) for job in plan.jobs] == [
            ("new", "create"),
            ("echo", "delete"),
        ]
        page = response.content.decode()
        assert "1 to create, 0 to change, 0 unchanged, 1 to delete." in page
        assert f'name="fingerprint" value="{plan.fingerprint}"' in page
        assert "<html" in page
        assert written() == counts

    def test_htmx_gets_the_region_only(self, as_editor):
        job = make_job("echo")
        text = services.jobs_export(actor=None, fmt="json").replace('"hi"', '"bye"')
        response = as_editor.post("/jobs/import/", {"text": text}, headers=HX)
        assert response.status_code == 200
        page = response.content.decode()
        assert "<html" not in page and page.lstrip().startswith('<div id="import">')
        assert "Apply this plan" in page and "bye" in page
        assert response.context["plan"].jobs[0].changes == {
            "config.params": [{"message": "hi"}, {"message": "bye"}]
        }
        job.refresh_from_db()
        assert job.config["params"] == {"message": "hi"}

    def test_the_plan_shows_links_by_name(self, as_editor):
        make_job("report")
        make_job("extract")
        document = yaml.safe_load(services.jobs_export(actor=None, fmt="yaml"))
        document["jobs"]["extract"]["on_success"] = ["report"]
        counts = written()
        response = as_editor.post("/jobs/import/", {"text": yaml.safe_dump(document)})
        assert response.context["plan"].jobs[0].changes == {"on_success": [None, ["report"]]}
        assert '<td class="new">report</td>' in response.content.decode()
        assert written() == counts

    def test_it_reads_an_uploaded_file(self, as_editor):
        upload = SimpleUploadedFile("jobs.yaml", NEW.encode())
        response = as_editor.post("/jobs/import/", {"file": upload})
        assert [job.name for job in response.context["plan"].jobs] == ["new"]

    @pytest.mark.parametrize("headers", [{}, HX])
    def test_it_shows_a_bad_file_at_the_field(self, as_editor, headers):
        counts = written()
        bad = NEW.replace("'@daily'", "'@often'")
        response = as_editor.post("/jobs/import/", {"text": bad}, headers=headers)
        assert response.status_code == 200
        [error] = response.context["form"].errors["text"]
        assert error.startswith("Line 5 (job “new”, schedule):")
        assert response.context["plan"] is None
        assert written() == counts

    def test_it_asks_for_a_file(self, as_editor):
        response = as_editor.post("/jobs/import/", {"text": "  "})
        assert response.context["form"].errors["text"] == ["Choose a file or paste its content."]
        upload = SimpleUploadedFile("jobs.yaml", b"\xff\xfe")
        response = as_editor.post("/jobs/import/", {"file": upload})
        assert response.context["form"].errors["file"] == ["The file must be UTF-8 text."]

    def test_it_requires_login(self, client):
        assert login_redirect(client.get("/jobs/import/"))
        assert login_redirect(client.post("/jobs/import/", {"text": NEW}))

    def test_it_requires_the_editor_role(self, as_viewer, as_operator):
        for client in (as_viewer, as_operator):
            assert client.get("/jobs/import/").status_code == 403
            assert client.post("/jobs/import/", {"text": NEW}).status_code == 403

    def test_it_rejects_put(self, as_editor):
        assert as_editor.put("/jobs/import/").status_code == 405


class TestImportApply:
    def plan(self, client, text: str, **fields) -> dict:
        response = client.post("/jobs/import/", {"text": text, **fields})
        return {
            "text": text,
            "format": response.context["form"].cleaned_data["format"],
            "fingerprint": response.context["plan"].fingerprint,
            **fields,
        }

    def test_it_works(self, as_editor, editor):
        make_job("gone")
        confirm = self.plan(as_editor, NEW, delete_missing="on")
        response = as_editor.post("/jobs/import/apply/", confirm)
        assert response.status_code == 302 and response["Location"] == "/jobs/"
        assert list(Job.objects.values_list("name", flat=True)) == ["new"]
        assert Job.objects.get().created_by == editor
        messages = [str(m) for m in response.wsgi_request._messages]
        assert messages == ["Imported: 1 created, 0 changed, 0 unchanged, 1 deleted."]

    def test_htmx_is_sent_to_the_list(self, as_editor):
        response = as_editor.post("/jobs/import/apply/", self.plan(as_editor, NEW), headers=HX)
        assert response["HX-Redirect"] == "/jobs/"
        assert Job.objects.filter(name="new").exists()

    def test_it_refuses_when_the_jobs_changed_since_the_plan(self, as_editor):
        job = make_job("echo")
        confirm = self.plan(as_editor, NEW)
        services.job_update(actor=None, job=job, priority=3)
        counts = written()
        response = as_editor.post("/jobs/import/apply/", confirm, headers=HX)
        assert response.status_code == 200
        assert "The jobs have changed since this plan was made" in response.content.decode()
        assert response.context["plan"].fingerprint != confirm["fingerprint"]  # the new plan
        assert written() == counts

    def test_it_handles_bad_input(self, as_editor):
        counts = written()
        response = as_editor.post("/jobs/import/apply/", {"text": "version: 7\njobs: {}\n"})
        assert response.status_code == 200
        assert "Version 7 is not one" in response.context["form"].errors["text"][0]
        assert written() == counts

    def test_it_requires_login(self, client):
        assert login_redirect(client.post("/jobs/import/apply/", {"text": NEW}))

    def test_it_requires_the_editor_role(self, as_operator):
        assert as_operator.post("/jobs/import/apply/", {"text": NEW}).status_code == 403
        assert not Job.objects.exists()

    def test_it_rejects_get(self, as_editor):
        assert as_editor.get("/jobs/import/apply/").status_code == 405

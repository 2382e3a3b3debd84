"""Notification and retention fields in the job form; the notifications panel and run page."""

import pytest
from django.utils import timezone

from jobs.audit import open_url
from jobs.models import Job, Notification
from jobs.vault import is_sealed
from tests.test_views_base import (  # noqa: F401 - fixtures are found by their names
    HX,
    as_editor_fixture,
    as_operator_fixture,
    as_viewer_fixture,
    editor_fixture,
    fresh_caches_fixture,
    job_fixture,
    logged_in,
    login_redirect,
    make_run,
    operator_fixture,
    user_with_role,
    viewer_fixture,
)
from tests.test_views_job_forms import form_data

pytestmark = pytest.mark.django_db

NOTIFY = {
    "notify_on": ["failure", "recovery"],
    "notify_emails": "ops@example.com, dev@example.com",
    "notify_webhook_url": "https://hooks.example.com/cron",
    "notify_window_seconds": "600",
    "keep_runs_days": "7",
    "keep_runs_count": "50",
}


def notification(job: Job, run=None, **fields) -> Notification:
    now = timezone.now()
    row = Notification.objects.create(
        job=job,
        channel="email",
        target=fields.pop("target", "ops@example.com"),
        events={"failure": 12},
        digest_count=12,
        first_event_at=now,
        last_event_at=now,
        send_after=now,
        **fields,
    )
    if run is not None:
        row.runs.add(run)
    return row


class TestJobFormNotifications:
    def test_it_saves_them(self, as_editor):
        response = as_editor.post("/jobs/new/", form_data(**NOTIFY), headers=HX)
        assert response.status_code == 200 and "HX-Redirect" in response
        job = Job.objects.get()
        assert job.notify_on == ["failure", "recovery"]
        assert job.notify_emails == ["ops@example.com", "dev@example.com"]
        assert open_url(job.notify_webhook_url) == "https://hooks.example.com/cron"
        assert is_sealed(job.notify_webhook_url)
        assert (job.notify_window_seconds, job.keep_runs_days, job.keep_runs_count) == (600, 7, 50)

    def test_the_edit_form_shows_them(self, as_editor, job):
        Job.objects.filter(pk=job.pk).update(notify_emails=["a@example.com", "b@example.com"])
        page = as_editor.get(f"/jobs/{job.pk}/edit/").content.decode()
        assert "a@example.com\nb@example.com" in page
        assert 'name="notify_webhook_url"' in page and 'name="keep_runs_days"' in page

    def test_it_can_clear_them(self, as_editor, job):
        Job.objects.filter(pk=job.pk).update(notify_on=["failure"], keep_runs_days=3)
        response = as_editor.post(f"/jobs/{job.pk}/edit/", form_data(name=job.name))
        assert response.status_code == 302
        job.refresh_from_db()
        assert job.notify_on == [] and job.keep_runs_days is None

    @pytest.mark.parametrize(
        "field, value, message",
        [
            ("notify_emails", "ops@example.com\nnot-an-address", "not-an-address"),
            ("notify_webhook_url", "ftp://example.com/hook", "http://"),
            ("notify_webhook_url", "https://user:pw@example.com/", "credentials"),
            ("notify_on", ["explosion"], "explosion"),
            ("keep_runs_days", "-1", "greater than or equal to 0"),
        ],
    )
    def test_it_shows_bad_input_at_the_field(self, as_editor, field, value, message):
        response = as_editor.post("/jobs/new/", form_data(**{field: value}), headers=HX)
        assert response.status_code == 200
        assert "HX-Redirect" not in response
        form = response.context["form"]
        assert list(form.errors) == [field]
        assert message in " ".join(form.errors[field])
        assert not Job.objects.exists()

    def test_the_job_page_shows_the_settings(self, as_viewer, job):
        Job.objects.filter(pk=job.pk).update(
            notify_on=["timeout"], notify_emails=["ops@example.com"], keep_runs_days=9
        )
        page = as_viewer.get(f"/jobs/{job.pk}/").content.decode()
        assert "Timeout" in page and "ops@example.com" in page and "9 days" in page


class TestNotificationsPanel:
    def test_it_works(self, as_viewer, job):
        notification(job, state="sent", sent_at=timezone.now())
        response = as_viewer.get(f"/jobs/{job.pk}/notifications/", headers=HX)
        assert response.status_code == 200
        assert [t.name for t in response.templates][0] == "jobs/_job_notifications.html"
        page = response.content.decode()
        assert "ops@example.com" in page and "Failure × 12" in page and "Sent" in page

    def test_the_job_page_includes_it(self, as_viewer, job):
        notification(job, error="HTTP 503", state="failed", attempts=3)
        page = as_viewer.get(f"/jobs/{job.pk}/").content.decode()
        assert 'id="notifications"' in page and "HTTP 503" in page

    def test_without_htmx_it_redirects_to_the_job_page(self, as_viewer, job):
        response = as_viewer.get(f"/jobs/{job.pk}/notifications/")
        assert response.status_code == 302
        assert response["Location"] == f"/jobs/{job.pk}/#notifications"

    def test_it_requires_login(self, client, job):
        assert login_redirect(client.get(f"/jobs/{job.pk}/notifications/", headers=HX))

    def test_it_checks_role(self, job):
        client = logged_in(user_with_role(None))
        assert client.get(f"/jobs/{job.pk}/notifications/", headers=HX).status_code == 403

    def test_it_rejects_wrong_method(self, as_viewer, job):
        response = as_viewer.post(f"/jobs/{job.pk}/notifications/", headers=HX)
        assert response.status_code == 405

    def test_it_answers_404_for_a_missing_job(self, as_viewer):
        assert as_viewer.get("/jobs/999/notifications/", headers=HX).status_code == 404


def test_the_run_page_lists_its_notifications(as_viewer, job):
    run = make_run(job, state="failed")
    notification(job, run, state="sent", sent_at=timezone.now())
    notification(job, target="someone-else@example.com")
    page = as_viewer.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="run-notifications"' in page and "ops@example.com" in page
    assert "someone-else@example.com" not in page

"""The API side of notifications and retention: the job's settings and its sent messages."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

import pytest
from django.utils import timezone

from jobs.audit import open_url
from jobs.models import Job, Notification
from tests.test_api_support import (  # noqa: F401 - fixtures
    anonymous,
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

SETTINGS = {
    "notify_on": ["failure", "recovery"],
    "notify_emails": ["ops@example.com"],
    "notify_webhook_url": "https://hooks.example.com/cron",
    "notify_window_seconds": 600,
    "keep_runs_days": 7,
    "keep_runs_count": 50,
}
SHOWN = {**SETTINGS, "notify_webhook_url": "https://hooks.example.com/••••••"}


def notification(job: Job, run=None, **fields) -> Notification:
    now = timezone.now()
    row = Notification.objects.create(
        job=job,
        channel=fields.pop("channel", "email"),
        target="ops@example.com",
        events={"failure": 3},
        digest_count=3,
        first_event_at=now,
        last_event_at=now,
        send_after=now,
        **fields,
    )
    if run is not None:
        row.runs.add(run)
    return row


class TestSettings:
    def test_it_works(self, as_editor):
        job = make_job()
        response = as_editor.patch(f"/api/v1/jobs/{job.pk}", SETTINGS)
        assert response.status_code == 200, response.content
        job.refresh_from_db()
        stored = {name: getattr(job, name) for name in SETTINGS}
        assert {**stored, "notify_webhook_url": open_url(job.notify_webhook_url)} == SETTINGS
        assert {k: response.json()[k] for k in SETTINGS} == SHOWN
        assert job.version == 2

    def test_it_reads_them(self, as_viewer):
        job = make_job(**SETTINGS)
        answer = as_viewer.get(f"/api/v1/jobs/{job.pk}").json()
        # The webhook's URL is a secret: its host is shown, its path is not.
        assert {k: answer[k] for k in SETTINGS} == SHOWN

    def test_it_rejects_bad_values(self, as_editor):
        job = make_job()
        bad = {
            "notify_on": ["explosion"],
            "notify_emails": "ops@example.com",
            "keep_runs_days": -1,
        }
        response = as_editor.patch(f"/api/v1/jobs/{job.pk}", bad)
        assert response.status_code == 422
        assert set(error_of(response)["fields"]) == set(bad)
        job.refresh_from_db()
        assert job.notify_on == [] and job.version == 1

    def test_it_validates_addresses_and_the_url(self, as_editor):
        job = make_job()
        response = as_editor.patch(
            f"/api/v1/jobs/{job.pk}",
            {"notify_emails": ["not an address"], "notify_webhook_url": "ftp://example.com/"},
        )
        assert response.status_code == 422
        fields = error_of(response)["fields"]
        assert "not an address" in fields["notify_emails"]
        assert "http" in fields["notify_webhook_url"]
        job.refresh_from_db()
        assert job.notify_emails == [] and job.notify_webhook_url == ""

    def test_it_checks_role(self, as_operator):
        job = make_job()
        response = as_operator.patch(f"/api/v1/jobs/{job.pk}", {"notify_on": ["failure"]})
        assert response.status_code == 403
        job.refresh_from_db()
        assert job.notify_on == []


class TestNotificationList:
    def test_it_works(self, as_viewer):
        job = make_job()
        run = make_run(job, state="failed")
        sent = notification(job, run, state="sent", sent_at=timezone.now())
        notification(job, channel="webhook")
        notification(make_job("other"))
        answer = as_viewer.get(f"/api/v1/jobs/{job.pk}/notifications").json()
        assert answer["count"] == 2
        by_id = {n["id"]: n for n in answer["results"]}
        assert by_id[sent.pk]["runs"] == [run.pk]
        assert by_id[sent.pk]["events"] == {"failure": 3} and by_id[sent.pk]["state"] == "sent"

    def test_it_filters_by_run_and_state(self, as_viewer):
        job = make_job()
        run = make_run(job, state="failed")
        mine = notification(job, run)
        notification(job)
        answer = as_viewer.get(f"/api/v1/jobs/{job.pk}/notifications?run={run.pk}").json()
        assert [n["id"] for n in answer["results"]] == [mine.pk]
        answer = as_viewer.get(f"/api/v1/jobs/{job.pk}/notifications?state=sent").json()
        assert answer["count"] == 0

    def test_it_rejects_bad_input(self, as_viewer):
        job = make_job()
        for query in ("state=lost", "run=x", "colour=red"):
            response = as_viewer.get(f"/api/v1/jobs/{job.pk}/notifications?{query}")
            assert response.status_code == 400, query

    def test_it_requires_a_token(self, anonymous):
        job = make_job()
        assert anonymous.get(f"/api/v1/jobs/{job.pk}/notifications").status_code == 401

    def test_it_is_read_only(self, as_editor):
        job = make_job()
        response = as_editor.post(f"/api/v1/jobs/{job.pk}/notifications", {})
        assert response.status_code == 405
        assert not Notification.objects.exists()

    def test_it_answers_404_for_a_missing_job(self, as_viewer):
        assert as_viewer.get("/api/v1/jobs/999/notifications").status_code == 404

"""The notification webhook's URL is a secret: encrypted at rest, shown with its host only, and
"the mask means unchanged" in the form, the API and job files."""

# ruff: noqa: F811 - fixtures imported from tests.webhook_receiver are parameters

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone

from jobs import services, vault
from jobs.audit import mask_url, open_url
from jobs.models import AuditEvent, Job, JobVersion, Notification, Run
from jobs.notifications import ledger
from jobs.services import JobFileError
from tests.conftest import user_with_role
from tests.test_api_support import Api, error_of
from tests.webhook_receiver import receiver_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
URL = "https://hooks.example.com/services/T0AB/B0CD/s3cretPathPart"
SECRET = "s3cretPathPart"
SHOWN = f"https://hooks.example.com/{vault.SECRET_MASK}"
MIGRATION = importlib.import_module("jobs.migrations.0011_secret_webhook_urls")


def watched(url: str = URL, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=fields.pop("name", "nightly"),
        kind="task",
        config={"task": "demo.noop"},
        schedule="@daily",
        notify_on=["failure"],
        notify_webhook_url=url,
        **fields,
    )


def failed_run(job: Job) -> Run:
    now = timezone.now()
    return Run.objects.create(
        job=job,
        job_version=job.version,
        trigger="manual",
        state="failed",
        scheduled_for=now,
        started_at=now,
        finished_at=now,
        reason="exit 1",
    )


def raw_row(job: Job) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT notify_webhook_url FROM jobs_job WHERE id = %s", [job.pk])
        return cursor.fetchone()[0]


def test_it_is_encrypted_at_rest():
    job = watched()
    assert SECRET not in raw_row(job) and vault.is_sealed(raw_row(job))
    assert open_url(job.notify_webhook_url) == URL
    assert all(SECRET not in str(v.definition) for v in JobVersion.objects.all())
    assert SECRET not in str(list(AuditEvent.objects.values_list("changes", flat=True)))


def test_saving_the_same_url_again_makes_no_version():
    job = watched()
    job = services.job_update(actor=None, job=job, notify_webhook_url=URL)
    assert job.version == 1


def test_the_mask_shows_the_host_only():
    assert mask_url(vault.seal(URL)) == SHOWN
    assert mask_url("https://user:pw@hooks.example.com:8443/x") == (
        f"https://hooks.example.com:8443/{vault.SECRET_MASK}"
    )
    assert mask_url("") == ""


def test_no_page_or_answer_shows_it():
    job = watched()
    run = failed_run(job)
    ledger.record_event(job=job, run=run, event="failure", now=timezone.now())
    services.job_update(actor=None, job=job, description="changed")
    client = Client()
    client.force_login(user_with_role("Viewer"))
    pages = [
        f"/jobs/{job.pk}/",
        f"/jobs/{job.pk}/versions/",
        f"/jobs/{job.pk}/notifications/",
        f"/runs/{run.pk}/",
        "/audit/",
        "/jobs/export/?format=yaml",
        "/jobs/export/?format=json",
    ]
    for path in pages:
        response = client.get(path, follow=True)
        assert response.status_code == 200, path
        assert SECRET not in response.content.decode(), path
    assert "hooks.example.com" in client.get(f"/jobs/{job.pk}/").content.decode()
    api = Api(user_with_role("Viewer", "api viewer"))
    for path in (
        f"/api/v1/jobs/{job.pk}",
        "/api/v1/jobs",
        f"/api/v1/jobs/{job.pk}/notifications",
        "/api/v1/jobs/export?format=yaml",
    ):
        response = api.get(path)
        assert response.status_code == 200, path
        assert SECRET not in response.content.decode(), path
    assert api.get(f"/api/v1/jobs/{job.pk}").json()["notify_webhook_url"] == SHOWN
    assert Notification.objects.get().target == SHOWN


def test_the_mask_means_unchanged_in_the_api():
    job = watched()
    api = Api(user_with_role("Editor"))
    body = api.get(f"/api/v1/jobs/{job.pk}").json()
    response = api.put(f"/api/v1/jobs/{job.pk}", {**body, "description": "changed"})
    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert open_url(job.notify_webhook_url) == URL and job.version == 2
    other = api.patch(f"/api/v1/jobs/{job.pk}", {"notify_webhook_url": "https://x.io/••••••"})
    assert other.status_code == 422
    assert "whole URL" in error_of(other)["fields"]["notify_webhook_url"]


def test_the_mask_means_unchanged_in_the_form():
    job = watched()
    client = Client()
    client.force_login(user_with_role("Editor"))
    form = client.get(f"/jobs/{job.pk}/edit/").context["form"]
    assert form.initial["notify_webhook_url"] == SHOWN
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["notify_on"] = ["failure"]
    response = client.post(f"/jobs/{job.pk}/edit/", {**data, "description": "changed"})
    assert response.status_code == 302, response.context["form"].errors
    job.refresh_from_db()
    assert open_url(job.notify_webhook_url) == URL and job.description == "changed"


def test_the_mask_means_unchanged_in_a_job_file():
    job = watched()
    text = services.jobs_export(actor=None, fmt="yaml")
    assert SECRET not in text and SHOWN in text
    plan = services.jobs_import_plan(actor=None, text=text, fmt="yaml")
    assert plan.counts["unchanged"] == 1
    with pytest.raises(JobFileError) as caught:
        services.jobs_import_plan(actor=None, text=text.replace("nightly:", "other:"), fmt="yaml")
    assert caught.value.path == "jobs.other.notify_webhook_url"
    assert open_url(Job.objects.get(pk=job.pk).notify_webhook_url) == URL


def test_the_message_goes_to_the_whole_url(receiver, settings):
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    job = watched(url=receiver.url + "/T0AB/s3cretPathPart")
    ledger.record_event(job=job, run=failed_run(job), event="failure", now=timezone.now())
    ledger.send_due()
    [call] = receiver.calls
    assert call["path"] == "/hook/T0AB/s3cretPathPart"
    row = Notification.objects.get()
    assert row.state == "sent" and SECRET not in row.target


def test_the_migration_encrypts_what_was_stored_in_clear():
    job = watched()
    run = failed_run(job)
    # As rows were before: clear URLs everywhere.
    Job.objects.filter(pk=job.pk).update(notify_webhook_url=URL)
    JobVersion.objects.filter(job=job).update(
        definition={"name": "nightly", "notify_webhook_url": URL}
    )
    AuditEvent.objects.create(
        actor_name="x",
        action="update",
        object_type="job",
        object_id=str(job.pk),
        changes={"notify_webhook_url": ["", URL]},
    )
    row = ledger.record_event(job=job, run=run, event="failure", now=timezone.now())[0]
    Notification.objects.filter(pk=row.pk).update(target=URL)
    MIGRATION.seal_webhook_urls(apps, None)
    job.refresh_from_db()
    assert vault.is_sealed(raw_row(job)) and open_url(job.notify_webhook_url) == URL
    version = JobVersion.objects.get(job=job)
    assert version.definition["notify_webhook_url"] == raw_row(job)
    assert SECRET not in str(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert Notification.objects.get().target == SHOWN


def test_a_clone_starts_without_the_url():
    job = watched()
    client = Client()
    client.force_login(user_with_role("Editor"))
    form = client.get(f"/jobs/{job.pk}/clone/").context["form"]
    assert form.initial["notify_webhook_url"] == ""

"""The workers page, /api/v1/workers, their metrics, and the job field `queue`."""

# ruff: noqa: F811 - fixtures imported from tests.test_api_support are parameters

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs import services
from jobs.models import CeleryWorker, Job, JobVersion, Run
from tests.conftest import user_with_role
from tests.test_api_support import (  # noqa: F401 - fixtures
    Api,
    as_editor,
    as_viewer,
    editor,
    fresh_caches,
    viewer,
)
from tests.test_monitoring import samples
from tests.test_views_base import logged_in, login_redirect

URL = "/workers/"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def make_worker(name: str, silent_for: timedelta, queues: list[str]) -> CeleryWorker:
    return CeleryWorker.objects.create(
        name=name,
        host="box-1",
        pid=4242,
        queues=queues,
        concurrency=4,
        heartbeat_at=timezone.now() - silent_for,
    )


def task_job(name: str = "report", **fields) -> Job:
    return services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@manual",
        **fields,
    )


def running_on(job: Job, worker: str) -> Run:
    now = timezone.now()
    return Run.objects.create(
        job=job,
        job_version=1,
        trigger="manual",
        state="running",
        scheduled_for=now,
        started_at=now,
        worker=worker,
        host="box-1",
        pid=777,
        queue=job.queue,
        dispatch_token="t-1",
    )


# --- the page ------------------------------------------------------------------------------


def test_it_works(db, settings):
    settings.CRONADMIN_CELERY_BROKER_URL = BROKER
    make_worker("alpha@box-1", timedelta(seconds=1), ["reports", "etl"])
    make_worker("beta<b>@box-2", timedelta(minutes=5), ["etl"])
    running_on(task_job(queue="reports"), "alpha@box-1")
    response = logged_in(user_with_role("Viewer")).get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "alpha@box-1" in page and "reports, etl" in page and "Online" in page
    assert "Offline" in page
    assert "1 / 4" in page
    assert "beta&lt;b&gt;" in page and "beta<b>" not in page
    assert "Celery is off" not in page


def test_it_says_when_celery_is_off(db, settings):
    settings.CRONADMIN_CELERY_BROKER_URL = ""
    page = logged_in(user_with_role("Viewer")).get(URL).content.decode()
    assert "Celery is off" in page and "No worker has reported yet." in page


def test_it_requires_login(client, db):
    assert login_redirect(client.get(URL))


def test_it_checks_role(db):
    assert logged_in(user_with_role(None)).get(URL).status_code == 403


def test_it_rejects_wrong_method(db):
    assert logged_in(user_with_role("Admin")).post(URL).status_code == 405
    assert CeleryWorker.objects.count() == 0


# --- the API and /metrics ------------------------------------------------------------------


def test_api_works(as_viewer, settings):
    settings.CRONADMIN_CELERY_BROKER_URL = BROKER
    make_worker("alpha@box-1", timedelta(seconds=1), ["reports"])
    make_worker("beta@box-2", timedelta(minutes=5), ["etl"])
    running_on(task_job(queue="reports"), "alpha@box-1")
    body = as_viewer.get("/api/v1/workers").json()
    assert body["enabled"] is True and body["count"] == 2
    alpha, beta = body["results"]
    assert alpha["name"] == "alpha@box-1" and alpha["online"] is True
    assert alpha["queues"] == ["reports"] and alpha["runs_in_progress"] == 1
    assert alpha["host"] == "box-1" and alpha["pid"] == 4242
    assert beta["online"] is False and beta["runs_in_progress"] == 0


def test_api_requires_a_token(db):
    assert Api().get("/api/v1/workers").status_code == 401


def test_api_rejects_wrong_method(as_editor):
    assert as_editor.post("/api/v1/workers", {}).status_code == 405
    assert CeleryWorker.objects.count() == 0


def test_metrics_expose_the_workers(client, db):
    make_worker("alpha@box-1", timedelta(seconds=1), ["reports"])
    make_worker("beta@box-2", timedelta(minutes=5), ["etl"])
    running_on(task_job(queue="reports"), "alpha@box-1")
    found = samples(client.get("/metrics").content)
    assert found[("cronadmin_celery_worker_up", (("worker", "alpha@box-1"),))] == 1
    assert found[("cronadmin_celery_worker_up", (("worker", "beta@box-2"),))] == 0
    assert found[("cronadmin_celery_worker_runs", (("worker", "alpha@box-1"),))] == 1


def test_run_json_says_where_it_ran(as_viewer):
    run = running_on(task_job(queue="reports"), "alpha@box-1")
    body = as_viewer.get(f"/api/v1/runs/{run.pk}").json()
    assert body["worker"] == "alpha@box-1" and body["queue"] == "reports"
    assert body["host"] == "box-1" and body["pid"] == 777


def test_the_run_page_links_to_its_worker(db):
    run = running_on(task_job(queue="reports"), "alpha@box-1")
    page = logged_in(user_with_role("Viewer")).get(f"/runs/{run.pk}/").content.decode()
    assert 'href="/workers/#worker-alphabox-1"' in page


# --- the job's queue -----------------------------------------------------------------------


def test_the_job_page_warns_while_no_worker_serves_its_queue(db, settings):
    settings.CRONADMIN_CELERY_BROKER_URL = BROKER
    job = task_job(queue="reports")
    viewer = logged_in(user_with_role("Viewer"))
    assert "No worker is serving queue reports" in viewer.get(f"/jobs/{job.pk}/").content.decode()
    make_worker("alpha@box-1", timedelta(seconds=1), ["reports"])
    assert "No worker is serving" not in viewer.get(f"/jobs/{job.pk}/").content.decode()


def test_the_queue_is_part_of_the_definition(db):
    job = task_job(queue="reports")
    assert JobVersion.objects.get(job=job).definition["queue"] == "reports"
    services.job_update(actor=None, job=job, queue="")
    assert Job.objects.get(pk=job.pk).queue == ""
    assert JobVersion.objects.filter(job=job).count() == 2


@pytest.mark.parametrize("queue", ["bad queue", "x" * 101, "-leading"])
def test_a_bad_queue_name_is_rejected_and_nothing_written(db, queue):
    with pytest.raises(ValidationError) as error:
        task_job(queue=queue)
    assert "queue" in error.value.error_dict
    assert Job.objects.count() == 0


def test_http_jobs_take_no_queue(db):
    with pytest.raises(ValidationError) as error:
        services.job_create(
            actor=None,
            name="ping",
            kind="http",
            config={"method": "GET", "url": "https://example.com/"},
            schedule="@manual",
            queue="reports",
        )
    assert error.value.error_dict["queue"][0].code == "queue_for_http"
    assert Job.objects.count() == 0


def test_the_api_sets_and_shows_the_queue(as_editor):
    response = as_editor.post(
        "/api/v1/jobs",
        {"name": "r", "kind": "task", "task": "demo.noop", "schedule": "@manual", "queue": "etl"},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["queue"] == "etl"
    assert Job.objects.get(name="r").queue == "etl"
    bad = as_editor.post(
        "/api/v1/jobs",
        {"name": "s", "kind": "task", "task": "demo.noop", "schedule": "@manual", "queue": "a b"},
    )
    assert bad.status_code == 422 and "queue" in bad.json()["error"]["fields"]
    assert not Job.objects.filter(name="s").exists()


# --- the job form ----------------------------------------------------------------------------


def test_the_form_sets_the_queue(db):
    from tests.test_views_base import HX
    from tests.test_views_job_forms import form_data

    editor = logged_in(user_with_role("Editor"))
    assert 'name="queue"' in editor.get("/jobs/new/").content.decode()
    response = editor.post("/jobs/new/", form_data(queue="reports"), headers=HX)
    assert response.status_code == 200 and response["HX-Redirect"]
    assert Job.objects.get().queue == "reports"


def test_the_form_puts_a_bad_queue_next_to_the_field(db):
    from tests.test_views_base import HX
    from tests.test_views_job_forms import form_data

    editor = logged_in(user_with_role("Editor"))
    response = editor.post("/jobs/new/", form_data(queue="no spaces"), headers=HX)
    assert response.status_code == 200
    assert "queue" in response.context["form"].errors
    assert Job.objects.count() == 0

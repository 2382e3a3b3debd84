"""Run retention: per job by count and by age, in small batches, output files included."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import services
from jobs.cron_tasks import prune_runs
from jobs.models import Job, Run
from jobs.output import OutputCapture, output_path

pytestmark = pytest.mark.django_db


def job_with_runs(name: str, days: int, **fields) -> Job:
    job = services.job_create(
        actor=None,
        name=name,
        kind="task",
        config={"task": "demo.noop", "params": {}},
        schedule="@manual",
        **fields,
    )
    now = timezone.now()
    Run.objects.bulk_create(
        Run(
            job=job,
            job_version=1,
            trigger="schedule",
            state="succeeded",
            scheduled_for=now - timedelta(days=d, minutes=1),
        )
        for d in range(days)
    )
    return job


def test_the_job_override_wins_over_the_global_values():
    plain = job_with_runs("plain", 40)
    short = job_with_runs("short", 40, keep_runs_days=5, keep_runs_count=2)
    by_count = job_with_runs("by count", 40, keep_runs_days=0, keep_runs_count=3)
    services.runs_prune(keep_days=30, keep_per_job=10)
    assert plain.runs.count() == 30
    assert short.runs.count() == 5
    assert by_count.runs.count() == 3


def test_the_newest_runs_stay_however_old():
    job = job_with_runs("old", 10, keep_runs_days=0, keep_runs_count=4)
    for run in job.runs.all():
        run.scheduled_for -= timedelta(days=400)
        run.save(update_fields=["scheduled_for"])
    services.runs_prune(keep_days=30, keep_per_job=100)
    assert job.runs.count() == 4


def test_running_and_queued_runs_are_never_deleted():
    job = job_with_runs("busy", 3, keep_runs_days=0, keep_runs_count=0)
    Run.objects.filter(job=job).update(state="running")
    Run.objects.filter(job=job).filter(pk=job.runs.first().pk).update(state="queued")
    assert services.runs_prune(keep_days=0, keep_per_job=0) == 0
    assert job.runs.count() == 3


def test_it_deletes_in_small_batches():
    job_with_runs("many", 25, keep_runs_days=0, keep_runs_count=0)
    with CaptureQueriesContext(connection) as queries:
        assert services.runs_prune(keep_days=0, keep_per_job=0, batch_size=10) == 25
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "jobs_run"')]
    assert len(deletes) == 3


def test_output_files_go_with_their_runs(settings, tmp_path):
    settings.CRONADMIN_OUTPUT_DIR = tmp_path
    job = job_with_runs("printer", 3, keep_runs_days=0, keep_runs_count=1)
    paths = {run.pk: output_path(run.pk) for run in job.runs.all()}
    for path in paths.values():
        with OutputCapture(path, 100, 100) as capture:
            capture.write("left behind\n")
    services.runs_prune(keep_days=30, keep_per_job=100)
    [kept] = job.runs.all()
    assert {pk for pk, path in paths.items() if path.exists()} == {kept.pk}


def test_the_maintenance_task_uses_the_settings(capsys):
    job = job_with_runs("daily", 40)
    prune_runs(keep_days=7, keep_per_job=0)
    assert job.runs.count() == 7
    assert "deleted 33 runs" in capsys.readouterr().out

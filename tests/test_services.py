from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from jobs import services
from jobs.models import ChangeMarker, Job, JobVersion, Run
from tests.conftest import user_with_role

pytestmark = pytest.mark.django_db


def echo_job(**fields) -> Job:
    defaults = {
        "actor": None,
        "name": "echo",
        "kind": "task",
        "config": {"task": "demo.echo", "params": {"message": "hi"}},
        "schedule": "*/5 * * * *",
    }
    return services.job_create(**{**defaults, **fields})


def marker() -> int:
    return ChangeMarker.objects.get(id=1).version


def test_job_create_works():
    before = marker()
    job = echo_job(timezone="Europe/Berlin", labels={"team": "data"})
    job.refresh_from_db()
    assert job.version == 1
    assert job.config == {"task": "demo.echo", "params": {"message": "hi"}}
    assert JobVersion.objects.get(job=job).definition["timezone"] == "Europe/Berlin"
    assert marker() > before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": ""}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"config": {"task": "no.such.task"}}, "task"),
        ({"config": {"task": "demo.sleep", "params": {"seconds": "soon"}}}, "params"),
        ({"config": {"task": "demo.echo", "params": {}}}, "params"),
        ({"labels": {"bad key!": "x"}}, "labels"),
        ({"kind": "ftp"}, "kind"),
        ({"max_concurrent": 0}, "max_concurrent"),
    ],
)
def test_job_create_rejects_bad_input_and_writes_nothing(fields, field):
    with pytest.raises(ValidationError) as error:
        echo_job(**fields)
    assert field in error.value.message_dict
    assert not Job.objects.exists()
    assert not JobVersion.objects.exists()


def test_job_create_rejects_a_duplicate_name():
    echo_job()
    with pytest.raises(ValidationError) as error:
        echo_job()
    assert "name" in error.value.message_dict


def test_shell_jobs_need_an_administrator(settings):
    settings.CRONADMIN_ALLOW_SHELL_JOBS = True
    user = get_user_model().objects.create_user("ed", password="x")
    with pytest.raises(PermissionDenied):
        services.job_create(
            actor=user, name="sh", kind="shell", config={"command": "true"}, schedule="@daily"
        )
    admin = get_user_model().objects.create_superuser("root", password="x")
    job = services.job_create(
        actor=admin, name="sh", kind="shell", config={"command": "true"}, schedule="@daily"
    )
    assert job.created_by == admin


def test_job_update_bumps_the_version_and_keeps_the_old_definition():
    job = echo_job()
    anchor = job.schedule_anchor
    job = services.job_update(actor=None, job=job, schedule="0 * * * *", description="hourly")
    assert job.version == 2
    assert job.schedule_anchor > anchor
    versions = {v.version: v.definition for v in JobVersion.objects.filter(job=job)}
    assert versions[1]["schedule"] == "*/5 * * * *"
    assert versions[2]["schedule"] == "0 * * * *"


def test_job_update_without_a_change_keeps_the_version():
    job = echo_job()
    job = services.job_update(actor=None, job=job, schedule="*/5 * * * *")
    assert job.version == 1


def test_job_update_rejects_bad_input_and_keeps_the_row():
    job = echo_job()
    with pytest.raises(ValidationError):
        services.job_update(actor=None, job=job, schedule="*/0 * * * *")
    job.refresh_from_db()
    assert job.schedule == "*/5 * * * *"
    assert job.version == 1


def test_pause_and_resume():
    job = echo_job()
    until = timezone.now() + timedelta(hours=1)
    job = services.job_pause(actor=None, job=job, until=until, note="upgrade")
    assert (job.state, job.paused_until, job.pause_note) == ("paused", until, "upgrade")
    job = services.job_resume(actor=None, job=job)
    assert (job.state, job.paused_until, job.pause_note) == ("active", None, "")


def test_pause_rejects_a_past_until():
    job = echo_job()
    with pytest.raises(ValidationError):
        services.job_pause(actor=None, job=job, until=timezone.now() - timedelta(minutes=1))
    job.refresh_from_db()
    assert job.state == "active"


def test_jobs_resume_due_resumes_only_expired_pauses():
    due = echo_job(name="due")
    later = echo_job(name="later")
    services.job_pause(actor=None, job=due, until=timezone.now() + timedelta(seconds=1))
    services.job_pause(actor=None, job=later, until=timezone.now() + timedelta(hours=1))
    resumed = services.jobs_resume_due(now=timezone.now() + timedelta(seconds=2))
    assert [j.name for j in resumed] == ["due"]
    assert Job.objects.get(name="later").state == "paused"


def test_run_now_queues_a_run_and_bumps_the_marker():
    job = echo_job()
    before = marker()
    run = services.job_run_now(actor=None, job=job)
    assert (run.state, run.trigger, run.job_version) == ("queued", "manual", 1)
    assert marker() > before


def test_run_cancel_of_a_queued_run_ends_it():
    job = echo_job()
    run = services.job_run_now(actor=None, job=job)
    run = services.run_cancel(actor=None, run=run)
    assert run.state == "cancelled"
    assert run.finished_at is not None


def test_run_cancel_of_a_running_run_asks_the_scheduler():
    job = echo_job()
    run = services.job_run_now(actor=None, job=job)
    Run.objects.filter(pk=run.pk).update(state="running", started_at=timezone.now())
    run = services.run_cancel(actor=None, run=run)
    assert run.state == "running"
    assert run.cancel_requested_at is not None


def test_run_cancel_rejects_a_finished_run():
    job = echo_job()
    run = services.job_run_now(actor=None, job=job)
    Run.objects.filter(pk=run.pk).update(state="succeeded")
    with pytest.raises(ValidationError):
        services.run_cancel(actor=None, run=run)


def test_job_delete_removes_the_job_and_its_runs():
    job = echo_job()
    services.job_run_now(actor=None, job=job)
    services.job_delete(actor=None, job=job)
    assert not Job.objects.exists()
    assert not Run.objects.exists()


def test_runs_prune_keeps_newest_per_job_and_recent_runs():
    job = echo_job()
    now = timezone.now()
    Run.objects.bulk_create(
        Run(
            job=job,
            job_version=1,
            trigger="schedule",
            state="succeeded",
            scheduled_for=now - timedelta(days=d),
        )
        for d in range(1, 41)
    )
    Run.objects.create(
        job=job,
        job_version=1,
        trigger="manual",
        state="running",
        scheduled_for=now - timedelta(days=90),
    )
    deleted = services.runs_prune(keep_days=30, keep_per_job=5, batch_size=3, now=now)
    assert deleted == 10
    assert Run.objects.filter(state="running").exists()
    deleted = services.runs_prune(keep_days=0, keep_per_job=5, batch_size=3, now=now)
    assert deleted == 25
    assert Run.objects.filter(state="succeeded").count() == 5


@pytest.fixture
def users(db):
    roles = ("Viewer", "Operator", "Editor", "Admin")
    return {role.lower(): user_with_role(role) for role in roles}


def test_roles_are_enforced_in_the_services(users):
    job = echo_job()
    with pytest.raises(PermissionDenied):
        services.job_run_now(actor=users["viewer"], job=job)
    with pytest.raises(PermissionDenied):
        services.job_update(actor=users["operator"], job=job, description="no")
    with pytest.raises(PermissionDenied):
        echo_job(actor=users["operator"], name="other")
    assert services.job_run_now(actor=users["operator"], job=job).requested_by == users["operator"]
    assert services.job_update(actor=users["editor"], job=job, description="yes").version == 2
    services.job_pause(actor=users["operator"], job=job)
    with pytest.raises(PermissionDenied):
        services.job_delete(actor=users["operator"], job=job)
    services.job_delete(actor=users["editor"], job=job)
    assert not Job.objects.exists()


def test_changes_are_audited_with_a_masked_diff(users, settings):
    from jobs.models import AuditEvent

    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["hooks.example.com"]
    job = services.job_create(
        actor=users["editor"],
        name="hook",
        kind="http",
        schedule="@hourly",
        config={
            "url": "https://hooks.example.com/x",
            "headers": {"Authorization": "Bearer s3cret"},
        },
    )
    services.job_update(
        actor=users["editor"],
        job=job,
        schedule="@daily",
        config={**job.config, "headers": {"Authorization": "Bearer n3w"}},
    )
    services.job_pause(actor=users["operator"], job=job, note="why")
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == ["create", "update", "pause"]
    update = events[1]
    assert update.actor == users["editor"]
    assert update.changes["schedule"] == ["@hourly", "@daily"]
    assert "s3cret" not in str([e.changes for e in events])
    assert "n3w" not in str(update.changes)
    assert events[2].changes["note"] == [None, "why"]

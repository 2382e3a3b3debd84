"""Notifications sent by a real scheduler process: e-mail files and a real local webhook."""

from pathlib import Path

import pytest

from jobs import services
from jobs.models import Job, Notification, Run
from tests.conftest import wait_for
from tests.test_api_support import Api, user_with_role
from tests.webhook_receiver import receiver_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def local_webhooks_allowed(settings) -> None:
    # The receiver listens on 127.0.0.1: saving a job with it as webhook needs it allowed, as
    # scheduler_env allows it for the scheduler.
    settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]


def failing_job(url: str, **fields) -> Job:
    return services.job_create(
        actor=None,
        name=fields.pop("name", "nightly"),
        kind="task",
        config={"task": "demo.fail", "params": {"message": "disk full"}},
        schedule="@manual",
        notify_on=["failure", "timeout", "recovery"],
        notify_emails=["ops@example.com"],
        notify_webhook_url=url,
        **fields,
    )


def scheduler_env(tmp_path: Path) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "CRONADMIN_HTTP_ALLOWED_HOSTS": "127.0.0.1",
    }


def mails(tmp_path: Path) -> list[str]:
    folder = tmp_path / "mail"
    return [p.read_text() for p in sorted(folder.glob("*.log"))] if folder.exists() else []


def finished(run: Run) -> Run:
    return wait_for(
        lambda: Run.objects.filter(pk=run.pk, state__in=Run.FINAL_STATES).first(), timeout=20
    )


def sent(job: Job, count: int) -> list[Notification]:
    def check() -> list[Notification] | None:
        rows = list(job.notifications.filter(state="sent").order_by("id"))
        return rows if len(rows) >= count else None

    return wait_for(check, timeout=20)


def test_a_failure_after_the_last_retry_sends_an_email_and_a_webhook(
    start_scheduler, tmp_path, receiver
):
    job = failing_job(receiver.url, max_retries=1, retry_backoff_seconds=0, notify_window_seconds=0)
    start_scheduler(**scheduler_env(tmp_path))
    first = services.job_run_now(actor=None, job=job)
    finished(first)
    last = wait_for(
        lambda: Run.objects.filter(job=job, attempt=2, state__in=Run.FINAL_STATES).first(),
        timeout=20,
    )
    notifications = sent(job, 2)
    assert sorted(n.channel for n in notifications) == ["email", "webhook"]
    # The first attempt was retried: only the last one is a failure.
    for notification in notifications:
        assert notification.events == {"failure": 1}
        assert [r.pk for r in notification.runs.all()] == [last.pk]
        assert "disk full" in notification.last_error
    [mail] = mails(tmp_path)
    assert "ops@example.com" in mail and "nightly" in mail and "disk full" in mail
    [call] = receiver.calls
    assert call["json"]["events"] == {"failure": 1}
    assert call["json"]["runs"] == [last.pk]
    assert call["headers"]["Content-Type"] == "application/json"

    # Recovery: the first success after the failure sends one message per channel.
    services.job_update(
        actor=None, job=job, config={"task": "demo.echo", "params": {"message": "ok"}}
    )
    finished(services.job_run_now(actor=None, job=job))
    recovered = sent(job, 4)[2:]
    assert [n.events for n in recovered] == [{"recovery": 1}, {"recovery": 1}]
    assert len(mails(tmp_path)) == 2
    assert receiver.calls[-1]["json"]["events"] == {"recovery": 1}
    # A second success is no news.
    finished(services.job_run_now(actor=None, job=job))
    assert job.notifications.count() == 4

    # The page and the API show what was sent.
    api = Api(user_with_role("Viewer", "reader"))
    answer = api.get(f"/api/v1/jobs/{job.pk}/notifications").json()
    assert answer["count"] == 4
    assert {n["state"] for n in answer["results"]} == {"sent"}
    run_page = api.client
    run_page.force_login(api.user)
    page = run_page.get(f"/runs/{last.pk}/").content.decode()
    assert "Notifications" in page and "ops@example.com" in page


def test_many_failures_in_the_window_make_one_digest(start_scheduler, tmp_path, receiver):
    job = failing_job(receiver.url, notify_window_seconds=3600, max_concurrent=10, overlap="allow")
    start_scheduler(**scheduler_env(tmp_path))
    finished(services.job_run_now(actor=None, job=job))
    sent(job, 2)
    runs = [services.job_run_now(actor=None, job=job) for _ in range(5)]
    for run in runs:
        finished(run)

    def digests() -> list[Notification] | None:
        rows = list(job.notifications.filter(state="pending"))
        return rows if sum(n.digest_count for n in rows) == 2 * 5 else None

    # The first failure went out at once; the five after it wait for the end of the window.
    waiting = wait_for(digests, timeout=20)
    assert [n.digest_count for n in waiting] == [5, 5]
    assert len(receiver.calls) == 1 and len(mails(tmp_path)) == 1
    # The window ends (moved, not waited for): one digest per channel.
    Notification.objects.filter(pk__in=[n.pk for n in waiting]).update(send_after=job.created_at)
    sent(job, 4)
    assert len(receiver.calls) == 2
    digest = receiver.calls[-1]["json"]
    assert digest["count"] == 5 and digest["events"] == {"failure": 5}
    assert "5 failures" in digest["summary"]
    assert any("5 failures" in mail for mail in mails(tmp_path))
    assert job.notifications.count() == 4


def test_a_webhook_that_is_down_never_stops_scheduling(start_scheduler, tmp_path, receiver):
    receiver.status = 503
    job = failing_job(receiver.url, notify_window_seconds=0)
    job.notify_emails = []
    job.save()
    scheduler = start_scheduler(
        CRONADMIN_NOTIFY_SEND_ATTEMPTS="2",
        CRONADMIN_NOTIFY_RETRY_SECONDS="0",
        **scheduler_env(tmp_path),
    )
    finished(services.job_run_now(actor=None, job=job))
    failed = wait_for(lambda: job.notifications.filter(state="failed").first(), timeout=20)
    assert failed.attempts == 2 and "503" in failed.error
    assert len(receiver.calls) == 2
    # The scheduler still runs jobs.
    finished(services.job_run_now(actor=None, job=job))
    assert scheduler.proc.poll() is None

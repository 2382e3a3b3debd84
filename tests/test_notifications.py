"""Which runs are events, throttling into digests, and delivery through the real channels."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from jobs import notifications, services
from jobs.models import Job, Notification, Run
from jobs.notifications import ledger
from jobs.notifications.notifier import Notifier
from tests.conftest import wait_for
from tests.webhook_receiver import receiver_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def watched_job(**fields) -> Job:
    defaults = {
        "notify_on": ["failure", "timeout", "recovery"],
        "notify_emails": ["ops@example.com"],
    }
    return services.job_create(
        actor=None,
        name=fields.pop("name", "nightly"),
        kind="task",
        config={"task": "demo.echo", "params": {"message": "hi"}},
        schedule="@manual",
        **{**defaults, **fields},
    )


def finish(job: Job, state: str, *, attempt: int = 1, retry_of: Run | None = None, **extra) -> Run:
    now = timezone.now()
    return Run.objects.create(
        job=job,
        job_version=1,
        trigger="retry" if retry_of else "manual",
        state=state,
        scheduled_for=now,
        started_at=now,
        finished_at=now,
        attempt=attempt,
        retry_of=retry_of,
        **extra,
    )


def record(*runs: Run, failing: dict[int, bool] | None = None) -> int:
    return ledger.record_finished(
        [(r.pk, r.job_id) for r in runs], {} if failing is None else failing
    )


class TestEvents:
    def test_a_failure_is_recorded_per_channel(self):
        job = watched_job(notify_webhook_url="https://hooks.example.com/x")
        run = finish(
            job,
            "failed",
            reason="RuntimeError: disk full",
            error="Traceback\nRuntimeError: disk full",
        )
        assert record(run) == 1
        rows = Notification.objects.filter(job=job)
        assert sorted(rows.values_list("channel", flat=True)) == ["email", "webhook"]
        for row in rows:
            assert row.events == {"failure": 1} and row.state == "pending"
            assert list(row.runs.all()) == [run]
            assert "disk full" in row.last_error

    def test_a_run_that_will_be_retried_is_not_a_failure_yet(self):
        job = watched_job(max_retries=1)
        first = finish(job, "failed")
        finish(job, "queued", attempt=2, retry_of=first)
        assert record(first) == 0
        assert not Notification.objects.exists()

    def test_a_timeout_is_its_own_event(self):
        job = watched_job()
        record(finish(job, "timed_out"))
        assert Notification.objects.get().events == {"timeout": 1}

    def test_recovery_is_the_first_success_after_a_failure(self):
        job = watched_job(notify_window_seconds=0)
        record(finish(job, "failed"))
        ledger.send_due()
        record(finish(job, "succeeded"))
        record(finish(job, "succeeded"))
        events = [n.events for n in Notification.objects.order_by("id")]
        assert events == [{"failure": 1}, {"recovery": 1}]

    def test_recovery_reads_the_history_when_it_remembers_nothing(self):
        job = watched_job(notify_window_seconds=0)
        finish(job, "failed")
        assert record(finish(job, "succeeded"), failing={}) == 1

    def test_a_success_after_a_retried_attempt_is_no_recovery(self):
        job = watched_job(max_retries=1)
        first = finish(job, "failed")
        retry = finish(job, "succeeded", attempt=2, retry_of=first)
        assert record(first, retry) == 0

    def test_only_the_chosen_events_count(self):
        job = watched_job(notify_on=["recovery"])
        assert record(finish(job, "failed")) == 0

    def test_a_job_without_channels_costs_nothing(self, django_assert_max_num_queries):
        job = watched_job(notify_emails=[])
        run = finish(job, "failed")
        with django_assert_max_num_queries(1):
            assert record(run) == 0


class TestThrottling:
    def test_events_in_the_window_wait_for_one_digest(self):
        job = watched_job(notify_window_seconds=300)
        record(finish(job, "failed"))
        first = Notification.objects.get()
        ledger.send_due()
        for _ in range(11):
            record(finish(job, "failed", reason="boom"))
        digest = Notification.objects.exclude(pk=first.pk).get()
        assert digest.digest_count == 11 and digest.runs.count() == 11
        assert digest.send_after == first.send_after + timedelta(seconds=300)
        assert ledger.send_due() == 0
        ledger.send_due(now=digest.send_after)
        assert len(mail.outbox) == 2
        assert "11 failures" in mail.outbox[1].subject
        assert "boom" in mail.outbox[1].body

    def test_a_quiet_window_sends_the_next_event_at_once(self):
        job = watched_job(notify_window_seconds=300)
        record(finish(job, "failed"))
        Notification.objects.update(send_after=timezone.now() - timedelta(seconds=301))
        ledger.send_due()
        record(finish(job, "succeeded"))
        latest = Notification.objects.order_by("-id").first()
        assert latest.events == {"recovery": 1} and latest.send_after <= timezone.now()


class TestDelivery:
    def test_an_email_is_sent_to_the_job_addresses(self):
        job = watched_job(notify_emails=["a@example.com", "b@example.com"])
        record(finish(job, "failed", reason="exit 3"))
        assert ledger.send_due() == 1
        [message] = mail.outbox
        assert message.to == ["a@example.com", "b@example.com"]
        assert "nightly" in message.subject and "exit 3" in message.body
        row = Notification.objects.get()
        assert row.state == "sent" and row.sent_at is not None and row.attempts == 1

    def test_a_webhook_is_posted_as_json(self, receiver, settings):
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
        job = watched_job(notify_emails=[], notify_webhook_url=receiver.url)
        run = finish(job, "failed", reason="exit 3")
        record(run)
        ledger.send_due()
        [call] = receiver.calls
        row = Notification.objects.get()
        assert call["json"]["job"]["name"] == "nightly"
        assert call["json"]["runs"] == [run.pk] and call["json"]["last_error"] == "exit 3"
        assert call["headers"]["Idempotency-Key"] == f"cronadmin-notification-{row.pk}"
        assert row.state == "sent"

    def test_a_webhook_goes_through_the_ssrf_guard(self, receiver, settings):
        settings.CRONADMIN_NOTIFY_SEND_ATTEMPTS = 1
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
        job = watched_job(notify_emails=[], notify_webhook_url=receiver.url)
        # Allowed when saved, no longer when sent: the guard decides at every send.
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = []
        record(finish(job, "failed"))
        ledger.send_due()
        row = Notification.objects.get()
        assert row.state == "failed" and "loopback" in row.error
        assert receiver.calls == []

    def test_a_failed_send_is_retried_a_bounded_number_of_times(self, receiver, settings):
        settings.CRONADMIN_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.CRONADMIN_NOTIFY_SEND_ATTEMPTS = 3
        receiver.status = 500
        job = watched_job(notify_emails=[], notify_webhook_url=receiver.url)
        record(finish(job, "failed"))
        far = timezone.now() + timedelta(days=1)
        for _ in range(5):
            ledger.send_due(now=far)
        row = Notification.objects.get()
        assert (row.state, row.attempts, len(receiver.calls)) == ("failed", 3, 3)
        assert "HTTP 500" in row.error

    def test_a_removed_channel_is_not_used(self):
        job = watched_job()
        record(finish(job, "failed"))
        Job.objects.filter(pk=job.pk).update(notify_emails=[])
        ledger.send_due()
        assert Notification.objects.get().state == "failed" and not mail.outbox


@pytest.mark.django_db(transaction=True)
def test_the_notifier_thread_survives_errors_and_sends(monkeypatch):
    job = watched_job()
    calls = {"n": 0}
    real = ledger.record_finished

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, "record_finished", flaky)
    monkeypatch.setattr("jobs.notifications.notifier.ERROR_PAUSE_SECONDS", 0.01)
    notifier = Notifier().start()
    try:
        first, second = finish(job, "failed"), finish(job, "failed")
        notifications.hand_over([Finished(first), Finished(second)])
        wait_for(lambda: calls["n"] >= 1, timeout=10)
        notifications.hand_over([Finished(second)])
        wait_for(lambda: Notification.objects.filter(state="sent").exists(), timeout=10)
        assert notifier.thread.is_alive()
    finally:
        notifier.stop()
    # Without a notifier, handing over is a no-op.
    notifications.hand_over([Finished(first)])


class Finished:
    def __init__(self, run: Run) -> None:
        self.run_id, self.job_id, self.state = run.pk, run.job_id, run.state

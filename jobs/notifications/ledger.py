"""Which finished runs are events, the throttled Notification rows they go into, and delivery.

Throttling by construction: a job's messages on one channel are spaced at least its window
apart (`send_after`). The first event after a quiet window is sent at once; later ones join a
row waiting for the end of the window and go out together as one digest.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.audit import open_url
from jobs.models import Job, Notification, Run
from jobs.notifications import channels
from jobs.notifications.messages import compose

logger = logging.getLogger("jobs.notifications")

EVENT_OF_STATE = {
    Run.State.FAILED: Notification.Event.FAILURE,
    Run.State.TIMED_OUT: Notification.Event.TIMEOUT,
}
OUTCOME_STATES = (Run.State.SUCCEEDED, Run.State.FAILED, Run.State.TIMED_OUT)
# How far back a success looks for the outcome before it (retried attempts are skipped).
LOOKBACK_RUNS = 20
SEND_BATCH = 50
_RUN_FIELDS = ("id", "job_id", "state", "attempt", "retry_of_id", "finished_at", "reason", "error")


def record_finished(
    finished: list[tuple[int, int]], failing: dict[int, bool], now: datetime | None = None
) -> int:
    """Turn finished runs (run id, job id) into events; returns how many were recorded.

    `failing` remembers per job whether its last outcome was a failure, so the steady stream of
    successes of a healthy job costs no query.
    """
    now = now or timezone.now()
    job_ids = {job_id for _run_id, job_id in finished}
    jobs = {
        job.pk: job
        for job in Job.objects.filter(pk__in=job_ids)
        if job.notify_on and job.notify_targets()
    }
    for job_id in job_ids - jobs.keys():
        # Not watched now; if it is later, its history is read afresh.
        failing.pop(job_id, None)
    wanted = [run_id for run_id, job_id in finished if job_id in jobs]
    if not wanted:
        return 0
    runs = Run.objects.filter(pk__in=wanted).only(*_RUN_FIELDS).order_by("finished_at", "id")
    recorded = 0
    for run in runs:
        event = _event_of(run, failing)
        job = jobs[run.job_id]
        if event is not None and event in job.notify_on:
            record_event(job=job, run=run, event=event, now=now)
            recorded += 1
    return recorded


def _event_of(run: Run, failing: dict[int, bool]) -> str | None:
    if run.state in EVENT_OF_STATE:
        # A run that will be retried has not failed yet: only its last attempt counts.
        if _retried(run):
            return None
        failing[run.job_id] = True
        return EVENT_OF_STATE[run.state]
    if run.state != Run.State.SUCCEEDED:
        return None
    was_failing = failing.get(run.job_id)
    if was_failing is None:
        was_failing = _previous_outcome_failed(run)
    failing[run.job_id] = False
    return Notification.Event.RECOVERY if was_failing else None


def _retried(run: Run) -> bool:
    first = run.retry_of_id or run.pk
    return Run.objects.filter(retry_of_id=first, attempt__gt=run.attempt).exists()


def _previous_outcome_failed(run: Run) -> bool:
    earlier = (
        Run.objects.filter(
            job_id=run.job_id, state__in=OUTCOME_STATES, finished_at__lte=run.finished_at
        )
        .exclude(pk=run.pk)
        .only(*_RUN_FIELDS)
        .order_by("-finished_at", "-id")[:LOOKBACK_RUNS]
    )
    for previous in earlier:
        if previous.state == Run.State.SUCCEEDED:
            return False
        if not _retried(previous):
            return True
    return False


def error_summary(run: Run) -> str:
    # A traceback's last line names the exception; the reason says what the kind saw.
    lines = [line for line in (run.error or "").strip().splitlines() if line.strip()]
    text = lines[-1].strip() if lines else ""
    if run.reason and run.reason not in text:
        text = f"{run.reason} ({text})" if text else run.reason
    return text[:1000]


@transaction.atomic
def record_event(*, job: Job, run: Run, event: str, now: datetime) -> list[Notification]:
    """Add one event to each of the job's channels: to the waiting digest, or as a new message."""
    at = run.finished_at or now
    error = error_summary(run) if event != Notification.Event.RECOVERY else ""
    touched = []
    for channel, target in job.notify_targets().items():
        mine = Notification.objects.filter(job=job, channel=channel)
        waiting = mine.filter(state=Notification.State.PENDING, attempts=0).order_by("-id").first()
        if waiting is not None:
            waiting.events[event] = waiting.events.get(event, 0) + 1
            waiting.digest_count += 1
            waiting.first_event_at = min(waiting.first_event_at, at)
            waiting.last_event_at = max(waiting.last_event_at, at)
            waiting.last_error = error or waiting.last_error
            waiting.save(
                update_fields=[
                    "events",
                    "digest_count",
                    "first_event_at",
                    "last_event_at",
                    "last_error",
                ]
            )
            notification = waiting
        else:
            previous = mine.order_by("-send_after").values_list("send_after", flat=True).first()
            send_after = now if previous is None else max(now, previous + job.notify_window())
            notification = Notification.objects.create(
                job=job,
                channel=channel,
                target=target,
                events={event: 1},
                digest_count=1,
                first_event_at=at,
                last_event_at=at,
                last_error=error,
                send_after=send_after,
                created_at=now,
            )
        notification.runs.add(run)
        touched.append(notification)
    return touched


def send_due(now: datetime | None = None) -> int:
    """Send the notifications whose time has come; returns how many were tried."""
    now = now or timezone.now()
    due = list(
        Notification.objects.filter(state=Notification.State.PENDING, send_after__lte=now)
        .select_related("job")
        .order_by("send_after", "id")[:SEND_BATCH]
    )
    for notification in due:
        deliver(notification, now=timezone.now())
    return len(due)


def deliver(notification: Notification, *, now: datetime) -> None:
    job = notification.job
    target = job.notify_targets().get(notification.channel)
    notification.attempts += 1
    if not target:
        notification.state = Notification.State.FAILED
        notification.error = "This channel was removed from the job before the message was sent."
        notification.save(update_fields=["state", "error", "attempts"])
        return
    run_ids = list(notification.runs.order_by("-id").values_list("id", flat=True))
    message = compose(notification, run_ids)
    try:
        if notification.channel == Notification.Channel.EMAIL:
            channels.send_email(list(job.notify_emails), message.subject, message.text)
        else:
            channels.send_webhook(
                open_url(job.notify_webhook_url),
                message.payload,
                idempotency_key=f"cronadmin-notification-{notification.pk}",
            )
    except channels.SendError as exc:
        _failed_attempt(notification, str(exc), now)
        return
    notification.target = target  # masked: see Job.notify_targets
    notification.state = Notification.State.SENT
    notification.sent_at = timezone.now()
    notification.error = ""
    notification.save(update_fields=["target", "state", "sent_at", "error", "attempts"])


def _failed_attempt(notification: Notification, error: str, now: datetime) -> None:
    notification.error = error[:2000]
    if notification.attempts >= settings.CRONADMIN_NOTIFY_SEND_ATTEMPTS:
        notification.state = Notification.State.FAILED
        logger.warning("notification %s not delivered: %s", notification.pk, error)
    else:
        delay = settings.CRONADMIN_NOTIFY_RETRY_SECONDS * 2 ** (notification.attempts - 1)
        notification.send_after = now + timedelta(seconds=delay)
    notification.save(update_fields=["state", "error", "attempts", "send_after"])

"""What a notification says: a subject and text for e-mail, a JSON payload for webhooks."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from jobs.models import Job, Notification

# A digest of thousands of runs lists only the newest in its payload; the ledger has them all.
MAX_PAYLOAD_RUNS = 100
EVENT_ORDER = (Notification.Event.FAILURE, Notification.Event.TIMEOUT, Notification.Event.RECOVERY)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    payload: dict[str, Any]


def event_counts(events: dict[str, int]) -> str:
    """“11 failures, 1 timeout”."""
    words = {
        Notification.Event.FAILURE: lambda n: ngettext("%(n)d failure", "%(n)d failures", n),
        Notification.Event.TIMEOUT: lambda n: ngettext("%(n)d timeout", "%(n)d timeouts", n),
        Notification.Event.RECOVERY: lambda n: ngettext("%(n)d recovery", "%(n)d recoveries", n),
    }
    return ", ".join(
        words[event](events[event]) % {"n": events[event]}
        for event in EVENT_ORDER
        if events.get(event)
    )


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _link(name: str, pk: int) -> str | None:
    if not settings.CRONADMIN_BASE_URL:
        return None
    return settings.CRONADMIN_BASE_URL + reverse(name, args=[pk])


def compose(notification: Notification, run_ids: list[int]) -> Message:
    job = notification.job
    events = notification.events
    values = {
        "job": job.name,
        "first": _when(notification.first_event_at),
        "last": _when(notification.last_event_at),
        "error": notification.last_error or _("(no error text)"),
        "counts": event_counts(events),
    }
    if notification.digest_count == 1 and events.get(Notification.Event.RECOVERY):
        subject = _("Job “%(job)s” recovered") % values
        text = _("Job “%(job)s” succeeded at %(last)s after failing.") % values
    elif notification.digest_count == 1:
        if events.get(Notification.Event.TIMEOUT):
            subject = _("Job “%(job)s” timed out") % values
            text = _("Job “%(job)s” timed out at %(last)s: %(error)s") % values
        else:
            subject = _("Job “%(job)s” failed") % values
            text = _("Job “%(job)s” failed at %(last)s: %(error)s") % values
    else:
        subject = _("Job “%(job)s”: %(counts)s") % values
        text = (
            _("%(counts)s of job “%(job)s” between %(first)s and %(last)s; last error: %(error)s")
            % values
        )
    job_url = _link("jobs:job_detail", job.pk)
    if job_url:
        text += "\n\n" + job_url
    payload = {
        "notification": notification.pk,
        "job": {"id": job.pk, "name": job.name, "url": job_url},
        "events": events,
        "count": notification.digest_count,
        "first_event_at": notification.first_event_at.isoformat(),
        "last_event_at": notification.last_event_at.isoformat(),
        "last_error": notification.last_error,
        "runs": run_ids[:MAX_PAYLOAD_RUNS],
        "summary": subject,
        "text": text,
    }
    return Message(subject=subject, text=text + "\n", payload=payload)


def compose_test(job: Job, who: str) -> Message:
    """A message sent by hand from the job's page, to see that the channels work."""
    values = {"job": job.name, "who": who}
    subject = _("Test message for job “%(job)s”") % values
    text = (
        _(
            "%(who)s sent this test message from the page of job “%(job)s”. Messages about its "
            "failures, timeouts and recoveries arrive the same way."
        )
        % values
    )
    job_url = _link("jobs:job_detail", job.pk)
    if job_url:
        text += "\n\n" + job_url
    payload = {
        "test": True,
        "notification": None,
        "job": {"id": job.pk, "name": job.name, "url": job_url},
        "events": {},
        "count": 0,
        "runs": [],
        "summary": subject,
        "text": text,
    }
    return Message(subject=subject, text=text + "\n", payload=payload)

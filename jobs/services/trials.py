"""Trying a job's outside connections by hand: one test request, one test notification.

Both go through the code a run and a real notification use (the SSRF guard, the allow-list, the
deadline, the size cap, the e-mail backend), send for real, and leave an audit entry; neither
writes a run or a notification row, so the job's history and throttling stay untouched. Nothing
here holds a database transaction while waiting on the network.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from jobs import audit
from jobs.kinds.http_probe import ProbeResult, probe
from jobs.models import AuditEvent, Job, Notification
from jobs.notifications import channels
from jobs.notifications.messages import compose_test
from jobs.permissions import require
from jobs.services.jobs import Actor


def job_test_request(*, actor: Actor, job: Job) -> ProbeResult:
    """Send the saved request of an http job once; an Operator's action, like “Run now”."""
    require(actor, "operate")
    job = Job.objects.get(pk=job.pk)
    if job.kind != Job.Kind.HTTP:
        raise ValidationError(_("Only HTTP jobs can send a test request."), code="not_http")
    deadline = min(float(job.effective_timeout()), settings.CRONADMIN_HTTP_TEST_TIMEOUT_SECONDS)
    result = probe(
        job.config,
        deadline_seconds=deadline,
        # Never a run's key: a receiver that drops repeats must not drop the next real run.
        idempotency_key=f"cronadmin-test-{uuid.uuid4().hex}",
    )
    audit.record(
        actor=actor,
        action=AuditEvent.Action.TEST_REQUEST,
        object_type="job",
        object_id=job.pk,
        object_repr=job.name,
        changes={
            "request": [None, f"{result.method} {result.url}"],
            "result": [None, result.outcome.reason.english],
        },
    )
    return result


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    target: str
    sent: bool
    detail: str

    @property
    def label(self) -> str:
        return str(Notification.Channel(self.channel).label)


def job_test_notification(*, actor: Actor, job: Job) -> list[ChannelResult]:
    """Send one test message to each channel the job has set up; returns how each went."""
    require(actor, "operate")
    job = Job.objects.get(pk=job.pk)
    targets = job.notify_targets()
    if not targets:
        raise ValidationError(
            _("This job has no e-mail address or webhook to send to; add one when editing it."),
            code="no_channels",
        )
    who = getattr(actor, "get_username", lambda: "")() or _("the system")
    message = compose_test(job, who)
    results = []
    for channel, target in targets.items():
        try:
            if channel == Notification.Channel.EMAIL:
                channels.send_email(list(job.notify_emails), message.subject, message.text)
                detail = _("Sent.")
            else:
                # `target` is the masked URL people see; the message goes to the real one.
                status = channels.send_webhook(
                    audit.open_url(job.notify_webhook_url),
                    message.payload,
                    idempotency_key=f"cronadmin-test-notification-{uuid.uuid4().hex}",
                )
                detail = _("Delivered: the receiver answered HTTP %(status)s.") % {"status": status}
        except channels.SendError as exc:
            results.append(ChannelResult(channel, target, False, str(exc)))
        else:
            results.append(ChannelResult(channel, target, True, detail))
    audit.record(
        actor=actor,
        action=AuditEvent.Action.TEST_NOTIFICATION,
        object_type="job",
        object_id=job.pk,
        object_repr=job.name,
        changes={r.channel: [None, r.detail if r.sent else f"failed: {r.detail}"] for r in results},
    )
    return results

"""Why a run is in its state, as a code with parameters, rendered in the reader's language.

A run stores `reason_code` and `reason_params`; `reason` keeps the English text for the API, logs
and notifications (and is all that rows from before the codes have). Every message lives in
MESSAGES below: adding a reason is one line there (and its translation in the catalogue).

Parameters are plain JSON values. Those named in WORDS are codes (a policy, an outcome) that are
shown by their translated label, never as the raw value.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_lazy, gettext_noop, pgettext_lazy

MESSAGES: dict[str, str] = {
    # Slots that did not run.
    "paused": gettext_noop("Job paused."),
    "paused_note": gettext_noop("Job paused: %(note)s"),
    "paused_down": gettext_noop("Job paused; no scheduler was running either."),
    "executor_offline": gettext_noop(
        "Executor %(executor)s offline: no heartbeat since %(since)s UTC (%(missed)s missed)."
    ),
    "overlap_previous": gettext_noop("The previous run was still in progress."),
    "overlap_previous_run": gettext_noop("The previous run (#%(run)s) was still in progress."),
    "overlap_waiting": gettext_noop("One run is already waiting for the running one to finish."),
    "overlap_limit": gettext_noop("%(limit)s run(s) already in progress, the job's limit."),
    "overlap_replaced": gettext_noop(
        "Replaced by a newer run (#%(run)s), as the job's overlap policy says."
    ),
    "job_deleted": gettext_noop("Job deleted before the run could start."),
    "job_deleted_running": gettext_noop("The job was deleted while this run was in progress."),
    "catch_up_down": gettext_noop(
        "Catch-up run: no scheduler was running at this time (policy: %(policy)s)."
    ),
    "missed_down": gettext_noop(
        "No scheduler was running at this time; not run (policy: %(policy)s)."
    ),
    "catch_up_late": gettext_noop(
        "Catch-up run: fired %(late)s s after its time, past the %(grace)s s grace "
        "(policy: %(policy)s)."
    ),
    "missed_late": gettext_noop(
        "Fired %(late)s s after its time, past the %(grace)s s grace: the scheduler was busy or "
        "stopped, or the system clock jumped forward; not run (policy: %(policy)s)."
    ),
    # Runs asked for, and their attempts.
    "retry": gettext_noop(
        "Attempt %(attempt)s of %(attempts)s, %(delay)s s after run #%(run)s %(outcome)s."
    ),
    "chain": gettext_noop("Started because run #%(run)s of %(upstream)s %(outcome)s."),
    "chain_paused": gettext_noop(
        "Started because run #%(run)s of %(upstream)s %(outcome)s. Skipped: job paused."
    ),
    "chain_paused_note": gettext_noop(
        "Started because run #%(run)s of %(upstream)s %(outcome)s. Skipped: job paused: %(note)s"
    ),
    "rerun": gettext_noop("Runs the work of run #%(run)s again, as asked by %(who)s."),
    "rerun_failed": gettext_noop(
        "Runs a failed run again: %(who)s re-ran the failed runs from %(start)s to %(end)s."
    ),
    # Stopped from outside.
    "cancelled": gettext_noop("cancelled"),
    "cancel_requested": gettext_noop("Cancel requested by %(who)s."),
    "cancelled_before_start": gettext_noop("Cancelled by %(who)s before it started."),
    "cancelled_on_request": gettext_noop("Cancelled on request."),
    "timed_out": gettext_noop("timed out after %(seconds)s s"),
    "timed_out_killed": gettext_noop(
        "Stopped after its %(seconds)s s timeout; its worker process was killed."
    ),
    "worker_died": gettext_noop(
        "The worker process died running the task (exit code %(exit_code)s)."
    ),
    "stopped_signal": gettext_noop(
        "Cut short: the scheduler stopped (received %(signal)s) and the run did not finish "
        "within the %(grace)s s grace."
    ),
    "stopped_takeover": gettext_noop(
        "Cut short: the scheduler stopped (another scheduler took over) and the run did not "
        "finish within the %(grace)s s grace."
    ),
    "stopped_failure": gettext_noop(
        "Cut short: the scheduler stopped (a thread failed) and the run did not finish within "
        "the %(grace)s s grace."
    ),
    "scheduler_lost": gettext_noop(
        "The scheduler running it (on %(host)s) stopped before the run finished; its outcome is "
        "unknown."
    ),
    "scheduler_lost_unknown": gettext_noop(
        "The scheduler running it stopped before the run finished; its outcome is unknown."
    ),
    # Calendars (jobs.calendars): `why` names the holiday, date or window.
    "calendar_skipped": gettext_noop("Calendar %(calendar)s: %(why)s."),
    "calendar_moved": gettext_noop("Moved from %(moved)s UTC by calendar %(calendar)s: %(why)s."),
    # Runs on Celery workers (jobs.dispatch).
    "worker_lost": gettext_noop(
        "Worker lost: %(where)s, last heartbeat %(heartbeat)s UTC; its outcome is unknown."
    ),
    "no_worker": gettext_noop("No worker is serving queue %(queue)s."),
    "worker_timed_out": gettext_noop(
        "Stopped after its %(seconds)s s timeout; its processes were killed."
    ),
    "hard_limit": gettext_noop(
        "Stopped by the worker's hard time limit (%(limit)s s); its process was killed."
    ),
    "child_died": gettext_noop("The worker process running it died (%(error)s)."),
    "not_on_worker": gettext_noop("A %(kind)s job cannot run on a worker."),
    # What the work itself reported.
    "exit_code": gettext_noop("exit code %(code)s"),
    "killed_by_signal": gettext_noop("killed by signal %(signal)s"),
    "shell_not_started": gettext_noop("could not start %(shell)s"),
    "shell_invalid": gettext_noop("invalid shell settings"),
    "http_status": gettext_noop("HTTP %(status)s"),
    "http_unexpected": gettext_noop("HTTP %(status)s, expected %(expected)s"),
    "http_redirect": gettext_noop(
        "HTTP %(status)s (redirect to %(location)s not followed), expected %(expected)s"
    ),
    "http_refused": gettext_noop("connection refused"),
    "http_connection_failed": gettext_noop("connection failed: %(detail)s"),
    "http_incomplete": gettext_noop("the connection closed before the whole response arrived"),
    "http_invalid_response": gettext_noop("invalid HTTP response: %(detail)s"),
    "http_invalid": gettext_noop("invalid HTTP settings"),
    "http_secret_unreadable": gettext_noop("a secret header cannot be decrypted"),
    "tls_certificate": gettext_noop("TLS certificate check failed: %(detail)s"),
    "tls_error": gettext_noop("TLS error: %(detail)s"),
    "unexpected_error": gettext_noop("unexpected error: %(type)s"),
    # An exception raised by the job's own code, or a message that is already the whole story
    # (a blocked address): the text comes from elsewhere and is shown as it is.
    "exception": gettext_noop("%(type)s: %(message)s"),
    "message": gettext_noop("%(message)s"),
}

# Parameters holding a code, shown by their label in the reader's language.
WORDS: dict[str, dict[str, Any]] = {
    # Who asked, when no person did.
    "who": {"": gettext_lazy("the system")},
    "outcome": {
        "succeeded": pgettext_lazy("run outcome", "succeeded"),
        "failed": pgettext_lazy("run outcome", "failed"),
        "finished": pgettext_lazy("run outcome", "finished"),
        "timed_out": pgettext_lazy("run outcome", "timed out"),
    },
    "policy": {
        "skip": gettext_lazy("Skip missed runs"),
        "once": gettext_lazy("Run once"),
        "all": gettext_lazy("Run all (capped)"),
    },
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in MESSAGES:
            raise KeyError(f"unknown run reason code {self.code!r}")

    @property
    def english(self) -> str:
        return _format(MESSAGES[self.code], self.params, translate=False)

    def text(self) -> str:
        """The message in the active language."""
        return _format(gettext(MESSAGES[self.code]), self.params, translate=True)

    def fields(self) -> dict[str, Any]:
        """The Run fields that store it."""
        return {
            "reason": self.english,
            "reason_code": self.code,
            "reason_params": dict(self.params),
        }

    def apply_to(self, run: Any) -> list[str]:
        """Set it on a Run instance; the names of the fields it changed, for `update_fields`."""
        for name, value in self.fields().items():
            setattr(run, name, value)
        return ["reason", "reason_code", "reason_params"]

    def redacted(self, redact: Any) -> "Reason":
        """The same reason with `redact` (str -> str) applied to its text parameters."""
        params = {k: redact(v) if isinstance(v, str) else v for k, v in self.params.items()}
        return Reason(self.code, params)


def reason(code: str, /, **params: Any) -> Reason:
    return Reason(code, params)


def exception_reason(exc: BaseException) -> Reason:
    """An exception of the job's own code (or of the machinery running it), named and quoted."""
    return reason("exception", type=type(exc).__name__, message=str(exc)[:480])


def requested_cancel(code: str, params: Mapping[str, Any] | None, text: str) -> Reason:
    """The reason a cancel request left on the row, for the run it stops."""
    if code:
        try:
            return Reason(code, params or {})
        except KeyError:
            pass
    return reason("message", message=text) if text else reason("cancelled_on_request")


def render(code: str, params: Mapping[str, Any] | None, fallback: str = "") -> str:
    """A stored reason in the active language; rows without a (known) code show their text."""
    if not code or code not in MESSAGES:
        return fallback
    try:
        return Reason(code, params or {}).text()
    except (KeyError, TypeError, ValueError):
        # A row written by a newer version with other parameters: its English text still reads.
        return fallback


def render_run(run: Any) -> str:
    """The reason of a Run, or of a row dict from a raw query."""
    if isinstance(run, Mapping):
        return render(run.get("reason_code", ""), run.get("reason_params"), run.get("reason", ""))
    return render(run.reason_code, run.reason_params, run.reason)


def _format(message: str, params: Mapping[str, Any], *, translate: bool) -> str:
    if "%(" not in message:
        return message
    shown = {}
    for key, value in params.items():
        words = WORDS.get(key)
        if words is not None and value in words:
            label = words[value]
            # English text keeps the msgid; a page shows the label in its language.
            value = str(label) if translate else _english(label)
        shown[key] = value
    return message % shown


def _english(label: Any) -> str:
    from django.utils import translation

    with translation.override("en"):
        return str(label)

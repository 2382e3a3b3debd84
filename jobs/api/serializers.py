"""Jobs and runs to and from JSON.

Input is checked here for shape and type only (a wrong type is reported per field, never a 500);
what a value means (a schedule, a URL, a task's parameters) is checked by the model and the kinds
inside the services, so the API and the web pages accept exactly the same jobs.
"""

from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.api.endpoint import isoformat, parse_instant
from jobs.api.errors import ApiError, invalid
from jobs.api.fields import (
    CHAIN_FIELDS,
    HTTP_DEFAULTS,
    HTTP_FIELDS,
    JOB_FIELDS,
    MAX_CHAIN_IDS,
    MAX_JOB_ID,
    READ_ONLY_FIELDS,
    SHELL_FIELDS,
    TASK_FIELDS,
    Field,
)
from jobs.audit import (
    mask_headers,
    mask_url,
    secret_header_names,
    unmask_headers,
    unmask_url,
    webhook_mask_message,
)
from jobs.kinds.http import mark_secret
from jobs.models import Job, JobLink, Notification, Run
from jobs.selectors import job_next_runs, run_output
from jobs.services import job_chains
from jobs.services.calendars import job_calendar_names

# Model error keys as the API names them, per kind (the kinds report `url`, the API has `http`).
ERROR_NAMES = {
    Job.Kind.HTTP: {name: f"http.{name}" for name in HTTP_FIELDS} | {"__all__": "http"},
    Job.Kind.SHELL: {"command": "shell.command", "__all__": "shell"},
    Job.Kind.TASK: {},
}
PAUSE_ERROR_NAMES = {"until": "paused_until", "note": "pause_note"}

_MISSING = object()


# --- values ------------------------------------------------------------------------------------


def check_value(field: Field, value: Any) -> Any:
    """`value` converted for the model, or ValueError with a message for the client."""
    if value is None:
        if field.nullable:
            return None
        raise ValueError(_("This field may not be null."))
    if field.type in ("string", "date-time"):
        if not isinstance(value, str):
            raise ValueError(_("Expected text."))
        if field.max_length is not None and len(value) > field.max_length:
            raise ValueError(_("At most %(n)d characters.") % {"n": field.max_length})
        if field.choices and value not in field.choices:
            raise ValueError(_("One of: %(choices)s.") % {"choices": ", ".join(field.choices)})
        if field.type == "date-time":
            try:
                return parse_instant(value)
            except ValueError:
                raise ValueError(
                    _(
                        "Expected an ISO-8601 date-time with an offset, between the years 1900 "
                        "and 8999, e.g. %(example)s."
                    )
                    % {"example": "2030-01-31T09:00:00+01:00"}
                ) from None
        return value
    if field.type == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(_("Expected a whole number."))
        if not field.minimum <= value <= field.maximum:  # type: ignore[operator]
            raise ValueError(
                _("Expected a number from %(min)d to %(max)d.")
                % {"min": field.minimum, "max": field.maximum}
            )
        return value
    if field.type == "labels":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ValueError(_("Expected an object of text values."))
        return value
    if field.type == "job_ids":
        if (
            not isinstance(value, list)
            or len(value) > MAX_CHAIN_IDS
            or not all(
                isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_JOB_ID
                for i in value
            )
        ):
            raise ValueError(_("Expected a list of at most %(n)d job ids.") % {"n": MAX_CHAIN_IDS})
        return value
    if field.type == "statuses":
        if not isinstance(value, list) or len(value) > 100:
            raise ValueError(_("Expected a list of at most 100 HTTP status codes."))
        return value
    if field.type == "list":
        return _check_list(field, value)
    if not isinstance(value, dict):
        raise ValueError(_("Expected an object."))
    return value


def _check_list(field: Field, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(_("Expected a list of text."))
    if field.max_length is not None and len(value) > field.max_length:
        raise ValueError(_("At most %(n)d items.") % {"n": field.max_length})
    if field.choices and any(item not in field.choices for item in value):
        raise ValueError(_("Each one of: %(choices)s.") % {"choices": ", ".join(field.choices)})
    return value


def _check_fields(
    data: dict[str, Any], fields: dict[str, Field], prefix: str, errors: dict[str, str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            try:
                values[name] = check_value(field, data[name])
            except ValueError as exc:
                errors[prefix + name] = str(exc)
    return values


# --- job input -----------------------------------------------------------------------------------


def parse_job(data: dict[str, Any], *, job: Job | None, partial: bool) -> dict[str, Any]:
    """Service keyword arguments from a job's JSON: for job_create, or to compare with `job`.

    Create and PUT give the whole job (what is left out takes its default); PATCH (`partial`)
    gives only what changes, and its `http` object changes only the keys it has.
    """
    known = {*JOB_FIELDS, *TASK_FIELDS, *CHAIN_FIELDS, "http", "shell", *READ_ONLY_FIELDS}
    errors = {name: _("Unknown field.") for name in data if name not in known}
    values = _check_fields(data, JOB_FIELDS, "", errors)
    values.update(_check_fields(data, CHAIN_FIELDS, "", errors))
    if not partial:
        for name, field in JOB_FIELDS.items():
            if name in values:
                continue
            if field.required:
                errors[name] = _("This field is required.")
            else:
                values[name] = field.default(name)
        for name in CHAIN_FIELDS:
            values.setdefault(name, [])
    if "notify_webhook_url" in values:
        # The URL is sent out masked; sending the mask back means "keep the saved URL".
        stored = job.notify_webhook_url if job is not None else ""
        values["notify_webhook_url"], unknown = unmask_url(values["notify_webhook_url"], stored)
        if unknown:
            errors["notify_webhook_url"] = webhook_mask_message()
    kind = values.get("kind", job.kind if job else None)
    current = job.config if job is not None and job.kind == kind and partial else None
    if kind in Job.Kind.values:
        values["config"] = _parse_config(data, kind, current, job, errors)
    if errors:
        raise invalid(errors)
    return values


def _parse_config(
    data: dict[str, Any],
    kind: str,
    current: dict[str, Any] | None,
    job: Job | None,
    errors: dict[str, str],
) -> dict[str, Any]:
    sections = {"task": ("task", "params"), "http": ("http",), "shell": ("shell",)}
    for other, names in sections.items():
        for name in names:
            if other != kind and data.get(name) is not None:
                errors[name] = _("Only for %(kind)s jobs; send null or leave it out.") % {
                    "kind": other
                }
    if kind == Job.Kind.TASK:
        values = _check_fields(data, TASK_FIELDS, "", errors)
        base = current or {"task": None, "params": {}}
        task = values["task"] if "task" in values else base.get("task")
        if "params" in values:
            params = values["params"] or {}
        else:
            # New parameters belong to a new task: keep the old ones only for the same task.
            params = base.get("params", {}) if task == base.get("task") else {}
        return {"task": task or "", "params": params}
    section, fields = ("http", HTTP_FIELDS) if kind == Job.Kind.HTTP else ("shell", SHELL_FIELDS)
    given = data.get(section, _MISSING)
    if given is _MISSING and current is not None:
        return current
    if not isinstance(given, dict):
        errors[section] = _("Expected an object with the %(kind)s settings.") % {"kind": kind}
        return {}
    base = dict(current) if current is not None else dict(HTTP_DEFAULTS if kind == "http" else {})
    for name in given:
        if name not in fields:
            errors[f"{section}.{name}"] = _("Unknown field.")
    config = {**base, **_check_fields(given, fields, f"{section}.", errors)}
    secret_names = config.pop("secret_headers", None) or []
    if kind == Job.Kind.HTTP and isinstance(config.get("headers"), dict):
        config["headers"] = _unmask_headers(config["headers"], job, errors)
        given_names = {str(name).lower() for name in config["headers"]}
        for name in secret_names:
            if not isinstance(name, str) or name.lower() not in given_names:
                errors["http.secret_headers"] = _("%(name)s is not one of the headers.") % {
                    "name": repr(name)
                }
        config["headers"] = mark_secret(config["headers"], secret_names)
    return config


def _unmask_headers(
    headers: dict[str, str], job: Job | None, errors: dict[str, str]
) -> dict[str, str]:
    # Secret header values are sent out masked; sending the mask back means "keep the value".
    result, unknown = unmask_headers(headers, job)
    for name in unknown:
        errors[f"http.headers.{name}"] = _(
            "Send the real value: the mask only stands for a value already saved."
        )
        del result[name]
    return result


def job_changes(job: Job, values: dict[str, Any]) -> dict[str, Any]:
    """The definition fields in `values` that differ from `job`: what job_update must change."""
    from jobs.services import DEFINITION_FIELDS

    changes = {
        name: value
        for name, value in values.items()
        if name in DEFINITION_FIELDS and getattr(job, name) != value
    }
    if "calendars" in values and sorted(set(values["calendars"])) != job_calendar_names(job):
        changes["calendars"] = values["calendars"]
    current = job_chains(job)
    for name in CHAIN_FIELDS:
        if name in values and sorted(set(values[name])) != current[name]:
            changes[name] = values[name]
    return changes


# --- output --------------------------------------------------------------------------------------


def job_json(job: Job, *, last_run: Run | None, now: datetime | None = None) -> dict[str, Any]:
    config = job.config if isinstance(job.config, dict) else {}
    is_task, is_http = job.kind == Job.Kind.TASK, job.kind == Job.Kind.HTTP
    http = None
    if is_http:
        http = {name: config.get(name, HTTP_DEFAULTS.get(name)) for name in HTTP_FIELDS}
        http["headers"] = mask_headers(http["headers"] or {})
        http["secret_headers"] = secret_header_names(config.get("headers") or {})
    next_runs = job_next_runs(job, 1, now or timezone.now())
    executor = job.executor if job.executor_id else None
    return {
        "id": job.pk,
        "name": job.name,
        "description": job.description,
        "kind": job.kind,
        "task": config.get("task") if is_task else None,
        "params": config.get("params", {}) if is_task else None,
        "http": http,
        "shell": {"command": config.get("command", "")} if job.kind == Job.Kind.SHELL else None,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "start_at": isoformat(job.start_at),
        "end_at": isoformat(job.end_at),
        "state": job.state,
        "paused_until": isoformat(job.paused_until),
        "pause_note": job.pause_note,
        "timeout_seconds": job.timeout_seconds,
        "max_retries": job.max_retries,
        "retry_backoff": job.retry_backoff,
        "retry_backoff_seconds": job.retry_backoff_seconds,
        "overlap": job.overlap,
        "max_concurrent": job.max_concurrent,
        "misfire": job.misfire,
        "misfire_limit": job.misfire_limit,
        "labels": job.labels,
        "priority": job.priority,
        "queue": job.queue,
        "calendars": job_calendar_names(job),
        "on_calendar": job.on_calendar,
        **job_chains(job),
        "notify_on": job.notify_on,
        "notify_emails": job.notify_emails,
        "notify_webhook_url": mask_url(job.notify_webhook_url),
        "notify_window_seconds": job.notify_window_seconds,
        "keep_runs_days": job.keep_runs_days,
        "keep_runs_count": job.keep_runs_count,
        "version": job.version,
        "next_run_at": isoformat(next_runs[0]) if next_runs else None,
        "last_run": run_summary(last_run) if last_run else None,
        "executor": {"name": executor.name, "state": executor.state} if executor else None,
        "created_at": isoformat(job.created_at),
        "updated_at": isoformat(job.updated_at),
    }


def with_last_runs(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """`jobs` with what jobs_json needs: the executor, and the id of each job's newest run."""
    newest = Run.objects.filter(job=OuterRef("pk")).order_by("-scheduled_for", "-id")
    # The chain links of a whole page of jobs in one more query.
    links = Prefetch(
        "downstream_links", queryset=JobLink.objects.only("upstream", "downstream", "event")
    )
    return (
        jobs.select_related("executor")
        .prefetch_related(links, "calendars")
        .annotate(last_run_id=Subquery(newest.values("id")[:1]))
    )


def jobs_json(jobs: list[Job]) -> list[dict[str, Any]]:
    """Jobs fetched through with_last_runs as JSON: one more query for all their last runs."""
    run_ids = [job.last_run_id for job in jobs if job.last_run_id]  # type: ignore[attr-defined]
    runs = Run.objects.in_bulk(run_ids) if run_ids else {}
    now = timezone.now()
    return [
        job_json(job, last_run=runs.get(job.last_run_id), now=now)  # type: ignore[attr-defined]
        for job in jobs
    ]


def job_answer(job_id: int) -> dict[str, Any]:
    """One job as JSON, read afresh (after a change, it shows what was saved)."""
    return jobs_json([with_last_runs(Job.objects.all()).get(pk=job_id)])[0]


def run_summary(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "state": run.state,
        # English, for scripts; the code and its parameters for clients that show it themselves.
        "reason": run.reason,
        "reason_code": run.reason_code,
        "reason_params": run.reason_params,
        "trigger": run.trigger,
        "scheduled_for": isoformat(run.scheduled_for),
        "started_at": isoformat(run.started_at),
        "finished_at": isoformat(run.finished_at),
    }


def run_json(run: Run, *, detail: bool = False) -> dict[str, Any]:
    duration = run.duration
    data = {
        **run_summary(run),
        "job": run.job_id,
        "job_name": run.job.name,
        "job_version": run.job_version,
        "attempt": run.attempt,
        "retry_of": run.retry_of_id,
        "stands_for": run.stands_for_id,
        "cause": run.cause,
        "parent_run": run.parent_run_id,
        "created_at": isoformat(run.created_at),
        "cancel_requested_at": isoformat(run.cancel_requested_at),
        "duration_seconds": duration.total_seconds() if duration is not None else None,
        "exit_code": run.exit_code,
        "http_status": run.http_status,
        "host": run.host,
        "pid": run.pid,
        # Runs on Celery workers: the queue and the worker (its host and pid are those above).
        "queue": run.queue,
        "worker": run.worker,
        "requested_by": run.requested_by.get_username() if run.requested_by else None,
        # The task parameters it ran with, when started with other values than the job's.
        "params": run.params,
    }
    if detail:
        output, dropped = run_output(run)
        data.update(output=output, output_dropped_bytes=dropped, error=run.error)
    return data


def notification_json(notification: Notification) -> dict[str, Any]:
    """A notification fetched with `runs` prefetched."""
    run_ids = sorted((run.pk for run in notification.runs.all()), reverse=True)
    return {
        "id": notification.pk,
        "job": notification.job_id,
        "channel": notification.channel,
        "target": notification.target,
        "state": notification.state,
        "events": notification.events,
        "digest_count": notification.digest_count,
        "runs": run_ids[:MAX_LISTED_RUNS],
        "first_event_at": isoformat(notification.first_event_at),
        "last_event_at": isoformat(notification.last_event_at),
        "last_error": notification.last_error,
        "error": notification.error,
        "attempts": notification.attempts,
        "send_after": isoformat(notification.send_after),
        "created_at": isoformat(notification.created_at),
        "sent_at": isoformat(notification.sent_at),
    }


# A digest may cover thousands of runs; the newest are listed, `digest_count` says how many.
MAX_LISTED_RUNS = 100


def pause_input(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {name: _("Unknown field.") for name in data if name not in PAUSE}
    values = _check_fields(data, PAUSE, "", errors)
    if errors:
        raise invalid(errors)
    return {"until": values.get("until"), "note": values.get("note") or ""}


PAUSE = {
    "until": Field("date-time", nullable=True, help="Resume by itself at this instant."),
    "note": Field("string", nullable=True, max_length=500, help="Why it is paused."),
}


def conflict(message: str) -> ApiError:
    return ApiError(409, "conflict", message)

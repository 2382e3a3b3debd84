"""Executors: other services that register their own HTTP jobs and send heartbeats."""

import re
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs import audit
from jobs.models import (
    AuditEvent,
    Executor,
    Job,
)
from jobs.permissions import require
from jobs.services.jobs import (
    DEFINITION_FIELDS,
    NOTIFY_FIELDS,
    RETENTION_FIELDS,
    Actor,
    _user,
    job_create,
    job_delete,
    job_update,
)
from jobs.vault import SECRET_MASK

# --- executors: services that register their own HTTP jobs ---------------------------------------

EXECUTOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
EXECUTOR_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
# What an executor may set for each job it offers, besides its name, schedule and path; what it
# leaves out takes the model's default, so each registration is the whole truth about its jobs.
# Notifications, retention and what a job does on its calendars' days are the operators' to set:
# a registration leaves them alone.
EXECUTOR_JOB_FIELDS = tuple(
    name
    for name in DEFINITION_FIELDS
    # Executors own HTTP jobs, which never go to a Celery queue.
    if name not in ("name", "kind", "config", "schedule", "labels", "queue", "on_calendar")
    and name not in NOTIFY_FIELDS + RETENTION_FIELDS
)
EXECUTOR_HTTP_DEFAULTS: dict[str, Any] = {
    "method": "POST",
    "headers": {},
    "body": "",
    "expect_status": [],
}
MAX_HEARTBEAT_SECONDS = 86_400


def _executor_job_fields(
    executor: Executor, offer: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    fields = {
        name: offer.get(name, Job._meta.get_field(name).get_default())
        for name in EXECUTOR_JOB_FIELDS
    }
    labels = offer.get("labels") or {}
    fields["labels"] = {**labels, "executor": executor.name} if isinstance(labels, dict) else labels
    http = {name: offer.get(name, default) for name, default in EXECUTOR_HTTP_DEFAULTS.items()}
    if isinstance(http["headers"], dict):
        http["headers"] = {**headers, **http["headers"]}
    path = offer.get("path") or "/"
    http["url"] = executor.base_url.rstrip("/") + path if isinstance(path, str) else path
    return {"schedule": offer.get("schedule", ""), "config": http, **fields}


def _executor_offer_errors(offers: list[dict[str, Any]]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    for index, offer in enumerate(offers):
        name, path = offer.get("name"), offer.get("path", "/")
        if not isinstance(name, str) or not EXECUTOR_JOB_NAME.match(name):
            errors[f"jobs[{index}].name"] = _(
                "Name each job with 1 to 100 letters, digits, “_ . -”, starting with a letter or "
                "digit."
            )
        elif name in seen:
            errors[f"jobs[{index}].name"] = _("This job is offered twice.")
        else:
            seen.add(name)
        if not isinstance(path, str) or not path.startswith("/"):
            errors[f"jobs[{index}].path"] = _("The path must start with “/”.")
    return errors


@transaction.atomic
def executor_register(
    *,
    actor: Actor,
    name: str,
    base_url: str,
    jobs: list[dict[str, Any]],
    heartbeat_seconds: int = 30,
    headers: dict[str, str] | None = None,
) -> Executor:
    """Create or update an executor and the HTTP jobs it offers; jobs it no longer offers go.

    Each job is named `<executor>/<job>` and calls the executor's base URL plus its path.
    Registering counts as a heartbeat. Errors are keyed `jobs[<i>].<field>`; when any job is
    wrong, nothing is kept.
    """
    from jobs.kinds.http import clean_url
    from jobs.kinds.ssrf import check_target

    require(actor, "edit", kind=Job.Kind.HTTP)
    errors: dict[str, Any] = {}
    if not isinstance(name, str) or not EXECUTOR_NAME.match(name):
        errors["name"] = _(
            "Name the executor with 1 to 63 letters, digits, “_ . -”, starting with a letter or "
            "digit."
        )
    try:
        base_url = clean_url(base_url)
        # Refused once here, rather than once for each job it offers.
        check_target(base_url)
    except ValidationError as exc:
        errors["base_url"] = exc.messages
    if not 1 <= heartbeat_seconds <= MAX_HEARTBEAT_SECONDS:
        errors["heartbeat_seconds"] = _("Send heartbeats every 1 to 86400 seconds.")
    errors.update(_executor_offer_errors(jobs))
    # The mask never stands for a saved secret here: the values go to the base URL given now,
    # which may not be the one they were saved for.
    offered = [(f"jobs[{i}].headers", offer.get("headers")) for i, offer in enumerate(jobs)]
    for where, given in [("headers", headers), *offered]:
        if isinstance(given, dict) and SECRET_MASK in given.values():
            errors[where] = _(
                "Send the real values: an executor gives its headers in full each time it "
                "registers, and “%(mask)s” stands for nothing here."
            ) % {"mask": SECRET_MASK}
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    executor, created = Executor.objects.select_for_update().get_or_create(
        name=name, defaults={"base_url": base_url, "registered_by": _user(actor)}
    )
    executor.base_url = base_url
    executor.heartbeat_seconds = heartbeat_seconds
    executor.registered_at = now
    executor.last_heartbeat_at = now
    executor.save()
    owned = {job.name: job for job in Job.objects.filter(executor=executor)}
    for index, offer in enumerate(jobs):
        job_name = f"{name}/{offer['name']}"
        fields = _executor_job_fields(executor, offer, headers or {})
        try:
            job = owned.pop(job_name, None)
            if job is not None:
                job_update(actor=actor, job=job, **fields)
            elif Job.objects.filter(name=job_name).exists():
                raise ValidationError(
                    {
                        "name": ValidationError(
                            _("A job named “%(name)s” exists and belongs to no such executor.")
                            % {"name": job_name},
                            code="conflict",
                        )
                    }
                )
            else:
                job = job_create(actor=actor, name=job_name, kind=Job.Kind.HTTP, **fields)
                Job.objects.filter(pk=job.pk).update(executor=executor)
        except ValidationError as exc:
            # Kept as ValidationErrors, not messages: their codes tell a conflict from a mistake.
            if hasattr(exc, "error_dict"):
                found = exc.error_dict.items()
            else:
                found = [(NON_FIELD_ERRORS, exc.error_list)]
            for field, field_errors in found:
                field = {"url": "path", NON_FIELD_ERRORS: ""}.get(field, field)
                errors[f"jobs[{index}].{field}".rstrip(".")] = field_errors
    if errors:
        raise ValidationError(errors)
    for job in owned.values():
        job_delete(actor=actor, job=job)
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE,
        object_type="executor",
        object_id=executor.pk,
        object_repr=executor.name,
        changes={"jobs": [None, sorted(f"{name}/{offer['name']}" for offer in jobs)]},
    )
    return executor


def executor_heartbeat(*, actor: Actor, executor: Executor) -> Executor:
    """Note that `executor` is alive; the scheduler reads this when its jobs' slots fall due."""
    require(actor, "operate")
    executor.last_heartbeat_at = timezone.now()
    Executor.objects.filter(pk=executor.pk).update(last_heartbeat_at=executor.last_heartbeat_at)
    return executor


@transaction.atomic
def executor_unregister(*, actor: Actor, executor: Executor) -> int:
    """Remove `executor` and the jobs it owns; returns how many jobs went."""
    require(actor, "edit", kind=Job.Kind.HTTP)
    jobs = list(Job.objects.filter(executor=executor))
    for job in jobs:
        job_delete(actor=actor, job=job)
    audit.record(
        actor=actor,
        action=AuditEvent.Action.DELETE,
        object_type="executor",
        object_id=executor.pk,
        object_repr=executor.name,
        changes={"jobs": [sorted(job.name for job in jobs), None]},
    )
    Executor.objects.filter(pk=executor.pk).delete()
    return len(jobs)

"""Writes to jobs and runs: create, change, pause, resume, delete, run now, cancel.

Each service validates, writes in one transaction and leaves the change marker bumped: database
triggers bump it for writes to the jobs table, and run requests bump it explicitly, so the
scheduler sees the change on its next poll.
"""

import copy
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs import audit, kinds
from jobs.models import (
    CHANGE_CHANNEL,
    AuditEvent,
    Calendar,
    ChangeMarker,
    Job,
    JobVersion,
    Notification,
    Run,
)
from jobs.output import output_path, remove_output
from jobs.permissions import require
from jobs.run_reasons import reason
from jobs.services.chains import CHAIN_FIELDS, chain_ids, chains_check, chains_save, job_chains

NOTIFY_FIELDS = ("notify_on", "notify_emails", "notify_webhook_url", "notify_window_seconds")
RETENTION_FIELDS = ("keep_runs_days", "keep_runs_count")
DEFINITION_FIELDS = (
    "name",
    "description",
    "kind",
    "config",
    "schedule",
    "timezone",
    "start_at",
    "end_at",
    "timeout_seconds",
    "max_retries",
    "retry_backoff",
    "retry_backoff_seconds",
    "overlap",
    "max_concurrent",
    "misfire",
    "misfire_limit",
    "labels",
    "priority",
    "queue",
    "on_calendar",
    *NOTIFY_FIELDS,
    *RETENTION_FIELDS,
)
# Scheduling-relevant fields whose change re-anchors the schedule (slots before are not owed).
ANCHOR_FIELDS = ("schedule", "timezone", "start_at")

Actor = AbstractBaseUser | None


def _user(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def job_definition(job: Job) -> dict[str, Any]:
    return with_calendars(_with_chains(_fields(job), job_chains(job)), _calendar_names(job))


def _calendar_names(job: Job) -> list[str]:
    return sorted(calendar.name for calendar in job.calendars.all()) if job.pk else []


def with_calendars(definition: dict[str, Any], names: list[str]) -> dict[str, Any]:
    # Like chains: left out when empty, so definitions saved before calendars compare equal.
    if names:
        definition["calendars"] = sorted(names)
    else:
        definition.pop("calendars", None)
    return definition


def _wanted_calendars(given: Iterable[Any] | None) -> tuple[list[Calendar] | None, dict]:
    """The calendars asked for (None: leave them), and the errors keyed "calendars"."""
    from jobs.services.calendars import calendars_named

    if given is None:
        return None, {}
    names = [item.name if isinstance(item, Calendar) else item for item in given]
    try:
        return calendars_named(names), {}
    except ValidationError as exc:
        return None, exc.error_dict


def _with_chains(definition: dict[str, Any], chains: dict[str, list[int]]) -> dict[str, Any]:
    # The jobs it starts are part of what a job does: versions and audit entries show them. An
    # event without links is left out, so definitions saved before chains existed compare equal.
    for name, ids in chains.items():
        if ids:
            definition[name] = ids
        else:
            definition.pop(name, None)
    return definition


def _wanted_chains(given: dict[str, Any]) -> tuple[dict[str, list[int]], dict[str, list]]:
    wanted: dict[str, list[int]] = {}
    errors: dict[str, list[ValidationError]] = {}
    for name, value in given.items():
        try:
            wanted[name] = chain_ids(value)
        except ValidationError as exc:
            errors[name] = exc.error_list
    return wanted, errors


def _clean_with_chains(
    job: Job, given: dict[str, Any], current: Job | None, extra: dict | None = None
) -> dict[str, list]:
    """full_clean() and the chain checks together, so a form shows every error at once.

    Returns the chains to save (those given); raises one ValidationError naming every field,
    `extra` errors (of the calendars) included.
    """
    errors: dict[str, list[ValidationError]] = dict(extra or {})
    try:
        job.full_clean()
    except ValidationError as exc:
        errors.update(exc.error_dict)
    wanted, chain_errors = _wanted_chains(given)
    errors.update(chain_errors)
    for name, found in chains_check(current, wanted).items():
        errors.setdefault(name, []).extend(found)
    if errors:
        raise ValidationError(errors)
    return wanted


def _save_version(job: Job, actor: Actor, definition: dict[str, Any] | None = None) -> None:
    JobVersion.objects.create(
        job=job,
        version=job.version,
        definition=definition if definition is not None else job_definition(job),
        created_by=_user(actor),
    )


def bump_change_marker() -> None:
    ChangeMarker.objects.filter(id=1).update(version=F("version") + 1, changed_at=timezone.now())
    if connection.vendor == "postgresql":
        # Run requests and other changes outside jobs_job wake a listening scheduler too (the
        # notification is sent when the transaction commits).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANGE_CHANNEL])


@transaction.atomic
def job_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    schedule: str,
    config: dict[str, Any] | None = None,
    schedule_anchor: datetime | None = None,
    on_success: Iterable[Job | int] | None = None,
    on_failure: Iterable[Job | int] | None = None,
    on_finish: Iterable[Job | int] | None = None,
    calendars: Iterable[Calendar | str] | None = None,
    **fields: Any,
) -> Job:
    # Shell commands run with the scheduler's privileges: only administrators may define them.
    require(actor, "edit", kind=kind)
    unknown = set(fields) - set(DEFINITION_FIELDS) - {"state", "paused_until", "pause_note"}
    if unknown:
        raise TypeError(f"job_create() got unknown fields: {', '.join(sorted(unknown))}")
    job = Job(
        name=name,
        kind=kind,
        schedule=schedule,
        config=config or {},
        timezone=fields.pop("timezone", "UTC"),
        created_by=_user(actor),
        updated_by=_user(actor),
        **fields,
    )
    if schedule_anchor is not None:
        job.schedule_anchor = schedule_anchor
    given = {"on_success": on_success, "on_failure": on_failure, "on_finish": on_finish}
    chosen, calendar_errors = _wanted_calendars(calendars)
    wanted = _clean_with_chains(job, given, None, calendar_errors)
    job.config = kinds.seal_config(job.kind, job.config, None)
    job.notify_webhook_url = audit.seal_url(job.notify_webhook_url, "")
    job.save()
    chains_save(job, wanted)
    if chosen:
        job.calendars.set(chosen)
    definition = with_calendars(_with_chains(_fields(job), wanted), [c.name for c in chosen or []])
    _save_version(job, actor, definition)
    _audit_job(actor, AuditEvent.Action.CREATE, job, audit.diff({}, definition))
    return job


def _fields(job: Job) -> dict[str, Any]:
    definition: dict[str, Any] = {}
    for name in DEFINITION_FIELDS:
        value = getattr(job, name)
        definition[name] = value.isoformat() if isinstance(value, datetime) else value
    return definition


def _audit_job(actor: Actor, action: str, job: Job, changes: dict[str, Any] | None = None) -> None:
    audit.record(
        actor=actor,
        action=action,
        object_type="job",
        object_id=job.pk,
        object_repr=job.name,
        changes=changes,
    )


@transaction.atomic
def job_update(*, actor: Actor, job: Job, **changes: Any) -> Job:
    """Change a job's definition; `on_success`, `on_failure` and `on_finish` replace its links."""
    given = {name: changes.pop(name) for name in CHAIN_FIELDS if name in changes}
    chosen, calendar_errors = _wanted_calendars(changes.pop("calendars", None))
    unknown = set(changes) - set(DEFINITION_FIELDS)
    if unknown:
        raise TypeError(f"job_update() got unknown fields: {', '.join(sorted(unknown))}")
    job = Job.objects.select_for_update().get(pk=job.pk)
    require(actor, "edit", kind=job.kind)
    require(actor, "edit", kind=changes.get("kind", job.kind))
    before = job_definition(job)
    for name, value in changes.items():
        setattr(job, name, value)
    wanted = _clean_with_chains(job, given, job, calendar_errors)
    job.config = kinds.seal_config(job.kind, job.config, before["config"])
    job.notify_webhook_url = audit.seal_url(job.notify_webhook_url, before["notify_webhook_url"])
    names = [c.name for c in chosen] if chosen is not None else _calendar_names(job)
    after = with_calendars(_with_chains(job_definition(job), wanted), names)
    if after == before:
        return job
    if any(before[f] != after[f] for f in ANCHOR_FIELDS):
        job.schedule_anchor = timezone.now()
    job.version += 1
    job.updated_by = _user(actor)
    job.save()
    chains_save(job, wanted)
    if chosen is not None:
        job.calendars.set(chosen)
    _save_version(job, actor, after)
    _audit_job(actor, AuditEvent.Action.UPDATE, job, audit.diff(before, after))
    return job


def job_check(*, actor: Actor, job: Job | None, unique_name: bool = True, **fields: Any) -> Job:
    """The job that job_create (`job` None) or job_update would save with `fields`, checked as
    they check it and left unsaved, without its links (they name jobs that may not exist yet).

    Reads only: an import plan calls this for every job in a file without taking a write lock.
    `unique_name=False` skips the one query that looks for another job of the same name, for a
    caller that knows there is none (an import matches jobs by name).
    """
    unknown = set(fields) - set(DEFINITION_FIELDS)
    if unknown:
        raise TypeError(f"job_check() got unknown fields: {', '.join(sorted(unknown))}")
    if job is None:
        require(actor, "edit", kind=fields.get("kind"))
        candidate = Job(timezone="UTC")
    else:
        require(actor, "edit", kind=job.kind)
        require(actor, "edit", kind=fields.get("kind", job.kind))
        candidate = copy.copy(job)
    for name, value in fields.items():
        setattr(candidate, name, value)
    candidate.full_clean(validate_unique=unique_name)
    previous = job.config if job is not None else None
    candidate.config = kinds.seal_config(candidate.kind, candidate.config, previous)
    stored_url = job.notify_webhook_url if job is not None else ""
    candidate.notify_webhook_url = audit.seal_url(candidate.notify_webhook_url, stored_url)
    return candidate


def job_pause_check(*, until: datetime | None, note: str) -> None:
    if until is not None and until <= timezone.now():
        raise ValidationError({"until": _("“Paused until” must be in the future.")})
    if len(note) > 500:
        raise ValidationError({"note": _("Keep the note under 500 characters.")})


@transaction.atomic
def job_pause(*, actor: Actor, job: Job, until: datetime | None = None, note: str = "") -> Job:
    require(actor, "operate")
    job_pause_check(until=until, note=note)
    job = Job.objects.select_for_update().get(pk=job.pk)
    job.state = Job.State.PAUSED
    job.paused_until = until
    job.pause_note = note
    job.updated_by = _user(actor)
    job.save(update_fields=["state", "paused_until", "pause_note", "updated_by", "updated_at"])
    changes = {"paused_until": [None, until.isoformat() if until else None], "note": [None, note]}
    _audit_job(actor, AuditEvent.Action.PAUSE, job, changes)
    return job


@transaction.atomic
def job_resume(*, actor: Actor, job: Job, reason: str = "") -> Job:
    require(actor, "operate")
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.state == Job.State.ACTIVE:
        return job
    job.state = Job.State.ACTIVE
    job.paused_until = None
    job.pause_note = ""
    job.updated_by = _user(actor)
    job.save(update_fields=["state", "paused_until", "pause_note", "updated_by", "updated_at"])
    _audit_job(actor, AuditEvent.Action.RESUME, job, {"reason": [None, reason]} if reason else None)
    return job


@transaction.atomic
def jobs_resume_due(*, now: datetime | None = None) -> list[Job]:
    """Resume the jobs whose pause has run out; the scheduler calls this."""
    now = now or timezone.now()
    due = list(
        Job.objects.select_for_update().filter(state=Job.State.PAUSED, paused_until__lte=now)
    )
    return [job_resume(actor=None, job=job, reason="pause ended") for job in due]


@transaction.atomic
def job_delete(*, actor: Actor, job: Job) -> None:
    require(actor, "edit", kind=job.kind)
    _audit_job(actor, AuditEvent.Action.DELETE, job, audit.diff(job_definition(job), {}))
    Job.objects.filter(pk=job.pk).delete()


def run_params_check(job: Job, params: Any) -> dict[str, Any]:
    """A task job's parameters for one run: `params` over the job's own, checked like the job
    form's (errors under "params", each "name: problem")."""
    from jobs.registry import clean_params

    if job.kind != Job.Kind.TASK:
        raise ValidationError({"params": _("Only task jobs take parameters.")}, code="not_a_task")
    if not isinstance(params, dict):
        raise ValidationError({"params": _("Parameters must be an object of name → value.")})
    config = job.config if isinstance(job.config, dict) else {}
    return clean_params(config.get("task") or "", {**(config.get("params") or {}), **params})


@transaction.atomic
def job_run_now(
    *,
    actor: Actor,
    job: Job,
    trigger: str = Run.Trigger.MANUAL,
    params: dict[str, Any] | None = None,
) -> Run:
    """Ask for a run now; `params` (task jobs) change some parameters for this run only."""
    if trigger not in (Run.Trigger.MANUAL, Run.Trigger.API):
        raise ValueError(f"job_run_now() cannot create a {trigger} run")
    require(actor, "operate")
    job = Job.objects.get(pk=job.pk)
    run_params = run_params_check(job, params) if params is not None else None
    now = timezone.now()
    run = Run.objects.create(
        job=job,
        job_version=job.version,
        trigger=trigger,
        state=Run.State.QUEUED,
        scheduled_for=now,
        created_at=now,
        requested_by=_user(actor),
        params=run_params,
    )
    bump_change_marker()
    changes: dict[str, Any] = {"run": [None, run.pk]}
    if run_params is not None:
        changes["params"] = [None, run_params]
    _audit_job(actor, AuditEvent.Action.RUN_NOW, job, changes)
    return run


@transaction.atomic
def run_cancel(*, actor: Actor, run: Run) -> Run:
    require(actor, "operate")
    run = Run.objects.select_for_update().get(pk=run.pk)
    # No name: "the system", in the reader's language (jobs.run_reasons).
    who = getattr(_user(actor), "username", None) or ""
    now = timezone.now()
    if run.state == Run.State.QUEUED:
        run.state = Run.State.CANCELLED
        changed = reason("cancelled_before_start", who=who).apply_to(run)
        run.finished_at = now
        run.cancel_requested_at = now
        run.save(update_fields=["state", "finished_at", "cancel_requested_at", *changed])
    elif run.state == Run.State.RUNNING:
        if run.cancel_requested_at is None:
            run.cancel_requested_at = now
            changed = reason("cancel_requested", who=who).apply_to(run)
            run.save(update_fields=["cancel_requested_at", *changed])
    else:
        raise ValidationError(
            _("This run has already ended (%(state)s); there is nothing to cancel.")
            % {"state": run.get_state_display()},
            code="already_final",
        )
    bump_change_marker()
    audit.record(
        actor=actor,
        action=AuditEvent.Action.CANCEL,
        object_type="run",
        object_id=run.pk,
        object_repr=f"{run.job.name} #{run.pk}",
    )
    return run


def runs_prune(
    *,
    keep_days: int,
    keep_per_job: int,
    batch_size: int = 500,
    now: datetime | None = None,
) -> int:
    """Delete finished runs past their job's retention, with their output files.

    A run goes when it is older than the job's `keep_runs_days` and not among its newest
    `keep_runs_count`; a job without its own values uses `keep_days` and `keep_per_job`. Queued
    and running runs always stay. Deletes `batch_size` rows per transaction so the scheduler's
    ledger writes never wait long behind it.
    """
    now = now or timezone.now()
    deleted = 0
    retention = Job.objects.values_list("id", "keep_runs_days", "keep_runs_count")
    for job_id, job_days, job_count in retention.iterator():
        days = keep_days if job_days is None else job_days
        count = keep_per_job if job_count is None else job_count
        cutoff = now - timedelta(days=days)
        if count > 0:
            kept = (
                Run.objects.filter(job_id=job_id)
                .order_by("-scheduled_for")
                .values_list("scheduled_for", flat=True)[count - 1 : count]
            )
            if not kept:
                continue
            cutoff = min(cutoff, kept[0])
        deleted += _delete_runs_before(job_id, cutoff, batch_size)
        Notification.objects.filter(
            job_id=job_id, created_at__lt=now - timedelta(days=days)
        ).exclude(state=Notification.State.PENDING).delete()
    return deleted


def _delete_runs_before(job_id: int, cutoff: datetime, batch_size: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Run.objects.filter(
                    job_id=job_id, scheduled_for__lt=cutoff, state__in=Run.FINAL_STATES
                ).values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return deleted
            Run.objects.filter(id__in=ids).delete()
        # Normally removed when the run ends; a run cut short by a crash may have left its files.
        for run_id in ids:
            remove_output(output_path(run_id))
        deleted += len(ids)


@transaction.atomic
def job_restore_version(*, actor: Actor, job: Job, version: int) -> Job:
    """Make an earlier definition current again, as a new version (history is never rewritten)."""
    saved = JobVersion.objects.filter(job=job, version=version).first()
    if saved is None:
        raise ValidationError(
            _("Version %(version)s of this job does not exist.") % {"version": version},
            code="no_such_version",
        )
    changes: dict[str, Any] = {}
    for name in DEFINITION_FIELDS:
        if name not in saved.definition:
            continue
        value = saved.definition[name]
        if name in ("start_at", "end_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        changes[name] = value
    # An event missing from a saved definition had no links then.
    saved_chains = {name: saved.definition.get(name) or [] for name in CHAIN_FIELDS}
    # Jobs deleted since then cannot be started again; the rest of the version still comes back.
    existing = set(
        Job.objects.filter(pk__in=[i for ids in saved_chains.values() for i in ids]).values_list(
            "pk", flat=True
        )
    )
    for name, ids in saved_chains.items():
        changes[name] = [i for i in ids if i in existing]
    # Calendars deleted since then are left out, like deleted jobs.
    saved_calendars = saved.definition.get("calendars") or []
    changes["calendars"] = list(
        Calendar.objects.filter(name__in=saved_calendars).values_list("name", flat=True)
    )
    return job_update(actor=actor, job=job, **changes)

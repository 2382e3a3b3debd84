"""Job definitions to a file and back: export, plan an import, apply it (docs/import-export.md).

An import is all or nothing. Planning runs the whole file through the very services that apply
it (job_create, job_update, job_pause, job_resume, job_delete) inside a transaction that is then
rolled back, so a plan cannot promise what applying would refuse: roles, validation, the secret
placeholder and the diff are the services' own, and nothing of the dry run is kept. Applying
repeats it for real, and refuses when the jobs changed since the plan the person approved.

Jobs are matched by name, and the jobs a job starts (`on_success`, …) are written by name too:
ids mean nothing in another database.
"""

import hashlib
import heapq
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    FieldDoesNotExist,
    PermissionDenied,
    ValidationError,
)
from django.db import transaction
from django.utils.translation import gettext as _

from jobs import job_files
from jobs.audit import SECRET_MASK, diff, masked_definition, unmask_headers
from jobs.job_files import LineMap
from jobs.models import Job
from jobs.permissions import require
from jobs.services.chains import CHAIN_FIELDS
from jobs.services.jobs import (
    DEFINITION_FIELDS,
    Actor,
    job_create,
    job_definition,
    job_delete,
    job_pause,
    job_resume,
    job_update,
)
from jobs.services.transfer_file import (
    ENTRY_FIELDS,
    FILE_VERSION,
    STATE_FIELDS,
    Entry,
    JobFileError,
    read_entries,
)

NEW_JOB_STATE = {"state": Job.State.ACTIVE, "paused_until": None, "pause_note": ""}
# The pause service names its arguments differently from the job's fields.
PAUSE_ERROR_FIELDS = {"until": "paused_until", "note": "pause_note"}


@dataclass(frozen=True)
class PlannedJob:
    name: str
    action: str  # "create", "change", "unchanged" or "delete"
    changes: dict[str, list[Any]] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class ImportPlan:
    jobs: list[PlannedJob]
    # Of the jobs as they were when the plan was made: applying it refuses if they changed.
    fingerprint: str
    delete_missing: bool
    applied: bool

    def of(self, action: str) -> list[PlannedJob]:
        return [job for job in self.jobs if job.action == action]

    @property
    def counts(self) -> dict[str, int]:
        actions = ("create", "change", "unchanged", "delete")
        return {action: len(self.of(action)) for action in actions}

    @property
    def writes(self) -> bool:
        return any(job.action != "unchanged" for job in self.jobs)

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "fingerprint": self.fingerprint,
            "delete_missing": self.delete_missing,
            "counts": self.counts,
            "jobs": [
                {"name": job.name, "action": job.action, "line": job.line, "changes": job.changes}
                for job in self.jobs
            ],
        }


# --- export --------------------------------------------------------------------------------------


def jobs_export(
    *,
    actor: Actor,
    fmt: str = "yaml",
    names: list[str] | None = None,
    ids: list[int] | None = None,
) -> str:
    """The jobs as a file: all of them, or those named (`names`) or picked (`ids`)."""
    require(actor, "view")
    if fmt not in job_files.FORMATS:
        raise ValidationError({"format": _("Choose json or yaml.")}, code="invalid")
    jobs = Job.objects.order_by("name")
    if names:
        jobs = jobs.filter(name__in=names)
        missing = sorted(set(names) - {job.name for job in jobs})
        if missing:
            message = _("There is no job named %(names)s.") % {"names": ", ".join(missing)}
            raise ValidationError({"name": ValidationError(message, code="not_found")})
    if ids:
        jobs = jobs.filter(pk__in=ids)
    # Links may lead to jobs left out of the file: they are named all the same.
    names = dict(Job.objects.values_list("pk", "name"))
    jobs = jobs.prefetch_related("downstream_links")
    document = {
        "version": FILE_VERSION,
        "jobs": {job.name: export_entry(job, names) for job in jobs},
    }
    return job_files.write(document, fmt)


def export_entry(job: Job, names: dict[int, str]) -> dict[str, Any]:
    # Secrets leave as the mask: an import keeps the stored value where it finds the mask.
    definition = masked_definition(_by_name(job_definition(job), names))
    entry = {name: value for name, value in definition.items() if name != "name"}
    entry["state"] = job.state
    entry["paused_until"] = job.paused_until.isoformat() if job.paused_until else None
    entry["pause_note"] = job.pause_note
    return entry


def _by_name(definition: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    """`definition` with the jobs it starts by name: ids mean nothing in another database."""
    named = dict(definition)
    for field_name in CHAIN_FIELDS:
        if field_name in named:
            named[field_name] = sorted(names[i] for i in named[field_name])
    return named


# --- import --------------------------------------------------------------------------------------


def _fingerprint() -> str:
    """Changes whenever a job is added, removed, edited, paused or resumed."""
    rows = Job.objects.select_for_update().order_by("pk")
    values = rows.values_list("pk", "name", "version", "state", "paused_until", "pause_note")
    return hashlib.sha256(repr(list(values)).encode()).hexdigest()[:32]


def jobs_import_plan(
    *, actor: Actor, text: str, fmt: str, delete_missing: bool = False
) -> ImportPlan:
    """What importing `text` would do, job by job. Nothing is kept."""
    require(actor, "edit")
    entries = read_entries(text, fmt)
    with transaction.atomic():
        fingerprint = _fingerprint()
        planned = _import(actor, entries, delete_missing)
        transaction.set_rollback(True)
    return ImportPlan(planned, fingerprint, delete_missing, applied=False)


@transaction.atomic
def jobs_import_apply(
    *,
    actor: Actor,
    text: str,
    fmt: str,
    delete_missing: bool = False,
    fingerprint: str | None = None,
) -> ImportPlan:
    """Import `text` in one transaction; with `fingerprint`, only if no job changed since."""
    require(actor, "edit")
    entries = read_entries(text, fmt)
    if fingerprint is not None and fingerprint != _fingerprint():
        raise ValidationError(
            _(
                "The jobs have changed since this plan was made. Check the new plan and "
                "confirm again."
            ),
            code="conflict",
        )
    planned = _import(actor, entries, delete_missing)
    return ImportPlan(planned, _fingerprint(), delete_missing, applied=True)


def _import(actor: Actor, entries: list[Entry], delete_missing: bool) -> list[PlannedJob]:
    existing = {job.name: job for job in Job.objects.prefetch_related("downstream_links")}
    names = {job.pk: name for name, job in existing.items()}
    before = {
        entry.name: (_by_name(job_definition(job), names), _state(job))
        for entry in entries
        if (job := existing.get(entry.name)) is not None
    }
    ordered, cyclic = _link_order(entries, _link_graph(entries, existing, names, delete_missing))
    saved = dict(existing)
    for entry in ordered:
        links = _link_ids(entry, saved)
        saved[entry.name] = _save_entry(actor, entry, saved.get(entry.name), links)
    # Jobs on a cycle cannot each come after the jobs they start: they are saved without links,
    # then linked, and the chains' own check refuses the link that closes the cycle.
    for entry in cyclic:
        no_links = {name: [] for name in CHAIN_FIELDS}
        saved[entry.name] = _save_entry(actor, entry, saved.get(entry.name), no_links)
    for entry in cyclic:
        with _refused_at(entry):
            links = _link_ids(entry, saved)
            saved[entry.name] = job_update(actor=actor, job=saved[entry.name], **links)
    names = {job.pk: name for name, job in saved.items()}
    planned = [
        _planned(entry, saved[entry.name], names, before.get(entry.name)) for entry in entries
    ]
    if delete_missing:
        in_file = {entry.name for entry in entries}
        for name, job in sorted(existing.items()):
            if name not in in_file:
                try:
                    job_delete(actor=actor, job=job)
                except PermissionDenied as exc:
                    raise JobFileError(str(exc), job=name, code="forbidden") from None
                planned.append(PlannedJob(name, "delete"))
    return planned


def _link_graph(
    entries: list[Entry], existing: dict[str, Job], names: dict[int, str], delete_missing: bool
) -> dict[str, set[str]]:
    """Which jobs each job starts once the file is imported, by name.

    Refuses a name that no job will have. With `delete_missing`, that is every name not in the
    file: the file would link to a job that it deletes.
    """
    in_file = {entry.name for entry in entries}
    graph: dict[str, set[str]] = {}
    if not delete_missing:
        # The jobs the file leaves alone keep their links, which may lead back into the file.
        for name, job in existing.items():
            if name not in in_file:
                graph[name] = {names[link.downstream_id] for link in job.downstream_links.all()}
    for entry in entries:
        graph[entry.name] = set()
        for field_name, targets in entry.links.items():
            for target in targets:
                if target not in in_file and (delete_missing or target not in existing):
                    raise JobFileError(
                        _unknown_link(target, delete_missing and target in existing),
                        line=entry.body.line_of(field_name),
                        job=entry.name,
                        field=field_name,
                    )
                graph[entry.name].add(target)
    return graph


def _unknown_link(target: str, deleted: bool) -> str:
    if deleted:
        return _(
            "“%(name)s” is not in the file, so deleting the jobs missing from it would delete "
            "it: add it to the file, or take it out of this list."
        ) % {"name": target}
    return _("No job is named “%(name)s”, in the file or on this server.") % {"name": target}


def _link_order(
    entries: list[Entry], graph: dict[str, set[str]]
) -> tuple[list[Entry], list[Entry]]:
    """The entries in an order that saves the jobs each one starts before it, and the rest.

    Saved in this order, a job's downstream jobs exist and already have the links they keep, so
    every job is saved once, with its links, and no half-imported state can look like a cycle.
    What is left is on a cycle, or leads to one. Unlinked jobs keep the order of the file.
    """
    position = {entry.name: index for index, entry in enumerate(entries)}
    waiting = {name: len(targets) for name, targets in graph.items()}
    starters: dict[str, list[str]] = {}
    for name, targets in graph.items():
        for target in targets:
            starters.setdefault(target, []).append(name)
    # Jobs outside the file are in the graph only to pass their links on: -1 sorts them first.
    ready = [(position.get(name, -1), name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index, name = heapq.heappop(ready)
        if index >= 0:
            order.append(index)
        for upstream in starters.get(name, ()):
            waiting[upstream] -= 1
            if waiting[upstream] == 0:
                heapq.heappush(ready, (position.get(upstream, -1), upstream))
    left = sorted(set(range(len(entries))) - set(order))
    return [entries[i] for i in order], [entries[i] for i in left]


def _link_ids(entry: Entry, saved: dict[str, Job]) -> dict[str, list[int]]:
    return {name: [saved[target].pk for target in targets] for name, targets in entry.links.items()}


@contextmanager
def _refused_at(entry: Entry) -> Iterator[None]:
    """The services' refusals as a refused file, at the entry's line and field."""
    try:
        yield
    except ValidationError as exc:
        raise _entry_error(entry, exc) from None
    except PermissionDenied as exc:
        raise JobFileError(str(exc), line=entry.line, job=entry.name, code="forbidden") from None


def _save_entry(actor: Actor, entry: Entry, job: Job | None, links: dict[str, list[int]]) -> Job:
    definition = _definition(entry, job)
    with _refused_at(entry):
        if job is None:
            job = job_create(actor=actor, name=entry.name, **definition, **links)
        else:
            job = job_update(actor=actor, job=job, **definition, **links)
        return _apply_state(actor, job, entry.values)


def _planned(
    entry: Entry,
    job: Job,
    names: dict[int, str],
    before: tuple[dict[str, Any], dict[str, Any]] | None,
) -> PlannedJob:
    definition_before, state_before = before or ({}, NEW_JOB_STATE)
    changes = diff(definition_before, _by_name(job_definition(job), names))
    state_after = _state(job)
    for name in STATE_FIELDS:
        if state_before[name] != state_after[name]:
            changes[name] = [state_before[name], state_after[name]]
    if before is None:
        action = "create"
    else:
        action = "change" if changes else "unchanged"
    return PlannedJob(entry.name, action, dict(sorted(changes.items())), entry.line)


def _state(job: Job) -> dict[str, Any]:
    until = job.paused_until.isoformat() if job.paused_until else None
    return {"state": job.state, "paused_until": until, "pause_note": job.pause_note}


def _apply_state(actor: Actor, job: Job, values: dict[str, Any]) -> Job:
    # Pausing is its own service (with its own checks and audit entry), not part of an edit.
    state = values.get("state", Job.State.ACTIVE)
    if state == Job.State.ACTIVE:
        return job_resume(actor=actor, job=job) if job.state == Job.State.PAUSED else job
    until, note = values.get("paused_until"), values.get("pause_note") or ""
    if (job.state, job.paused_until, job.pause_note) == (state, until, note):
        return job
    return job_pause(actor=actor, job=job, until=until, note=note)


def _definition(entry: Entry, job: Job | None) -> dict[str, Any]:
    """The service's keyword arguments: the file is the whole truth, left-out fields default."""
    definition: dict[str, Any] = {}
    for name in DEFINITION_FIELDS:
        if name == "name":
            continue
        if name in entry.values:
            definition[name] = entry.values[name]
            continue
        try:
            definition[name] = Job._meta.get_field(name).get_default()
        except FieldDoesNotExist:
            pass
    if definition.get("kind") == Job.Kind.HTTP and isinstance(definition.get("config"), dict):
        definition["config"] = _unmask_headers(entry, definition["config"], job)
    definition["calendars"] = entry.values.get("calendars", [])
    return definition


def _unmask_headers(entry: Entry, config: dict[str, Any], job: Job | None) -> dict[str, Any]:
    headers = config.get("headers")
    if not isinstance(headers, dict):
        return config
    result, unknown = unmask_headers(headers, job)
    if unknown:
        name = unknown[0]
        raise JobFileError(
            _(
                "“%(mask)s” stands for a secret already saved in a job of this name; "
                "give the real value here."
            )
            % {"mask": SECRET_MASK},
            line=_config_line(entry, "headers", name),
            job=entry.name,
            field=f"config.headers.{name}",
        )
    return {**config, "headers": result}


def _config_line(entry: Entry, *keys: Any) -> int:
    line = entry.body.line_of("config") if "config" in entry.body else entry.line
    node: Any = entry.body.get("config")
    for key in keys:
        if not isinstance(node, LineMap) or key not in node:
            break
        line = node.line_of(key)
        node = node[key]
    return line


def _entry_error(entry: Entry, exc: ValidationError) -> JobFileError:
    items = exc.error_dict.items() if hasattr(exc, "error_dict") else [(NON_FIELD_ERRORS, exc)]
    problems = []
    for key, errors in items:
        error_list = errors.error_list if isinstance(errors, ValidationError) else errors
        message = " ".join(m for error in error_list for m in error.messages)
        name = PAUSE_ERROR_FIELDS.get(key, key)
        if name == NON_FIELD_ERRORS:
            problems.append((entry.line, None, message))
        elif name in ENTRY_FIELDS or name == "name":
            line = entry.body.line_of(name) if name in entry.body else entry.line
            problems.append((line, None if name == "name" else name, message))
        else:
            # The kind's settings report their own keys (`url`, `task`): they live in `config`.
            problems.append((_config_line(entry, name), f"config.{name}", message))
    line, field_name, message = min(problems, key=lambda problem: problem[0])
    return JobFileError(message, line=line, job=entry.name, field=field_name)


__all__ = [
    "FILE_VERSION",
    "ImportPlan",
    "JobFileError",
    "PlannedJob",
    "jobs_export",
    "jobs_import_apply",
    "jobs_import_plan",
]

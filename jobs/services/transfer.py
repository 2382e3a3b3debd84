"""Job definitions to a file and back: export, plan an import, apply it (docs/import-export.md).

An import is all or nothing. Planning reads only: every job of the file goes through job_check,
the very checks job_create and job_update make (roles, validation, the secret placeholder), and
the links through the chains' rules by name, so every problem of the file is found at once and
nothing is written or locked. Applying plans again outside any transaction, then, in one short
transaction, refuses if the jobs changed since that plan (or since the plan the person
approved) and writes what the plan found in a few statements (jobs_create_checked,
jobs_update_checked), and the deletions through job_delete.

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
from jobs.audit import (
    SECRET_MASK,
    diff,
    masked_definition,
    unmask_headers,
    unmask_url,
    webhook_mask_message,
)
from jobs.job_files import LineMap
from jobs.models import Calendar, Job
from jobs.permissions import can, require
from jobs.services.calendars import calendars_named
from jobs.services.chains import CHAIN_FIELDS, MAX_LINKS_PER_EVENT
from jobs.services.job_batches import jobs_create_checked, jobs_update_checked
from jobs.services.jobs import (
    DEFINITION_FIELDS,
    Actor,
    _fields,
    job_check,
    job_definition,
    job_delete,
    job_pause_check,
    with_calendars,
)
from jobs.services.transfer_file import (
    ENTRY_FIELDS,
    FILE_VERSION,
    STATE_FIELDS,
    Entry,
    FileEntries,
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


def _fingerprint(*, lock: bool = False) -> str:
    """Changes whenever a job is added, removed, edited, paused or resumed."""
    rows = Job.objects.order_by("pk")
    if lock:
        rows = rows.select_for_update()
    values = rows.values_list("pk", "name", "version", "state", "paused_until", "pause_note")
    return hashlib.sha256(repr(list(values)).encode()).hexdigest()[:32]


def jobs_import_plan(
    *, actor: Actor, text: str, fmt: str, delete_missing: bool = False
) -> ImportPlan:
    """What importing `text` would do, job by job; every problem of the file at once.

    Reads only, outside any transaction: the scheduler and other writers never wait for a plan.
    """
    require(actor, "edit")
    return _plan(actor, read_entries(text, fmt), delete_missing).plan


def jobs_import_apply(
    *,
    actor: Actor,
    text: str,
    fmt: str,
    delete_missing: bool = False,
    fingerprint: str | None = None,
) -> ImportPlan:
    """Import `text` in one transaction; with `fingerprint`, only if no job changed since.

    The plan is made first, outside the transaction; the transaction only checks that no job
    changed meanwhile (so every check of the plan still holds) and writes what the plan found.
    """
    require(actor, "edit")
    planned = _plan(actor, read_entries(text, fmt), delete_missing)
    if fingerprint is not None and fingerprint != planned.plan.fingerprint:
        raise _conflict()
    with transaction.atomic():
        if _fingerprint(lock=True) != planned.plan.fingerprint:
            raise _conflict()
        _write(actor, planned)
        after = _fingerprint()
    plan = planned.plan
    return ImportPlan(plan.jobs, after, delete_missing, applied=True)


def _conflict() -> ValidationError:
    return ValidationError(
        _("The jobs have changed since this plan was made. Check the new plan and confirm again."),
        code="conflict",
    )


@dataclass(frozen=True)
class _Planned:
    plan: ImportPlan
    ordered: list[Entry]  # the entries to save, each after the jobs it starts
    existing: dict[str, Job]
    checked: dict[str, Job]  # each job as job_check passed it, unsaved
    calendars: dict[str, list[Calendar]]  # each job's calendars, as the file names them


def _plan(actor: Actor, read: FileEntries, delete_missing: bool) -> _Planned:
    # The fingerprint first: a job changed while the plan reads is then a conflict at apply.
    fingerprint = _fingerprint()
    existing = {
        job.name: job for job in Job.objects.prefetch_related("downstream_links", "calendars")
    }
    names = {job.pk: name for name, job in existing.items()}
    entries = read.entries
    # The entries the file could not even read are refused; the others are checked all the same,
    # so that every problem of the file is reported at once.
    problems = list(read.problems)
    _link_graph(read.partial, read.names, existing, names, delete_missing, problems)
    graph = _link_graph(entries, read.names, existing, names, delete_missing, problems)
    ordered, cyclic = _link_order(entries, graph)
    problems += _cycle_problems(cyclic, graph)
    planned: list[PlannedJob] = []
    checks: dict[str, Job] = {}
    chosen: dict[str, list[Calendar]] = {}
    for entry in entries:
        job = existing.get(entry.name)
        try:
            definition = _definition(entry, job)
            with _refused_at(entry):
                calendars = calendars_named(definition.pop("calendars"))
                # Names are matched, so no other job has this one.
                checked = job_check(
                    actor=actor, job=job, unique_name=False, name=entry.name, **definition
                )
                _check_state(entry.values)
        except JobFileError as exc:
            problems.append(exc)
            continue
        checks[entry.name], chosen[entry.name] = checked, calendars
        before = (_by_name(job_definition(job), names), _state(job)) if job else None
        planned.append(_planned(entry, checked, before, [c.name for c in calendars]))
    if delete_missing:
        for name, job in sorted(existing.items()):
            if name in read.names:
                continue
            if not can(actor, "edit", kind=job.kind):
                message = _("Only administrators may create or change shell jobs.")
                problems.append(JobFileError(message, job=name, code="forbidden"))
            planned.append(PlannedJob(name, "delete"))
    if problems:
        raise JobFileError.of(problems)
    plan = ImportPlan(planned, fingerprint, delete_missing, applied=False)
    return _Planned(plan, ordered, existing, checks, chosen)


def _write(actor: Actor, planned: _Planned) -> None:
    """What the plan found, in a few statements (its checks ran, and the fingerprint says
    nothing they read has changed): new jobs, then changed ones, then deletions."""
    actions = {job.name: job.action for job in planned.plan.jobs}
    saved = dict(planned.existing)
    creates = [entry for entry in planned.ordered if actions[entry.name] == "create"]
    # A link to another new job names it by its position until it has an id.
    position = {entry.name: -1 - index for index, entry in enumerate(creates)}
    new_jobs = jobs_create_checked(
        actor=actor,
        jobs=[
            (
                planned.checked[entry.name],
                _link_ids(entry, saved, position),
                _wanted_state(entry.values),
                planned.calendars[entry.name],
            )
            for entry in creates
        ],
    )
    saved.update((job.name, job) for job in new_jobs)
    jobs_update_checked(
        actor=actor,
        jobs=[
            (
                planned.existing[entry.name],
                planned.checked[entry.name],
                _link_ids(entry, saved),
                _wanted_state(entry.values),
                planned.calendars[entry.name],
            )
            for entry in planned.ordered
            if actions[entry.name] == "change"
        ],
    )
    for job in planned.plan.of("delete"):
        try:
            job_delete(actor=actor, job=planned.existing[job.name])
        except PermissionDenied as exc:
            raise JobFileError(str(exc), job=job.name, code="forbidden") from None


def _wanted_state(values: dict[str, Any]) -> tuple[str, Any, str]:
    if values.get("state", Job.State.ACTIVE) == Job.State.ACTIVE:
        return Job.State.ACTIVE, None, ""
    return Job.State.PAUSED, values.get("paused_until"), values.get("pause_note") or ""


def _check_state(values: dict[str, Any]) -> None:
    if values.get("state", Job.State.ACTIVE) != Job.State.ACTIVE:
        job_pause_check(until=values.get("paused_until"), note=values.get("pause_note") or "")


def _cycle_problems(cyclic: list[Entry], graph: dict[str, set[str]]) -> list[JobFileError]:
    """Each cycle among the jobs _link_order left over, once, at the last of its jobs in the
    file (the link that closes it); the message shows the path."""
    problems = []
    covered: set[str] = set()
    for entry in reversed(cyclic):
        if entry.name in covered:
            continue
        path = _path_to_cycle(entry.name, graph)
        if path[-1] != entry.name:
            continue  # it only leads to a cycle, which its own jobs report
        covered.update(path)
        field_name = next(
            (name for name, targets in entry.links.items() if path[1] in targets), "on_success"
        )
        message = _(
            "This would make a cycle: %(path)s. A job must not start itself, even through others."
        ) % {"path": " → ".join(path)}
        problems.append(
            JobFileError(
                message, line=entry.body.line_of(field_name), job=entry.name, field=field_name
            )
        )
    return problems


def _path_to_cycle(start: str, graph: dict[str, set[str]]) -> list[str]:
    path, seen = [start], {start: 0}
    while True:
        following = sorted(graph.get(path[-1], ()))
        if not following:
            return path  # not reached: every job left over starts another one left over
        step = next((name for name in following if name in seen), None)
        if step is not None:
            return [*path, step]
        step = following[0]
        seen[step] = len(path)
        path.append(step)


def _link_graph(
    entries: list[Entry],
    in_file: set[str],
    existing: dict[str, Job],
    names: dict[int, str],
    delete_missing: bool,
    problems: list[JobFileError],
) -> dict[str, set[str]]:
    """Which jobs each job starts once the file is imported, by name.

    Refuses (into `problems`) a name that no job will have. With `delete_missing`, that is every
    name not in the file: the file would link to a job that it deletes.
    """
    read_well = {entry.name for entry in entries}
    graph: dict[str, set[str]] = {}
    if not delete_missing:
        # The jobs the file leaves alone keep their links, which may lead back into the file.
        for name, job in existing.items():
            if name not in in_file:
                graph[name] = {names[link.downstream_id] for link in job.downstream_links.all()}
    for entry in entries:
        graph[entry.name] = set()
        for field_name, targets in entry.links.items():
            if len(targets) > MAX_LINKS_PER_EVENT:
                problems.append(
                    JobFileError(
                        _("A job can start at most %(n)d jobs per event.")
                        % {"n": MAX_LINKS_PER_EVENT},
                        line=entry.body.line_of(field_name),
                        job=entry.name,
                        field=field_name,
                    )
                )
            for target in targets:
                if target == entry.name:
                    problems.append(
                        JobFileError(
                            _("A job cannot start itself."),
                            line=entry.body.line_of(field_name),
                            job=entry.name,
                            field=field_name,
                        )
                    )
                    continue
                if target not in in_file and (delete_missing or target not in existing):
                    problems.append(
                        JobFileError(
                            _unknown_link(target, delete_missing and target in existing),
                            line=entry.body.line_of(field_name),
                            job=entry.name,
                            field=field_name,
                        )
                    )
                    continue
                if target in read_well or target not in in_file:
                    # A job the file could not read is refused already: no link leads to it.
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


def _link_ids(
    entry: Entry, saved: dict[str, Job], position: dict[str, int] | None = None
) -> dict[str, list[int]]:
    position = position or {}
    return {
        name: [saved[t].pk if t in saved else position[t] for t in targets]
        for name, targets in entry.links.items()
    }


@contextmanager
def _refused_at(entry: Entry) -> Iterator[None]:
    """The services' refusals as a refused file, at the entry's line and field."""
    try:
        yield
    except ValidationError as exc:
        raise _entry_error(entry, exc) from None
    except PermissionDenied as exc:
        raise JobFileError(str(exc), line=entry.line, job=entry.name, code="forbidden") from None


def _planned(
    entry: Entry,
    job: Job,
    before: tuple[dict[str, Any], dict[str, Any]] | None,
    calendars: list[str],
) -> PlannedJob:
    """What saving `entry` changes, from the checked, unsaved `job` it would become."""
    definition_before, state_before = before or ({}, NEW_JOB_STATE)
    after = with_calendars(_fields(job), calendars)
    after.update({name: targets for name, targets in entry.links.items() if targets})
    changes = diff(definition_before, after)
    state_after = _state_of(entry.values)
    for name in STATE_FIELDS:
        if state_before[name] != state_after[name]:
            changes[name] = [state_before[name], state_after[name]]
    if before is None:
        action = "create"
    else:
        action = "change" if changes else "unchanged"
    return PlannedJob(entry.name, action, dict(sorted(changes.items())), entry.line)


def _state_of(values: dict[str, Any]) -> dict[str, Any]:
    """The state an entry leaves its job in (resuming clears the pause's end and note)."""
    if values.get("state", Job.State.ACTIVE) == Job.State.ACTIVE:
        return dict(NEW_JOB_STATE)
    until = values.get("paused_until")
    return {
        "state": values["state"],
        "paused_until": until.isoformat() if until else None,
        "pause_note": values.get("pause_note") or "",
    }


def _state(job: Job) -> dict[str, Any]:
    until = job.paused_until.isoformat() if job.paused_until else None
    return {"state": job.state, "paused_until": until, "pause_note": job.pause_note}


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
    stored_url = job.notify_webhook_url if job is not None else ""
    definition["notify_webhook_url"], unknown = unmask_url(
        definition.get("notify_webhook_url"), stored_url
    )
    if unknown:
        raise JobFileError(
            webhook_mask_message(),
            line=entry.body.line_of("notify_webhook_url"),
            job=entry.name,
            field="notify_webhook_url",
        )
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
    """Every field the services refused, each at its line."""
    items = exc.error_dict.items() if hasattr(exc, "error_dict") else [(NON_FIELD_ERRORS, exc)]
    problems = []
    for key, errors in items:
        error_list = errors.error_list if isinstance(errors, ValidationError) else errors
        message = " ".join(m for error in error_list for m in error.messages)
        name = PAUSE_ERROR_FIELDS.get(key, key)
        if name == NON_FIELD_ERRORS:
            line, field_name = entry.line, None
        elif name in ENTRY_FIELDS or name == "name":
            line = entry.body.line_of(name) if name in entry.body else entry.line
            field_name = None if name == "name" else name
        else:
            # The kind's settings report their own keys (`url`, `task`): they live in `config`.
            line, field_name = _config_line(entry, name), f"config.{name}"
        problems.append(JobFileError(message, line=line, job=entry.name, field=field_name))
    return JobFileError.of(problems)


__all__ = [
    "FILE_VERSION",
    "ImportPlan",
    "JobFileError",
    "PlannedJob",
    "jobs_export",
    "jobs_import_apply",
    "jobs_import_plan",
]

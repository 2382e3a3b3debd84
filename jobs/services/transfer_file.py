"""An import file read into entries: one per job, each field checked for its type and line.

What the services check (a schedule that parses, a task that exists, a cycle) is theirs; this is
only the file's frame (docs/import-export.md): the version, job entries by name, known fields of
the right types, links by job name.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils.translation import gettext as _

from jobs import job_files
from jobs.job_files import FileSyntaxError, LineMap
from jobs.models import Job
from jobs.services.chains import CHAIN_FIELDS
from jobs.services.jobs import DEFINITION_FIELDS

FILE_VERSION = 1
# Far more than 500 jobs take (an exported job is under a kilobyte), and little enough that
# reading a file refused for its size of jobs costs a web worker only a few seconds. (The
# confirm step sends the file back as a form field, which Django caps at 2.5 MB.)
MAX_FILE_BYTES = 1_000_000
# Planned and applied within a few seconds (bench/imports.py measures it): a request stays well
# inside the web server's timeout and the write transaction stays short.
MAX_JOBS_PER_FILE = 500
STATE_FIELDS = ("state", "paused_until", "pause_note")
# What one job's entry may hold: its definition (named by its key in the file), the jobs it
# starts (by name) and its state.
ENTRY_FIELDS = (
    tuple(name for name in DEFINITION_FIELDS if name != "name")
    + tuple(CHAIN_FIELDS)
    + ("calendars",)
    + STATE_FIELDS
)
REQUIRED_FIELDS = ("kind", "schedule")
INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges


class JobFileError(ValidationError):
    """A file refused, with where: the line, the job (its name) and the field, when known."""

    def __init__(
        self,
        detail: str,
        *,
        line: int | None = None,
        job: str | None = None,
        field: str | None = None,
        code: str = "invalid_file",
    ) -> None:
        inner = ", ".join(
            part
            for part in (_("job “%(name)s”") % {"name": job} if job is not None else "", field)
            if part
        )
        if line is not None:
            where = _("Line %(line)d") % {"line": line} + (f" ({inner})" if inner else "")
        else:
            where = inner
        super().__init__(f"{where}: {detail}" if where else detail, code=code)
        self.detail = detail
        self.line = line
        self.job = job
        self.field = field
        # Every problem found in the file, this one first (see `of`).
        self.problems: list[JobFileError] = [self]
        # What could be read of a job refused for the problems of some of its fields.
        self.entry: Entry | None = None

    @classmethod
    def of(cls, problems: list["JobFileError"]) -> "JobFileError":
        """One refusal for all of `problems`, in the order of their lines, the first in front."""
        found = [problem for error in problems for problem in error.problems]
        found.sort(key=lambda problem: (problem.line is None, problem.line or 0))
        first = found[0]
        first.problems = found
        return first

    @property
    def path(self) -> str:
        """Where the problem is, as a key: `jobs.<name>.<field>`, `version`, or `file`."""
        if self.job is not None:
            return ".".join(part for part in ("jobs", self.job, self.field) if part)
        return self.field or "file"


@dataclass(frozen=True)
class Entry:
    name: str
    line: int
    body: LineMap
    values: dict[str, Any]

    @property
    def links(self) -> dict[str, list[str]]:
        """The names of the jobs it starts, per chain field; a field left out starts none."""
        return {name: self.values.get(name, []) for name in CHAIN_FIELDS}


# --- reading the file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntries:
    """The entries read well, and the problems of the rest (of the same file)."""

    entries: list[Entry]
    problems: list[JobFileError]
    names: set[str]  # of every job in the file, read well or not
    # Entries with problems of their own whose links can still be checked.
    partial: list[Entry]


def read_entries(text: str, fmt: str) -> FileEntries:
    """The file's entries; JobFileError if the file as a whole cannot be read."""
    if fmt not in job_files.FORMATS:
        raise JobFileError(_("Choose json or yaml."), field="format")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise JobFileError(
            _("The file is larger than %(n)d bytes; import it in parts.") % {"n": MAX_FILE_BYTES}
        )
    if not text.strip():
        raise JobFileError(_("The file is empty."))
    try:
        data = job_files.read(text, fmt)
    except FileSyntaxError as exc:
        raise JobFileError(exc.message, line=exc.line, **_where(exc.field)) from None
    if not isinstance(data, LineMap):
        raise JobFileError(
            _("The file must be a mapping with “version” and “jobs”."), line=_first_line(text)
        )
    problems = _collect(_refuse_repeats, data, None, deep=False)
    for key in data:
        if key not in ("version", "jobs"):
            problems.append(
                JobFileError(
                    _("Unknown key “%(key)s”: a file has only “version” and “jobs”.")
                    % {"key": key},
                    line=data.line_of(key),
                    field=str(key),
                )
            )
    problems += _collect(_check_version, data)
    jobs = data.get("jobs")
    if not isinstance(jobs, LineMap):
        problems.append(
            JobFileError(
                _("“jobs” must be a mapping of job names to their definitions.")
                if "jobs" in data
                else _("The file has no “jobs”."),
                line=data.line_of("jobs"),
                field="jobs",
            )
        )
        raise JobFileError.of(problems)
    if len(jobs) > MAX_JOBS_PER_FILE:
        problems.append(
            JobFileError(
                _("A file may hold at most %(n)d jobs; this one has %(count)d: import it in parts.")
                % {"n": MAX_JOBS_PER_FILE, "count": len(jobs)},
                line=data.line_of("jobs"),
                field="jobs",
            )
        )
        raise JobFileError.of(problems)
    for name, line in jobs.repeated:
        problems.append(
            JobFileError(
                _("This job is in the file twice (first on line %(first)d).")
                % {"first": jobs.line_of(name)},
                line=line,
                job=str(name),
            )
        )
    if problems:
        raise JobFileError.of(problems)
    entries, partial = [], []
    for name, body in jobs.items():
        try:
            entries.append(_read_entry(name, body, jobs.line_of(name)))
        except JobFileError as exc:
            problems.append(exc)
            if exc.entry is not None:
                partial.append(exc.entry)
    return FileEntries(entries, problems, {str(name) for name in jobs}, partial)


def _collect(check: Callable[..., None], *args: Any, **kwargs: Any) -> list[JobFileError]:
    try:
        check(*args, **kwargs)
    except JobFileError as exc:
        return exc.problems
    return []


def _where(path: str | None) -> dict[str, str | None]:
    """A value's place in the file (`jobs.<name>.<field>…`) as the job and field it is in."""
    if not path:
        return {}
    parts = path.split(".", 2)
    if parts[0] == "jobs" and len(parts) > 1:
        return {"job": parts[1], "field": parts[2] if len(parts) > 2 else None}
    return {"field": path}


def _first_line(text: str) -> int:
    stripped = text.lstrip()
    return text[: len(text) - len(stripped)].count("\n") + 1


def _check_version(data: LineMap) -> None:
    if "version" not in data:
        raise JobFileError(
            _("The file has no “version”; this server reads version %(version)d.")
            % {"version": FILE_VERSION},
            line=data.line,
            field="version",
        )
    version = data["version"]
    if type(version) is not int or version != FILE_VERSION:
        raise JobFileError(
            _("Version %(got)s is not one this server reads: it reads version %(version)d.")
            % {"got": repr(version), "version": FILE_VERSION},
            line=data.line_of("version"),
            field="version",
        )


def _refuse_repeats(
    mapping: LineMap, job: str | None, prefix: str = "", *, deep: bool = True
) -> None:
    problems = [
        JobFileError(
            _("“%(key)s” is given twice (first on line %(first)d).")
            % {"key": key, "first": mapping.line_of(key)},
            line=line,
            job=job,
            field=f"{prefix}{key}",
        )
        for key, line in mapping.repeated
    ]
    for key, value in mapping.items() if deep else ():
        if isinstance(value, LineMap):
            problems += _collect(_refuse_repeats, value, job, f"{prefix}{key}.")
    if problems:
        raise JobFileError.of(problems)


def _read_entry(name: Any, body: Any, line: int) -> Entry:
    """The entry, or a JobFileError with every problem it has."""
    if not isinstance(name, str) or not name.strip():
        raise JobFileError(_("A job's name must be text."), line=line, job=str(name))
    if not isinstance(body, LineMap):
        raise JobFileError(
            _("A job must be a mapping of its fields, e.g. kind: task."), line=line, job=name
        )
    problems = _collect(_refuse_repeats, body, name)
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key not in ENTRY_FIELDS:
            problems.append(
                JobFileError(
                    _("Unknown field. A job has: %(fields)s.")
                    % {"fields": ", ".join(ENTRY_FIELDS)},
                    line=body.line_of(key),
                    job=name,
                    field=str(key),
                )
            )
            continue
        try:
            values[key] = _typed(key, value)
        except ValueError as exc:
            problems.append(JobFileError(str(exc), line=body.line_of(key), job=name, field=key))
    for required in REQUIRED_FIELDS:
        if required not in body:
            problems.append(
                JobFileError(_("This field is required."), line=line, job=name, field=required)
            )
    entry = Entry(name, line, body, values)
    if problems:
        error = JobFileError.of(problems)
        error.entry = entry
        raise error
    return entry


def _typed(name: str, value: Any) -> Any:
    """`value` as the model field `name` takes it, or ValueError saying what was expected.

    Types only, from the model's own fields (so fields added to the definition later are checked
    too); what a value means (a schedule, a task, a URL) is the services' to check.
    """
    if name in CHAIN_FIELDS:
        return _job_names(value)
    if name == "calendars":
        # Like the jobs it starts, a job's calendars go by name from one database to another.
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(_("Expected a list of calendar names."))
        return sorted(set(value))
    try:
        model_field = Job._meta.get_field(name)
    except FieldDoesNotExist:
        return _plain(value)
    if value is None:
        if model_field.null:
            return None
        raise ValueError(_("This field may not be null."))
    if isinstance(model_field, models.DateTimeField):
        return _instant(value)
    if isinstance(model_field, models.BooleanField):
        if not isinstance(value, bool):
            raise ValueError(_("Expected true or false."))
    elif isinstance(model_field, models.IntegerField):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(_("Expected a whole number."))
        # The narrowest column of any supported database (SQLite would store more).
        low, high = INTEGER_RANGES.get(model_field.get_internal_type(), (None, None))
        if low is not None and not low <= value <= high:
            raise ValueError(
                _("Expected a number from %(min)d to %(max)d.") % {"min": low, "max": high}
            )
    elif isinstance(model_field, models.CharField | models.TextField):
        if not isinstance(value, str):
            raise ValueError(_("Expected text."))
    elif isinstance(model_field, models.JSONField) and name in ("config", "labels"):
        if not isinstance(value, dict):
            raise ValueError(_("Expected a mapping."))
    if model_field.choices and value not in {choice for choice, _label in model_field.choices}:
        raise ValueError(
            _("“%(value)s” is not one of: %(choices)s.")
            % {"value": value, "choices": ", ".join(str(c) for c, _label in model_field.choices)}
        )
    return _plain(value)


def _job_names(value: Any) -> list[str]:
    if value is None:
        raise ValueError(_("This field may not be null."))
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() for item in value
    ):
        raise ValueError(_("Expected a list of job names."))
    return sorted(set(value))


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(
            _("Expected an ISO-8601 date-time with an offset, e.g. %(example)s.")
            % {"example": "2030-01-31T09:00:00+01:00"}
        )
    # Stored in UTC: a time written with another offset is the same instant, not a change.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(_("This date-time is out of range.")) from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value

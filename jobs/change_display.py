"""Changes to a job (versions, the audit log, imports) in the words of the job form.

A change is stored as {field: [before, after]} with raw values ("overlap": ["skip", "queue"]);
here each becomes a row with the form's label and the values as the form shows them (the
choice's label, a time in the viewer's zone, job names for chains), so nobody reads an enum code.
Rows whose two sides read the same ("—" for both None and "") are left out: they are noise.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from jobs.models import Job, JobLink, Notification

EMPTY = "—"

LABELS: dict[str, Any] = {
    "name": _("Name"),
    "description": _("Description"),
    "kind": _("Kind"),
    "config": _("Settings"),
    "schedule": _("Schedule"),
    "timezone": _("Time zone"),
    "start_at": _("Start"),
    "end_at": _("End"),
    "timeout_seconds": _("Timeout"),
    "max_retries": _("Retries"),
    "retry_backoff": _("Retry backoff"),
    "retry_backoff_seconds": _("Retry delay"),
    "overlap": _("When the previous run is still going"),
    "max_concurrent": _("Concurrent runs allowed"),
    "misfire": _("Runs missed while the scheduler was down"),
    "misfire_limit": _("Catch-up limit"),
    "priority": _("Priority"),
    "labels": _("Labels"),
    "on_success": JobLink.Event.SUCCESS.label,
    "on_failure": JobLink.Event.FAILURE.label,
    "on_finish": JobLink.Event.FINISH.label,
    "notify_on": _("Notify on"),
    "notify_emails": _("E-mail addresses"),
    "notify_webhook_url": _("Webhook URL"),
    "notify_window_seconds": _("Notification window"),
    "keep_runs_days": _("Keep runs for (days)"),
    "keep_runs_count": _("Always keep the newest (runs)"),
    "config.task": _("Task"),
    "config.params": _("Parameters"),
    "config.method": _("Method"),
    "config.url": _("URL"),
    "config.headers": _("Headers"),
    "config.body": _("Body"),
    "config.expect_status": _("Expected statuses"),
    "config.command": _("Command"),
    # What pauses, runs and re-runs record.
    "paused_until": _("Paused until"),
    "note": _("Note"),
    "reason": _("Why"),
    "run": _("Run"),
    "stands_for": _("Runs the work of"),
    "failed_runs_rerun": _("Failed runs run again"),
    "failed_slots_rerun": _("Failed runs run again"),
    "period": _("Period"),
    "jobs": _("Jobs"),
}
CHOICES: dict[str, Mapping[str, Any]] = {
    "kind": dict(Job.Kind.choices),
    "overlap": dict(Job.Overlap.choices),
    "misfire": dict(Job.Misfire.choices),
    "retry_backoff": dict(Job.Backoff.choices),
    "state": dict(Job.State.choices),
}
SECONDS = {"timeout_seconds", "retry_backoff_seconds", "notify_window_seconds"}
INSTANTS = {"start_at", "end_at", "paused_until"}
CHAINS = {"on_success", "on_failure", "on_finish"}
RUN_IDS = {"run", "stands_for"}
ALWAYS_SHOWN = {"name", "kind", "schedule", "timezone"}
DEFAULTS = {
    f.name: f.get_default() for f in Job._meta.concrete_fields if f.has_default() and f.editable
}
# Values written by the system in English, shown in the reader's language.
SYSTEM_WORDS = {"pause ended": _("the pause ended")}


@dataclass(frozen=True)
class ChangeRow:
    field: str  # the stored name, for a title attribute
    label: str
    before: str
    after: str


def label_of(field: str) -> str:
    if field in LABELS:
        return str(LABELS[field])
    base, _dot, key = field.partition(".")
    if base == "config" and key:
        return f"{LABELS['config']}: {key}"
    return field.replace("_", " ").capitalize()


def _ordered(changes: Mapping[str, Any]) -> list[tuple[str, Any]]:
    # In the order of the job form, not of the alphabet of stored names.
    order = {name: i for i, name in enumerate(LABELS)}
    last = len(order)

    def key(item: tuple[str, Any]) -> tuple[int, int, str]:
        # A setting of the kind ("config.url") sits where "config" does.
        base = item[0].partition(".")[0]
        return (order.get(base, last), order.get(item[0], last) if base != item[0] else -1, item[0])

    return sorted(changes.items(), key=key)


def change_rows(
    changes: Mapping[str, Any], job_names: Mapping[int, str] | None = None
) -> list[ChangeRow]:
    rows = []
    for field, change in _ordered(changes):
        before, after = (change + [None, None])[:2] if isinstance(change, list) else (None, change)
        shown_before = display(field, before, job_names)
        shown_after = display(field, after, job_names)
        if shown_before != shown_after:
            rows.append(ChangeRow(field, label_of(field), shown_before, shown_after))
    return rows


def summary_rows(
    changes: Mapping[str, Any], side: int, job_names: Mapping[int, str] | None = None
) -> list[tuple[str, str]]:
    """A whole definition from a creation (side 1) or deletion (side 0) entry, compactly: what
    says what the job is, and every setting that is not the default, as (label, value)."""
    values = {}
    for field, change in changes.items():
        value = change[side] if isinstance(change, list) and len(change) == 2 else change
        if field == "config" and isinstance(value, dict):
            values.update({f"config.{key}": item for key, item in value.items()})
        else:
            values[field] = value
    rows = []
    for field, value in _ordered(values):
        if field not in ALWAYS_SHOWN and field in DEFAULTS and value == DEFAULTS[field]:
            continue
        shown = display(field, value, job_names)
        if shown != EMPTY:
            rows.append((label_of(field), shown))
    return rows


def display(field: str, value: Any, job_names: Mapping[int, str] | None = None) -> str:
    """One stored value as the form shows it."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if field in CHOICES and isinstance(value, str):
        return str(CHOICES[field].get(value, value))
    if field == "notify_on" and isinstance(value, list):
        events = dict(Notification.Event.choices)
        return ", ".join(str(events.get(v, v)) for v in value)
    if field in CHAINS and isinstance(value, list):
        names = job_names or {}
        return ", ".join(names.get(v, f"#{v}") if isinstance(v, int) else str(v) for v in value)
    if field in SECONDS and isinstance(value, int):
        return _seconds(value)
    if field in INSTANTS and isinstance(value, str):
        return _instant(value)
    if field == "period" and isinstance(value, list) and len(value) == 2:
        return f"{_instant(str(value[0]))} – {_instant(str(value[1]))}"
    if field in RUN_IDS and isinstance(value, int):
        return f"#{value}"
    if field in SYSTEM_WORDS or (isinstance(value, str) and value in SYSTEM_WORDS):
        return str(SYSTEM_WORDS.get(value, value))
    if field == "config.headers" and isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    return plain(value)


def plain(value: Any) -> str:
    """Any other value as short readable text."""
    from django.utils.translation import gettext

    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or EMPTY
    return str(value)


def chain_job_ids(changes: Iterable[Mapping[str, Any]]) -> set[int]:
    """The jobs named by the chain fields of these changes, to look their names up at once."""
    ids: set[int] = set()
    for change in changes:
        for field in CHAINS & change.keys():
            for side in change[field] if isinstance(change[field], list) else []:
                if isinstance(side, list):
                    ids.update(v for v in side if isinstance(v, int))
    return ids


def job_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(Job.objects.filter(pk__in=ids).values_list("pk", "name"))


def _seconds(value: int) -> str:
    if value and value % 3600 == 0:
        n = value // 3600
        return ngettext("%(n)s hour", "%(n)s hours", n) % {"n": n}
    if value and value % 60 == 0:
        n = value // 60
        return ngettext("%(n)s minute", "%(n)s minutes", n) % {"n": n}
    return ngettext("%(n)s second", "%(n)s seconds", value) % {"n": value}


def _instant(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.get_current_timezone())
    local = timezone.localtime(parsed)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"

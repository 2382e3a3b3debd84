"""Writes to calendars: create, change, delete; and which calendars a job has.

A change reaches the scheduler like a job edit: database triggers on the calendar tables bump the
change marker (migration 0012) and the scheduler rebuilds the triggers of the jobs whose calendars
changed on its next poll.
"""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from jobs import audit
from jobs.models import AuditEvent, Calendar, Job
from jobs.permissions import require
from jobs.services.jobs import Actor, bump_change_marker
from jobs.validators import validate_calendar_name

CALENDAR_FIELDS = (
    "name",
    "description",
    "timezone",
    "dates",
    "holiday_country",
    "holiday_subdivision",
    "windows",
)


def calendar_definition(calendar: Calendar) -> dict[str, Any]:
    return {name: getattr(calendar, name) for name in CALENDAR_FIELDS}


def _clean(calendar: Calendar) -> None:
    errors: dict[str, list[ValidationError]] = {}
    try:
        validate_calendar_name(calendar.name)
    except ValidationError as exc:
        errors["name"] = exc.error_list
    calendar.holiday_country = calendar.holiday_country.strip().upper()
    calendar.holiday_subdivision = calendar.holiday_subdivision.strip().upper()
    try:
        calendar.full_clean()
    except ValidationError as exc:
        for name, found in exc.error_dict.items():
            errors.setdefault(name, []).extend(found)
    if errors:
        raise ValidationError(errors)


def _audit(actor: Actor, action: str, calendar: Calendar, changes: dict[str, Any]) -> None:
    audit.record(
        actor=actor,
        action=action,
        object_type="calendar",
        object_id=calendar.pk,
        object_repr=calendar.name,
        changes=changes,
    )


@transaction.atomic
def calendar_create(*, actor: Actor, name: str, **fields: Any) -> Calendar:
    require(actor, "edit")
    unknown = set(fields) - set(CALENDAR_FIELDS)
    if unknown:
        raise TypeError(f"calendar_create() got unknown fields: {', '.join(sorted(unknown))}")
    calendar = Calendar(name=name, **fields)
    _clean(calendar)
    calendar.save()
    _audit(actor, AuditEvent.Action.CREATE, calendar, audit.diff({}, calendar_definition(calendar)))
    return calendar


@transaction.atomic
def calendar_update(*, actor: Actor, calendar: Calendar, **changes: Any) -> Calendar:
    require(actor, "edit")
    unknown = set(changes) - set(CALENDAR_FIELDS)
    if unknown:
        raise TypeError(f"calendar_update() got unknown fields: {', '.join(sorted(unknown))}")
    calendar = Calendar.objects.select_for_update().get(pk=calendar.pk)
    before = calendar_definition(calendar)
    for name, value in changes.items():
        setattr(calendar, name, value)
    _clean(calendar)
    after = calendar_definition(calendar)
    if after == before:
        return calendar
    calendar.version += 1
    calendar.save()
    # The triggers bump the marker too; this also wakes a listening PostgreSQL scheduler.
    bump_change_marker()
    _audit(actor, AuditEvent.Action.UPDATE, calendar, audit.diff(before, after))
    return calendar


@transaction.atomic
def calendar_delete(*, actor: Actor, calendar: Calendar) -> None:
    require(actor, "edit")
    _audit(actor, AuditEvent.Action.DELETE, calendar, audit.diff(calendar_definition(calendar), {}))
    Calendar.objects.filter(pk=calendar.pk).delete()
    bump_change_marker()


def calendars_named(names: Iterable[Any]) -> list[Calendar]:
    """The calendars with these names, in that order; a ValidationError names those missing."""
    wanted = list(dict.fromkeys(names))
    if not all(isinstance(name, str) for name in wanted):
        raise ValidationError({"calendars": _("List the calendars by name.")}, code="invalid")
    found = Calendar.objects.in_bulk(wanted, field_name="name")
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValidationError(
            {
                "calendars": _("There is no calendar named %(names)s.")
                % {"names": ", ".join(f"“{name}”" for name in missing)}
            },
            code="unknown_calendar",
        )
    return [found[name] for name in wanted]


def job_calendar_names(job: Job) -> list[str]:
    return sorted(calendar.name for calendar in job.calendars.all()) if job.pk else []

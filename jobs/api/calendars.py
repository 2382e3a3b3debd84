"""Calendars in the API: list, create, read, change, delete; and a job's real next runs.

Shapes are checked here; what the values mean (a date, a window, a country's holidays) is
checked by the model inside the services, as for the calendar pages.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from jobs.api.endpoint import api_view, isoformat, object_id, query_instant, query_int, read_json
from jobs.api.errors import from_validation_error, invalid
from jobs.api.fields import Field
from jobs.api.serializers import check_value
from jobs.calendars import holiday_language
from jobs.models import Calendar, Job
from jobs.selectors import job_next_runs
from jobs.services.calendars import calendar_create, calendar_delete, calendar_update
from jobs.validators import MAX_CALENDAR_DATES, MAX_CALENDAR_WINDOWS

CALENDAR_FIELDS: dict[str, Field] = {
    "name": Field("string", max_length=100, required=True, help="Unique; jobs list it by name."),
    "description": Field("string", max_length=10_000),
    "timezone": Field("string", max_length=64, help="Its dates and windows are read in it."),
    "dates": Field("list", max_length=MAX_CALENDAR_DATES, help="ISO dates excluded whole."),
    "holidays": Field(
        "object",
        nullable=True,
        help='Public holidays of the `holidays` library: {"country": "CN", "subdivision": null}.',
    ),
    "windows": Field(
        "windows",
        help='Recurring {"days": [1-7], "start": "01:00", "end": "03:00"} (an end not after the '
        'start is on the next day) or one-off {"from": "2026-12-24", "to": "2027-01-02"}.',
    ),
}
MAX_NEXT_RUNS = 100
NEXT_HOLIDAYS = 10


def calendar_json(calendar: Calendar) -> dict[str, Any]:
    holidays = None
    if calendar.holiday_country:
        holidays = {
            "country": calendar.holiday_country,
            "subdivision": calendar.holiday_subdivision or None,
        }
    today = timezone.now().astimezone(calendar.rule().tz).date()
    return {
        "id": calendar.pk,
        "name": calendar.name,
        "description": calendar.description,
        "timezone": calendar.timezone,
        "dates": calendar.dates,
        "holidays": holidays,
        "windows": calendar.windows,
        "next_holidays": [
            {"date": day.isoformat(), "name": name}
            for day, name in calendar.rule().next_holidays(
                today, NEXT_HOLIDAYS, holiday_language(get_language() or "en")
            )
        ],
        "jobs": sorted(calendar.jobs.values_list("name", flat=True)),
        "version": calendar.version,
        "created_at": isoformat(calendar.created_at),
        "updated_at": isoformat(calendar.updated_at),
    }


def parse_calendar(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Service keyword arguments from a calendar's JSON."""
    read_only = ("id", "next_holidays", "jobs", "version", "created_at", "updated_at")
    errors = {
        name: _("Unknown field.")
        for name in data
        if name not in CALENDAR_FIELDS and name not in read_only
    }
    values: dict[str, Any] = {}
    for name, field in CALENDAR_FIELDS.items():
        if name not in data:
            if not partial and field.required:
                errors[name] = _("This field is required.")
            continue
        value = data[name]
        if field.type == "windows":
            if not isinstance(value, list) or len(value) > MAX_CALENDAR_WINDOWS:
                errors[name] = _("Expected a list of at most %(n)d windows.") % {
                    "n": MAX_CALENDAR_WINDOWS
                }
            else:
                values[name] = value
            continue
        try:
            values[name] = check_value(field, value)
        except ValueError as exc:
            errors[name] = str(exc)
    if "holidays" in values:
        holidays = values.pop("holidays") or {}
        country, subdivision = holidays.get("country"), holidays.get("subdivision")
        unknown = set(holidays) - {"country", "subdivision"}
        if unknown or not isinstance(country or "", str) or not isinstance(subdivision or "", str):
            errors["holidays"] = _(
                'Expected {"country": "CN", "subdivision": null}: text or null for each.'
            )
        else:
            values["holiday_country"] = (country or "")[:3]
            values["holiday_subdivision"] = (subdivision or "")[:10]
            if len(country or "") > 3 or len(subdivision or "") > 10:
                errors["holidays"] = _("That is not a country or subdivision code.")
    if errors:
        raise invalid(errors)
    return values


RENAME = {"holiday_country": "holidays", "holiday_subdivision": "holidays"}


@api_view("GET", "POST")
def calendars(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        values = parse_calendar(read_json(request), partial=False)
        try:
            calendar = calendar_create(actor=request.user, **values)
        except ValidationError as exc:
            raise from_validation_error(exc, RENAME) from None
        return JsonResponse(calendar_json(calendar), status=201)
    results = [calendar_json(c) for c in Calendar.objects.prefetch_related("jobs")]
    return JsonResponse({"results": results, "count": len(results)})


@api_view("GET", "PATCH", "DELETE")
def calendar_item(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = Calendar.objects.get(pk=object_id(calendar_id))
    if request.method == "DELETE":
        calendar_delete(actor=request.user, calendar=calendar)
        return HttpResponse(status=204)
    if request.method == "PATCH":
        values = parse_calendar(read_json(request), partial=True)
        try:
            calendar = calendar_update(actor=request.user, calendar=calendar, **values)
        except ValidationError as exc:
            raise from_validation_error(exc, RENAME) from None
    return JsonResponse(calendar_json(calendar))


@api_view("GET")
def job_next_runs_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = Job.objects.get(pk=object_id(job_id))
    count = query_int(request, "count", 10, 1, MAX_NEXT_RUNS)
    after = query_instant(request, "after") or timezone.now()
    runs = job_next_runs(job, count, after)
    return JsonResponse(
        {"job": job.pk, "after": isoformat(after), "next_runs": [isoformat(t) for t in runs]}
    )

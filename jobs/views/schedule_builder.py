"""The schedule builder beside the job form's schedule field, and the preview both share.

A choice in the builder comes back as three swaps from one request: the builder itself, the
schedule field holding the string it wrote, and the preview of that string.
"""

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from jobs.api.fields import MAX_JOB_CALENDARS
from jobs.calendars import CalendarSet
from jobs.forms import JobForm
from jobs.models import Calendar, Job
from jobs.previews import schedule_preview as preview_schedule
from jobs.schedule_builder_form import ScheduleBuilderForm
from jobs.schedules import ScheduleError, parse_schedule
from jobs.views.access import role_required

MAX_SCHEDULE = 200
BOUND = forms.DateTimeField(required=False)


class _ScheduleField(forms.Form):
    # The job form's own schedule field, so the swapped-in box keeps its preview wiring.
    schedule = JobForm.base_fields["schedule"]


def preview_calendars(request: HttpRequest) -> tuple[CalendarSet, str]:
    """The calendars (by name) and what happens on them, as the form or the API sends them."""
    names = [name[:100] for name in request.GET.getlist("calendars")[:MAX_JOB_CALENDARS]]
    found = Calendar.objects.filter(name__in=names)
    mode = request.GET.get("on_calendar", "")
    return (
        CalendarSet(tuple(c.rule() for c in found)),
        mode if mode in Job.OnCalendar.values else Job.OnCalendar.SKIP,
    )


def preview_context(request: HttpRequest, text: str) -> dict[str, Any]:
    """What the preview partial shows for `text` with the form's zone, start and end."""
    zone = request.GET.get("timezone", "UTC")[:64].strip() or "UTC"
    calendars, on_calendar = preview_calendars(request)
    preview = preview_schedule(
        text,
        zone,
        count=10,
        start_at=_bound(request, "start_at"),
        end_at=_bound(request, "end_at"),
        language=get_language() or "en",
        calendars=calendars,
        on_calendar=on_calendar,
    )
    viewer = timezone.get_current_timezone()
    runs = []
    if preview.valid:
        job_zone = ZoneInfo(preview.timezone)
        runs = [
            (t.astimezone(job_zone), t.astimezone(viewer), t.astimezone(UTC))
            for t in preview.next_runs
        ]
    suggestion = ""
    if preview.suggestion is not None:
        suggestion = json.dumps({"schedule": preview.suggestion.schedule, "write": "1"})
    return {
        "preview": preview,
        "text": text,
        "runs": runs,
        "same_zone": preview.valid and preview.timezone == timezone.get_current_timezone_name(),
        "suggestion_vals": suggestion,
    }


def _bound(request: HttpRequest, name: str) -> datetime | None:
    # The start and end boxes are in the viewer's zone, as in the job form. A half-typed date
    # only leaves the preview unbounded; the form itself reports it when saved.
    try:
        return BOUND.clean(request.GET.get(name, "")[:32])
    except ValidationError:
        return None


@require_GET
@login_required
@role_required("view")
def schedule_builder(request: HttpRequest) -> HttpResponse:
    """The builder for a choice made in it (`builder-mode` given) or for the typed schedule."""
    text = request.GET.get("schedule", "")[:MAX_SCHEDULE]
    if "builder-mode" in request.GET:
        builder = ScheduleBuilderForm(request.GET)
        written = builder.written()
    else:
        builder = ScheduleBuilderForm.for_schedule(text)
        # "Use this" under a suggestion writes it into the field.
        written = text if request.GET.get("write") and _parses(text) else None
    context: dict[str, Any] = {"builder": builder, "written": written}
    if written is not None:
        context |= preview_context(request, written)
        field = _ScheduleField(initial={"schedule": written})["schedule"]
        context["schedule_input"] = field.as_widget(attrs={"hx-swap-oob": "true"})
    return render(request, "jobs/_schedule_builder.html", context)


def _parses(text: str) -> bool:
    try:
        parse_schedule(text)
    except ScheduleError:
        return False
    return True

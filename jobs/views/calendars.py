"""Calendar pages: the list, creating and changing one (with its next holidays), deleting."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.calendars import holiday_language
from jobs.forms import CalendarForm, timezone_names
from jobs.models import Calendar
from jobs.permissions import can, require
from jobs.services.calendars import calendar_create, calendar_delete, calendar_update
from jobs.views.access import redirect_after_action, role_required

NEXT_HOLIDAYS = 10


def get_calendar(pk: int) -> Calendar:
    return get_object_or_404(Calendar, pk=pk)


def _next_holidays(calendar: Calendar | None) -> list[tuple[Any, str]]:
    if calendar is None:
        return []
    rule = calendar.rule()
    today = timezone.now().astimezone(rule.tz).date()
    return rule.next_holidays(today, NEXT_HOLIDAYS, holiday_language(get_language() or "en"))


def _render_form(
    request: HttpRequest, form: CalendarForm, calendar: Calendar | None
) -> HttpResponse:
    # htmx swaps only the form; an invalid form answers 200 so htmx shows the errors.
    template = "jobs/_calendar_form.html" if request.htmx else "jobs/calendar_form.html"
    action = (
        reverse("jobs:calendar_edit", args=[calendar.pk])
        if calendar
        else reverse("jobs:calendar_create")
    )
    context = {
        "form": form,
        "calendar": calendar,
        "action": action,
        "title": calendar.name if calendar else _("New calendar"),
        "next_holidays": _next_holidays(calendar),
        "timezones": timezone_names(),
        "can_edit": can(request.user, "edit"),
    }
    return render(request, template, context)


def _save(request: HttpRequest, form: CalendarForm, calendar: Calendar | None) -> Calendar | None:
    if not form.is_valid():
        return None
    try:
        if calendar is None:
            return calendar_create(actor=request.user, **form.cleaned_data)
        return calendar_update(actor=request.user, calendar=calendar, **form.cleaned_data)
    except ValidationError as exc:
        form.add_service_errors(exc)
        return None


@require_GET
@login_required
@role_required("view")
def calendar_list(request: HttpRequest) -> HttpResponse:
    calendars = Calendar.objects.annotate(job_count=Count("jobs")).order_by("name")
    context = {"calendars": calendars, "can_edit": can(request.user, "edit")}
    return render(request, "jobs/calendar_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@role_required("view")
def calendar_create_view(request: HttpRequest) -> HttpResponse:
    require(request.user, "edit")
    if request.method == "POST":
        form = CalendarForm(request.POST)
        calendar = _save(request, form, None)
        if calendar is not None:
            messages.success(request, _("Calendar “%(name)s” created.") % {"name": calendar.name})
            return redirect_after_action(request, reverse("jobs:calendar_edit", args=[calendar.pk]))
    else:
        form = CalendarForm()
    return _render_form(request, form, None)


@require_http_methods(["GET", "POST"])
@login_required
@role_required("view")
def calendar_edit(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_calendar(pk)
    if request.method == "POST":
        # Everyone may read a calendar; changing it is refused before the form is read.
        require(request.user, "edit")
        form = CalendarForm(request.POST)
        saved = _save(request, form, calendar)
        if saved is not None:
            messages.success(request, _("Calendar “%(name)s” saved.") % {"name": saved.name})
            return redirect_after_action(request, reverse("jobs:calendar_edit", args=[saved.pk]))
    else:
        form = CalendarForm(initial=CalendarForm.initial_from(calendar))
    return _render_form(request, form, calendar)


@require_POST
@login_required
@role_required("view")
def calendar_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_calendar(pk)
    calendar_delete(actor=request.user, calendar=calendar)
    messages.success(request, _("Calendar “%(name)s” deleted.") % {"name": calendar.name})
    return redirect_after_action(request, reverse("jobs:calendar_list"))

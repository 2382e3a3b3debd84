"""The week ahead: every job's runs over the next seven days, by day and hour."""

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.forms import choice_or_blank, filter_text
from jobs.models import Job
from jobs.views.access import role_required
from jobs.week_ahead import week_ahead


def _cell(request: HttpRequest) -> tuple[int, int] | None:
    try:
        day, hour = int(request.GET.get("day", "")), int(request.GET.get("hour", ""))
    except ValueError:
        return None
    return (day, hour) if 0 <= day <= 7 and 0 <= hour <= 23 else None


def _cell_start(days: list[datetime], cell: tuple[int, int] | None) -> datetime | None:
    if cell is None or cell[0] >= len(days):
        return None
    return days[cell[0]].replace(hour=cell[1])


@require_GET
@login_required
@role_required("view")
def week_ahead_view(request: HttpRequest) -> HttpResponse:
    label = filter_text(request.GET.get("label", ""), 200)
    kind = choice_or_blank(request.GET.get("kind", ""), Job.Kind.choices)
    cell = _cell(request)
    week, in_cell = week_ahead(
        now=timezone.now(), tz=timezone.get_current_timezone(), label=label, kind=kind, cell=cell
    )
    context = {
        "week": week,
        "label": label,
        "kind": kind,
        "kinds": Job.Kind.choices,
        "cell": cell,
        "cell_jobs": in_cell,
        "cell_at": _cell_start(week.days, cell),
        "hours": range(24),
    }
    if request.htmx and cell is not None:
        return render(request, "jobs/_week_cell.html", context)
    template = "jobs/_week_grid.html" if request.htmx else "jobs/week_ahead.html"
    return render(request, template, context)

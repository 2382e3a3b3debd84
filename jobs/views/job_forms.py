"""Creating, changing and cloning jobs, with the live schedule preview beside the form."""

from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from jobs import selectors, services
from jobs.api.fields import MAX_JOB_CALENDARS
from jobs.audit import SECRET_MASK, mask_headers
from jobs.calendars import CalendarSet
from jobs.forms import JobForm, timezone_names
from jobs.models import Calendar, Job, JobLink
from jobs.permissions import require
from jobs.previews import schedule_preview as preview_schedule
from jobs.views.access import get_job, redirect_after_action, role_required


def _render_form(request: HttpRequest, form: JobForm, **context: Any) -> HttpResponse:
    # htmx swaps only the form; an invalid form answers 200 so htmx shows the errors.
    template = "jobs/_job_form.html" if request.htmx else "jobs/job_form.html"
    job = context.get("job")
    chains = _chain_context(form.chain_selection(), "", job.pk if job else None)
    return render(
        request, template, {"form": form, "timezones": timezone_names(), **chains, **context}
    )


def _chain_context(selected: dict[str, set[int]], q: str, exclude: int | None) -> dict[str, Any]:
    found, more = selectors.chain_rows(selected=selected, q=q, exclude=exclude)
    events = [(name, JobLink.Event(event).label) for name, event in services.CHAIN_FIELDS.items()]
    # A box per event and job; the template cannot index the row's events by name.
    rows = [
        {"job": row.job, "boxes": [(name, label, row.events[name]) for name, label in events]}
        for row in found
    ]
    return {"chain_rows": rows, "chain_more": more, "chain_events": events, "chain_q": q}


def _save(request: HttpRequest, form: JobForm, job: Job | None) -> Job | None:
    if not form.is_valid():
        return None
    try:
        if job is None:
            return services.job_create(actor=request.user, **form.service_kwargs())
        return services.job_update(actor=request.user, job=job, **form.service_kwargs())
    except ValidationError as exc:
        form.add_service_errors(exc)
        return None


@require_http_methods(["GET", "POST"])
@login_required
@role_required("view")
def job_create(request: HttpRequest) -> HttpResponse:
    # Refuse before showing a form that could never be saved.
    require(request.user, "edit")
    if request.method == "POST":
        form = JobForm(request.POST, user=request.user)
        job = _save(request, form, None)
        if job is not None:
            messages.success(request, _("Job “%(name)s” created.") % {"name": job.name})
            return redirect_after_action(request, reverse("jobs:job_detail", args=[job.pk]))
    else:
        form = JobForm(user=request.user, initial={"timezone": _viewer_zone()})
    return _render_form(request, form, title=_("New job"), action=reverse("jobs:job_create"))


@require_http_methods(["GET", "POST"])
@login_required
@role_required("view")
def job_edit(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    require(request.user, "edit", kind=job.kind)
    if request.method == "POST":
        form = JobForm(request.POST, user=request.user, job=job)
        saved = _save(request, form, job)
        if saved is not None:
            messages.success(request, _("Saved as version %(v)s.") % {"v": saved.version})
            return redirect_after_action(request, reverse("jobs:job_detail", args=[job.pk]))
    else:
        form = JobForm(user=request.user, job=job, initial=JobForm.initial_from(job))
    title = _("Edit “%(name)s”") % {"name": job.name}
    return _render_form(
        request, form, title=title, job=job, action=reverse("jobs:job_edit", args=[job.pk])
    )


@require_GET
@login_required
@role_required("view")
def job_clone(request: HttpRequest, pk: int) -> HttpResponse:
    """A create form filled in from another job; saving it goes through job_create."""
    source = get_job(pk)
    require(request.user, "edit", kind=source.kind)
    initial = JobForm.initial_from(source)
    initial["name"] = _("Copy of %(name)s") % {"name": source.name}
    if source.kind == Job.Kind.HTTP:
        # A masked secret cannot be copied: the clone is given it again by whoever saves it.
        headers = mask_headers(source.config.get("headers") or {}).items()
        initial["headers"] = "\n".join(f"{k}: {v}" for k, v in headers if v != SECRET_MASK)
    form = JobForm(user=request.user, initial=initial)
    title = _("Clone “%(name)s”") % {"name": source.name}
    return _render_form(request, form, title=title, action=reverse("jobs:job_create"))


@require_GET
@login_required
@role_required("view")
def job_kind_fields(request: HttpRequest) -> HttpResponse:
    """The fields of the chosen kind (and task), swapped in when the choice changes."""
    form = JobForm(
        user=request.user,
        kind=request.GET.get("kind", ""),
        task=request.GET.get("task", ""),
        initial={"task": request.GET.get("task", "")},
    )
    return render(request, "jobs/_kind_fields.html", {"form": form})


@require_GET
@login_required
@role_required("view")
def chain_options(request: HttpRequest) -> HttpResponse:
    """The chain editor's rows for a search, keeping the jobs already ticked."""
    selected = {
        name: {int(v) for v in request.GET.getlist(name) if v.isdigit()}
        for name in services.CHAIN_FIELDS
    }
    job = request.GET.get("job", "")
    q = request.GET.get("chain_q", "").strip()[:200]
    context = _chain_context(selected, q, int(job) if job.isdigit() else None)
    return render(request, "jobs/_chain_options.html", context)


@require_GET
@login_required
@role_required("view")
def schedule_preview(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("schedule", "")[:200]
    zone = request.GET.get("timezone", "UTC")[:64].strip() or "UTC"
    calendars, on_calendar = preview_calendars(request)
    preview = preview_schedule(
        text,
        zone,
        count=10,
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
    context = {
        "preview": preview,
        "text": text,
        "runs": runs,
        "same_zone": preview.valid and preview.timezone == timezone.get_current_timezone_name(),
    }
    return render(request, "jobs/_schedule_preview.html", context)


def preview_calendars(request: HttpRequest) -> tuple[CalendarSet, str]:
    """The calendars (by name) and what happens on them, as the form or the API sends them."""
    names = [name[:100] for name in request.GET.getlist("calendars")[:MAX_JOB_CALENDARS]]
    found = Calendar.objects.filter(name__in=names)
    mode = request.GET.get("on_calendar", "")
    return (
        CalendarSet(tuple(c.rule() for c in found)),
        mode if mode in Job.OnCalendar.values else Job.OnCalendar.SKIP,
    )


def _viewer_zone() -> str:
    return timezone.get_current_timezone_name()

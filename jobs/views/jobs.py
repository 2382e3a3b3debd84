"""The jobs list with its bulk actions, the job page and the actions on one job."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from jobs import live, selectors, services
from jobs.audit import mask_headers
from jobs.forms import (
    PauseForm,
    RunParamsForm,
    add_service_errors,
    choice_or_blank,
    filter_text,
    page_number,
)
from jobs.models import Job, Run
from jobs.permissions import require
from jobs.views.access import get_job, redirect_after_action, role_required
from jobs.views.charts import duration_chart

LAST_RESULT_CHOICES = [(s, label) for s, label in Run.State.choices]
SORT_CHOICES = [
    ("name", gettext_lazy("Name (A–Z)")),
    ("-name", gettext_lazy("Name (Z–A)")),
    ("last_run", gettext_lazy("Last run, newest first")),
    ("updated", gettext_lazy("Recently changed")),
    ("state", gettext_lazy("State")),
    ("kind", gettext_lazy("Kind")),
]
RUNS_CHANGED = "runs-changed"


def _job_filters(request: HttpRequest) -> selectors.JobFilters:
    get = request.GET
    return selectors.JobFilters(
        q=filter_text(get.get("q", ""), 200),
        state=choice_or_blank(get.get("state", ""), Job.State.choices),
        kind=choice_or_blank(get.get("kind", ""), Job.Kind.choices),
        label=filter_text(get.get("label", ""), 200),
        last=choice_or_blank(get.get("last", ""), LAST_RESULT_CHOICES),
        sort=choice_or_blank(get.get("sort", ""), SORT_CHOICES) or "name",
        page=page_number(get.get("page")),
    )


def _list_context(request: HttpRequest) -> dict[str, object]:
    filters = _job_filters(request)
    page, rows = selectors.job_list(filters)
    return {
        "page": page,
        "rows": rows,
        "filters": filters,
        "states": Job.State.choices,
        "kinds": Job.Kind.choices,
        "results": LAST_RESULT_CHOICES,
        "sorts": SORT_CHOICES,
    }


# The jobs list shows every job and their runs.
LIST_TOPICS = ("runs", "jobs")


def _job_events(job: Job) -> str:
    """The htmx trigger of the regions showing one job: its definition, state or runs changed."""
    return f"{live.event_name(live.job_topic(job.pk))} from:body"


@require_GET
@login_required
@role_required("view")
def job_list(request: HttpRequest) -> HttpResponse:
    if request.htmx:
        return render(request, "jobs/_job_table.html", _list_context(request))
    context = {
        **_list_context(request),
        "live_watch": live.watch(*LIST_TOPICS),
        "live_events": ", ".join(f"{live.event_name(t)} from:body" for t in LIST_TOPICS),
    }
    return render(request, "jobs/job_list.html", context)


BULK_ACTIONS = {
    "pause": lambda actor, job: services.job_pause(actor=actor, job=job),
    "resume": lambda actor, job: services.job_resume(actor=actor, job=job),
    "run": lambda actor, job: services.job_run_now(actor=actor, job=job),
}


@require_POST
@login_required
@role_required("operate")
def job_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    ids = [int(i) for i in request.POST.getlist("job") if i.isdigit()]
    if action == "rerun_failed":
        # Writes nothing here: the next page counts the failed slots and asks to confirm.
        query = urlencode({"job": ids}, doseq=True)
        url = reverse("jobs:rerun_failed") + (f"?{query}" if query else "")
        return redirect_after_action(request, url)
    if action not in BULK_ACTIONS or not ids:
        messages.warning(request, _("Choose one or more jobs and an action."))
    else:
        # All or nothing: a refusal on the first job leaves the others untouched too.
        with transaction.atomic():
            jobs = list(Job.objects.filter(pk__in=ids))
            for job in jobs:
                BULK_ACTIONS[action](request.user, job)
        done = {
            "pause": ngettext("%(n)d job paused.", "%(n)d jobs paused.", len(jobs)),
            "resume": ngettext("%(n)d job resumed.", "%(n)d jobs resumed.", len(jobs)),
            "run": ngettext("%(n)d run requested.", "%(n)d runs requested.", len(jobs)),
        }[action]
        messages.success(request, done % {"n": len(jobs)})
    if request.htmx:
        return render(request, "jobs/_job_table.html", _list_context(request))
    query = request.GET.urlencode()
    return HttpResponseRedirect(reverse("jobs:job_list") + (f"?{query}" if query else ""))


def _run_filters(request: HttpRequest) -> selectors.RunFilters:
    return selectors.RunFilters(
        state=choice_or_blank(request.GET.get("state", ""), Run.State.choices),
        trigger=choice_or_blank(request.GET.get("trigger", ""), Run.Trigger.choices),
        page=page_number(request.GET.get("page")),
    )


NEXT_RUNS_SHOWN = 10


def _runs_context(request: HttpRequest, job: Job) -> dict[str, object]:
    filters = _run_filters(request)
    return {
        "job": job,
        "runs": selectors.job_runs(job, filters),
        "run_filters": filters,
        "run_states": Run.State.choices,
        "triggers": Run.Trigger.choices,
        "chart": duration_chart(selectors.recent_durations(job)),
        "live_events": _job_events(job),
        "rerunnable": services.RERUNNABLE_STATES,
    }


def _summary_context(job: Job, pause_form: PauseForm | None = None) -> dict[str, object]:
    paused = job.state == Job.State.PAUSED and job.paused_until is not None
    return {
        "job": job,
        "pause_form": pause_form or PauseForm(),
        # The pause ends by itself: say which run is the first one after it.
        "first_after_pause": next(iter(selectors.job_next_runs(job, 1)), None) if paused else None,
        "live_events": _job_events(job),
    }


def _detail_context(
    request: HttpRequest, job: Job, form: PauseForm | None = None
) -> dict[str, object]:
    headers = (job.config.get("headers") or {}) if job.kind == Job.Kind.HTTP else {}
    return {
        **_summary_context(job, form),
        **_runs_context(request, job),
        **_notifications_context(job),
        "next_runs": selectors.job_next_runs(job, NEXT_RUNS_SHOWN),
        "links": selectors.job_links(job),
        # Read with the next runs already: no query of its own.
        "calendar_names": selectors.job_calendars(job).names,
        # Viewers read everything but secrets: header values that look secret stay masked.
        "masked_headers": mask_headers(headers),
        "queue_unserved": _queue_unserved(job),
    }


def _queue_unserved(job: Job) -> bool:
    from jobs.dispatch.overview import celery_enabled, queue_is_served

    if not job.queue or job.kind == Job.Kind.HTTP or not celery_enabled():
        return False
    return not queue_is_served(job.queue)


@require_GET
@login_required
@role_required("view")
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    context = {
        **_detail_context(request, job),
        "live_watch": live.watch(live.job_topic(job.pk)),
    }
    return render(request, "jobs/job_detail.html", context)


@require_GET
@login_required
@role_required("view")
def job_runs(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    if not request.htmx:
        query = request.GET.urlencode()
        url = reverse("jobs:job_detail", args=[job.pk]) + (f"?{query}" if query else "")
        return HttpResponseRedirect(url)
    return render(request, "jobs/_job_runs.html", _runs_context(request, job))


def _notifications_context(job: Job) -> dict[str, object]:
    return {
        "job": job,
        "notifications": selectors.job_notifications(job),
        "live_events": _job_events(job),
    }


@require_GET
@login_required
@role_required("view")
def job_notifications(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    if not request.htmx:
        return HttpResponseRedirect(reverse("jobs:job_detail", args=[job.pk]) + "#notifications")
    return render(request, "jobs/_job_notifications.html", _notifications_context(job))


@require_GET
@login_required
@role_required("view")
def job_next_runs(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    if not request.htmx:
        return HttpResponseRedirect(reverse("jobs:job_detail", args=[job.pk]))
    context = {
        "job": job,
        "next_runs": selectors.job_next_runs(job, NEXT_RUNS_SHOWN),
        "live_events": _job_events(job),
    }
    return render(request, "jobs/_job_next_runs.html", context)


def _summary_response(
    request: HttpRequest, job: Job, form: PauseForm | None = None
) -> HttpResponse:
    if not request.htmx:
        return HttpResponseRedirect(reverse("jobs:job_detail", args=[job.pk]))
    job.refresh_from_db()
    response = render(request, "jobs/_job_summary.html", _summary_context(job, form))
    return trigger_client_event(response, RUNS_CHANGED)


@require_POST
@login_required
@role_required("operate")
def job_pause(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    form = PauseForm(request.POST)
    if form.is_valid():
        try:
            services.job_pause(
                actor=request.user,
                job=job,
                until=form.cleaned_data["until"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Paused."))
            return _summary_response(request, job)
    if request.htmx:
        return render(request, "jobs/_job_summary.html", _summary_context(job, form))
    return render(request, "jobs/job_detail.html", _detail_context(request, job, form))


@require_POST
@login_required
@role_required("operate")
def job_resume(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    services.job_resume(actor=request.user, job=job)
    messages.success(request, _("Resumed."))
    return _summary_response(request, job)


@require_POST
@login_required
@role_required("operate")
def job_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    run = services.job_run_now(actor=request.user, job=job)
    messages.success(
        request, _("Run #%(id)s requested; it starts within a second.") % {"id": run.pk}
    )
    return _summary_response(request, job)


@require_http_methods(["GET", "POST"])
@login_required
@role_required("edit")
def job_delete(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    if request.method == "POST":
        services.job_delete(actor=request.user, job=job)
        messages.success(request, _("Job “%(name)s” deleted.") % {"name": job.name})
        return redirect_after_action(request, reverse("jobs:job_list"))
    return render(request, "jobs/job_delete.html", {"job": job, "runs_count": job.runs.count()})


@require_http_methods(["GET", "POST"])
@login_required
@role_required("view")
def job_run_params(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Run now…": a task job's parameter form, filled with its values, for one run."""
    job = get_job(pk)
    require(request.user, "operate")
    if job.kind != Job.Kind.TASK:
        raise Http404
    form = RunParamsForm(request.POST if request.method == "POST" else None, job=job)
    if form.is_bound and form.is_valid():
        try:
            run = services.job_run_now(actor=request.user, job=job, params=form.params())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request, _("Run #%(id)s requested; it starts within a second.") % {"id": run.pk}
            )
            return redirect_after_action(request, reverse("jobs:run_detail", args=[run.pk]))
    template = "jobs/_job_run_params.html" if request.htmx else "jobs/job_run_params.html"
    return render(request, template, {"job": job, "form": form})

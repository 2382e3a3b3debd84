"""Job files in the web UI: download an export, upload or paste a file, check its plan, apply."""

from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from jobs import services
from jobs.forms import ImportForm
from jobs.permissions import require
from jobs.services import ImportPlan, JobFileError
from jobs.views.access import redirect_after_action, role_required

CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml"}


@require_GET
@login_required
@role_required("view")
def jobs_export(request: HttpRequest) -> HttpResponse:
    fmt = request.GET.get("format", "yaml")
    fmt = fmt if fmt in CONTENT_TYPES else "yaml"
    ids = [int(i) for i in request.GET.getlist("job") if i.isdigit()]
    # The jobs list submits its whole form here (CSRF token, htmx included): answer with the
    # clean address of the download, which the browser then fetches as a file.
    if request.htmx or set(request.GET) - {"format", "job"}:
        url = reverse("jobs:jobs_export") + "?" + urlencode({"format": fmt, "job": ids}, True)
        if request.htmx:
            return HttpResponseClientRedirect(url)
        return HttpResponseRedirect(url)
    text = services.jobs_export(actor=request.user, fmt=fmt, ids=ids or None)
    response = HttpResponse(text, content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8")
    name = f"cronadmin-jobs-{date.today().isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _render(request: HttpRequest, form: ImportForm, plan: ImportPlan | None = None) -> HttpResponse:
    # One region swaps between the form and the plan; invalid input answers 200 for htmx.
    template = "jobs/_import.html" if request.htmx else "jobs/job_import.html"
    return render(request, template, {"form": form, "plan": plan})


def _plan(request: HttpRequest, form: ImportForm) -> ImportPlan | None:
    if not form.is_valid():
        return None
    try:
        return services.jobs_import_plan(
            actor=request.user,
            text=form.cleaned_data["text"],
            fmt=form.cleaned_data["format"],
            delete_missing=form.cleaned_data["delete_missing"],
        )
    except JobFileError as exc:
        for problem in exc.problems:
            form.add_error(form.source_field, problem.messages[0])
        return None


@require_http_methods(["GET", "POST"])
@login_required
@role_required("view")
def job_import(request: HttpRequest) -> HttpResponse:
    require(request.user, "edit")
    if request.method == "GET":
        return _render(request, ImportForm())
    form = ImportForm(request.POST, request.FILES)
    return _render(request, form, _plan(request, form))


@require_POST
@login_required
@role_required("view")
def job_import_apply(request: HttpRequest) -> HttpResponse:
    require(request.user, "edit")
    form = ImportForm(request.POST)
    if not form.is_valid():
        return _render(request, form)
    try:
        plan = services.jobs_import_apply(
            actor=request.user,
            text=form.cleaned_data["text"],
            fmt=form.cleaned_data["format"],
            delete_missing=form.cleaned_data["delete_missing"],
            fingerprint=form.cleaned_data["fingerprint"] or None,
        )
    except JobFileError as exc:
        for problem in exc.problems:
            form.add_error("text", problem.messages[0])
        return _render(request, form)
    except ValidationError as exc:
        # The jobs changed since the plan: show the plan as it is now, to be confirmed again.
        messages.error(request, " ".join(exc.messages))
        return _render(request, form, _plan(request, form))
    counts = plan.counts
    messages.success(
        request,
        _(
            "Imported: %(create)d created, %(change)d changed, %(unchanged)d unchanged, "
            "%(delete)d deleted."
        )
        % counts,
    )
    return redirect_after_action(request, reverse("jobs:job_list"))

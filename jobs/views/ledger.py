"""Acting on the ledger: run one slot again, re-run the failed runs of a period, and the “why
didn't it run?” page of a job."""

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import services, slot_fates
from jobs.forms import PeriodForm, add_service_errors, choice_or_blank, page_number
from jobs.models import Job
from jobs.views.access import get_job, get_run, redirect_after_action, role_required

SLOTS_PER_PAGE = 50
# Slots that ran as planned, listed under their count when it is opened.
AS_PLANNED_SHOWN = 200


@require_POST
@login_required
@role_required("operate")
def run_slot_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run(pk)
    try:
        rerun = services.run_slot_rerun(actor=request.user, run=run)
    except ValidationError as exc:
        messages.warning(request, " ".join(exc.messages))
        return redirect_after_action(request, reverse("jobs:run_detail", args=[pk]))
    messages.success(
        request,
        _("Run #%(new)s does the work of run #%(run)s again; it starts within a second.")
        % {"new": rerun.pk, "run": run.pk},
    )
    return redirect_after_action(request, reverse("jobs:run_detail", args=[rerun.pk]))


def _as_field(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def _period_form(
    data: QueryDict, default_start: Callable[[datetime], datetime] | None = None
) -> tuple[PeriodForm, datetime | None, datetime | None]:
    """The period form, its empty ends filled with the defaults so the page shows them."""
    form = PeriodForm(data, default_start=default_start)
    if not form.is_valid():
        return form, None, None
    filled = data.copy()
    filled["start"] = _as_field(form.cleaned_data["start"])
    filled["end"] = _as_field(form.cleaned_data["end"])
    # The period used is the one shown (whole minutes), so a confirmation re-runs what it counted.
    shown = PeriodForm(filled)
    if not shown.is_valid():
        return shown, None, None
    return shown, shown.cleaned_data["start"], shown.cleaned_data["end"]


# --- why didn't it run? ----------------------------------------------------------------------


@require_GET
@login_required
@role_required("view")
def job_slots(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    # From the job's creation or its last schedule change: the whole story of this schedule.
    form, start, end = _period_form(request.GET, lambda end: slot_fates.default_start(job, end))
    fate = choice_or_blank(request.GET.get("fate", ""), slot_fates.Fate.choices)
    report = None
    page = None
    as_planned: list[slot_fates.SlotFate] = []
    if start is not None and end is not None:
        try:
            report = slot_fates.job_slot_report(job, start, end)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            # Unfiltered, the slots to look into come first; those that ran well are a count.
            if fate:
                shown = [s for s in report.slots if s.fate == fate]
            else:
                shown, as_planned = report.unusual, report.as_planned
            page = Paginator(shown, SLOTS_PER_PAGE).get_page(page_number(request.GET.get("page")))
    context = {
        "job": job,
        "form": form,
        "report": report,
        "page": page,
        "fate": fate,
        "as_planned": as_planned[:AS_PLANNED_SHOWN],
        "as_planned_count": len(as_planned),
        "summary": [
            (value, label, report.counts[value]) for value, label in slot_fates.Fate.choices
        ]
        if report
        else [],
        "rerunnable": services.RERUNNABLE_STATES,
    }
    template = "jobs/_job_slots.html" if request.htmx else "jobs/job_slots.html"
    return render(request, template, context)


# --- re-run the failed runs of a period ------------------------------------------------------


def _picked_jobs(data: QueryDict) -> list[int]:
    return sorted({int(i) for i in data.getlist("job") if i.isdigit() and len(i) < 19})


def _rerun_context(
    form: PeriodForm, plan: services.RerunPlan | None, job_ids: list[int]
) -> dict[str, Any]:
    return {
        "form": form,
        "plan": plan,
        "job_ids": job_ids,
        "picked": list(Job.objects.filter(pk__in=job_ids).values_list("name", flat=True)),
    }


@require_http_methods(["GET", "POST"])
@login_required
@role_required("operate")
def rerun_failed(request: HttpRequest) -> HttpResponse:
    """GET counts the failed slots of the period (nothing is written); POST re-runs them."""
    data = request.POST if request.method == "POST" else request.GET
    job_ids = _picked_jobs(data)
    form, start, end = _period_form(data)
    plan = None
    if start is not None and end is not None:
        try:
            plan = services.runs_rerun_failed(
                actor=request.user,
                start=start,
                end=end,
                job_ids=job_ids or None,
                dry_run=request.method != "POST",
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            plan = None
    if request.method == "POST" and plan is not None:
        messages.success(
            request,
            ngettext(
                "%(n)d failed run queued to run again.",
                "%(n)d failed runs queued to run again.",
                len(plan.runs),
            )
            % {"n": len(plan.runs)},
        )
        query = urlencode(
            {"start": _as_field(start), "end": _as_field(end), "job": job_ids}, doseq=True
        )
        return redirect_after_action(request, f"{reverse('jobs:rerun_failed')}?{query}")
    template = "jobs/_rerun_failed.html" if request.htmx else "jobs/rerun_failed.html"
    return render(request, template, _rerun_context(form, plan, job_ids))

"""The job page's test request and test notification: sent at once, shown in their region."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from jobs import services
from jobs.views.access import get_job, role_required
from jobs.views.jobs import _detail_context as detail_context


@require_POST
@login_required
@role_required("operate")
def job_test_request(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    try:
        context = {"probe": services.job_test_request(actor=request.user, job=job)}
    except ValidationError as exc:
        context = {"probe_error": " ".join(exc.messages)}
    if request.htmx:
        return render(request, "jobs/_test_request.html", {"job": job, **context})
    return render(request, "jobs/job_detail.html", {**detail_context(request, job), **context})


@require_POST
@login_required
@role_required("operate")
def job_test_notification(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job(pk)
    try:
        context = {"sent": services.job_test_notification(actor=request.user, job=job)}
    except ValidationError as exc:
        context = {"send_error": " ".join(exc.messages)}
    if request.htmx:
        return render(request, "jobs/_test_notification.html", {"job": job, **context})
    return render(request, "jobs/job_detail.html", {**detail_context(request, job), **context})

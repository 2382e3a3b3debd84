"""Celery workers: which are online, what they serve, what they run."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs.dispatch.overview import celery_enabled, celery_workers
from jobs.views.access import role_required


@require_GET
@login_required
@role_required("view")
def worker_list(request: HttpRequest) -> HttpResponse:
    context = {"workers": celery_workers(), "enabled": celery_enabled()}
    return render(request, "jobs/celery_worker_list.html", context)

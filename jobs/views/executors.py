"""Executors: other services that registered their own HTTP jobs, and whether they are alive."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import live
from jobs.models import Executor
from jobs.views.access import role_required


@require_GET
@login_required
@role_required("view")
def executor_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    executors = [(executor, executor.state_at(now)) for executor in Executor.objects.overview()]
    context = {
        "executors": executors,
        # Online or offline follows from the clock too: re-checked every 10 s.
        "live_events": "live-executors from:body, live-jobs from:body, every 10s",
        "live_watch": live.watch("executors", "jobs"),
    }
    return render(request, "jobs/executor_list.html", context)

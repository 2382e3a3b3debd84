"""The dashboard: what runs now, what runs next, what failed, and whether the scheduler lives."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import selectors
from jobs.forms import PeriodForm
from jobs.services.reruns import failed_slots
from jobs.views.access import poll_trigger, role_required

# A dead scheduler must show up even when no run is due: the live region checks at least this often.
STATUS_RECHECK = timedelta(seconds=30)


def _live_context() -> dict[str, object]:
    now = timezone.now()
    running = selectors.active_runs()
    upcoming = selectors.upcoming_runs(now)
    next_at = min([u.at for u in upcoming[:1]] + [now + STATUS_RECHECK])
    return {
        "running": running,
        "upcoming": upcoming,
        "scheduler": selectors.scheduler_status(now),
        "live_trigger": poll_trigger(busy=bool(running), next_at=next_at),
    }


def _rerun_counts() -> dict[str, int]:
    # What "Re-run failed runs" would do with its default period, so the button and the list
    # can say why their numbers differ.
    now = timezone.now()
    todo, already = failed_slots(now - PeriodForm.DEFAULT_SPAN, now)
    return {"rerun_count": len(todo), "rerun_already": already}


@require_GET
@login_required
@role_required("view")
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        **_live_context(),
        "state_counts": selectors.job_state_counts(),
        "failures": selectors.recent_failures(),
        **_rerun_counts(),
        "rate": selectors.success_rate(),
    }
    return render(request, "jobs/dashboard.html", context)


@require_GET
@login_required
@role_required("view")
def dashboard_live(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/_dashboard_live.html", _live_context())

"""The dashboard: what runs now, what runs next, what failed, and whether the scheduler lives."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import live, selectors
from jobs.forms import PeriodForm
from jobs.services.reruns import failed_slots
from jobs.views.access import role_required

# A scheduler that died writes nothing: only the clock shows it, so its status is checked
# this often.
STATUS_RECHECK = "every 30s"
# What the dashboard shows; any change to these redraws the regions that show it.
TOPICS = ("runs", "jobs", "schedulers")
EVENTS = ", ".join(f"{live.event_name(t)} from:body" for t in TOPICS)


def _live_context() -> dict[str, object]:
    now = timezone.now()
    return {
        "running": selectors.active_runs(),
        "upcoming": selectors.upcoming_runs(now),
        "scheduler": selectors.scheduler_status(now),
        "live_trigger": f"{EVENTS}, {STATUS_RECHECK}",
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
        "live_watch": live.watch(*TOPICS),
        "live_events": EVENTS,
    }
    return render(request, "jobs/dashboard.html", context)


@require_GET
@login_required
@role_required("view")
def dashboard_live(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/_dashboard_live.html", _live_context())

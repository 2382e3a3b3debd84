"""One run: its timeline, output tailing live while it runs, and cancelling it.

Running its slot again lives with the other actions on the ledger, in jobs.views.ledger.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jobs import live, selectors, services
from jobs.models import Run
from jobs.views.access import get_run, poll_trigger, role_required


def _live_context(run: Run) -> dict[str, Any]:
    output, dropped = selectors.run_output(run)
    attempts, replacements = selectors.run_attempts(run), selectors.slot_replacements(run)
    newer = selectors.run_newest_after(run)
    # A newer run the page links already (a retry, a run of the same slot) is not named twice.
    if newer is not None and newer.pk in {r.pk for r in [*attempts, *replacements]}:
        newer = None
    return {
        "run": run,
        "output": output,
        "dropped": dropped,
        "attempts": attempts,
        "chained_runs": selectors.run_chained(run),
        "newer_run": newer,
        # Any change to the job or its runs redraws the run; while it runs, its output is read
        # from the spool file every 2 s as well (the output is not in the database yet).
        "live_trigger": ", ".join(
            filter(
                None,
                [
                    f"{live.event_name(live.job_topic(run.job_id))} from:body",
                    poll_trigger(busy=not run.is_final),
                ],
            )
        ),
        "rerunnable": run.state in services.RERUNNABLE_STATES,
        "replacements": replacements,
    }


@require_GET
@login_required
@role_required("view")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run(pk)
    context = {
        **_live_context(run),
        "notifications": selectors.run_notifications(run),
        "live_watch": live.watch(live.job_topic(run.job_id)),
    }
    return render(request, "jobs/run_detail.html", context)


@require_GET
@login_required
@role_required("view")
def run_live(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run(pk)
    if not request.htmx:
        return HttpResponseRedirect(reverse("jobs:run_detail", args=[pk]))
    return render(request, "jobs/_run_live.html", _live_context(run))


def _after_action(request: HttpRequest, pk: int) -> HttpResponse:
    if request.htmx:
        return render(request, "jobs/_run_live.html", _live_context(get_run(pk)))
    return HttpResponseRedirect(reverse("jobs:run_detail", args=[pk]))


@require_POST
@login_required
@role_required("operate")
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_run(pk)
    try:
        services.run_cancel(actor=request.user, run=run)
    except ValidationError as exc:
        messages.warning(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Cancel requested."))
    return _after_action(request, pk)

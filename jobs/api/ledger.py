"""The API's actions on the run ledger: run a slot again, re-run the failed runs of a period, and
the fate of every slot of a job (the twin of the “why didn't it run?” page)."""

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs import services, slot_fates
from jobs.api.endpoint import (
    MAX_ID,
    api_view,
    isoformat,
    parse_instant,
    query_choice,
    query_instant,
    query_int,
    read_json,
)
from jobs.api.errors import bad_request, from_validation_error, invalid
from jobs.api.idempotency import idempotent
from jobs.api.serializers import run_json, run_summary
from jobs.api.views import MAX_PAGE_SIZE, PAGE_SIZE, job_or_404, run_or_404
from jobs.models import Run

DEFAULT_SPAN = timedelta(hours=24)
RERUN_FIELDS = ("from", "to", "jobs", "dry_run")
MAX_JOBS = 1000


@api_view("POST", role="operate")
def run_slot_rerun(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_or_404(run_id)
    data = read_json(request, required=False)
    if data:
        raise invalid({name: _("Unknown field.") for name in data})

    def rerun() -> JsonResponse:
        try:
            made = services.run_slot_rerun(actor=request.user, run=run, trigger=Run.Trigger.API)
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        return JsonResponse(run_json(run_or_404(made.pk), detail=True), status=202)

    return idempotent(request, request.path, rerun)


def _instant(data: dict[str, Any], name: str, errors: dict[str, str]) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return parse_instant(value)
    except ValueError:
        errors[name] = _(
            "Expected an ISO-8601 date-time with an offset, between the years 1900 and 8999, "
            "e.g. %(example)s."
        ) % {"example": "2030-01-31T09:00:00+01:00"}
        return None


def _rerun_input(data: dict[str, Any]) -> dict[str, Any]:
    errors = {name: _("Unknown field.") for name in data if name not in RERUN_FIELDS}
    end = _instant(data, "to", errors)
    start = _instant(data, "from", errors)
    jobs = data.get("jobs")
    if jobs is not None and not (
        isinstance(jobs, list)
        and 1 <= len(jobs) <= MAX_JOBS
        and all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ID for i in jobs)
    ):
        errors["jobs"] = _("Expected a list of 1 to %(n)d job ids, or null for every job.") % {
            "n": MAX_JOBS
        }
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        errors["dry_run"] = _("Expected true or false.")
    if errors:
        raise invalid(errors)
    end = end or timezone.now()
    return {
        "start": start or end - DEFAULT_SPAN,
        "end": end,
        "job_ids": sorted(set(jobs)) if jobs is not None else None,
        "dry_run": dry_run,
    }


@api_view("POST", role="operate")
def runs_rerun_failed(request: HttpRequest) -> HttpResponse:
    values = _rerun_input(read_json(request, required=False))

    def rerun() -> JsonResponse:
        try:
            plan = services.runs_rerun_failed(actor=request.user, trigger=Run.Trigger.API, **values)
        except ValidationError as exc:
            raise from_validation_error(exc, {"start": "from", "end": "to"}) from None
        body = {
            "from": isoformat(plan.start),
            "to": isoformat(plan.end),
            "dry_run": values["dry_run"],
            "count": plan.count,
            "already_rerun": plan.already_rerun,
            "jobs": [
                {"job": job_id, "job_name": name, "count": n} for job_id, name, n in plan.by_job
            ],
            "runs": plan.runs,
        }
        return JsonResponse(body, status=200 if values["dry_run"] else 202)

    return idempotent(request, request.path, rerun)


@api_view("GET")
def job_slots(request: HttpRequest, job_id: int) -> HttpResponse:
    job = job_or_404(job_id)
    end = query_instant(request, "to") or timezone.now()
    start = query_instant(request, "from") or end - DEFAULT_SPAN
    fate = query_choice(request, "fate", list(slot_fates.Fate.values))
    page = query_int(request, "page", 1, 1, 1_000_000)
    size = query_int(request, "page_size", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    try:
        report = slot_fates.job_slot_report(job, start, end)
    except ValidationError as exc:
        raise bad_request(" ".join(exc.messages)) from None
    slots = [s for s in report.slots if not fate or s.fate == fate]
    first = (page - 1) * size
    following = None
    if first + size < len(slots):
        query = request.GET.copy()
        query["page"] = str(page + 1)
        following = request.build_absolute_uri(f"{request.path}?{urlencode(query, doseq=True)}")
    return JsonResponse(
        {
            "job": job.pk,
            "timezone": job.timezone,
            "from": isoformat(start),
            "to": isoformat(end),
            "summary": report.counts,
            "results": [_slot_json(slot) for slot in slots[first : first + size]],
            "count": len(slots),
            "next": following,
            "other_runs": [run_summary(run) for run in report.other_runs],
        }
    )


def _slot_json(slot: slot_fates.SlotFate) -> dict[str, Any]:
    newest = slot.newest
    return {
        "slot": isoformat(slot.at),
        "fate": slot.fate,
        "run": slot.run.pk if slot.run else None,
        "cause": slot.run.cause if slot.run else "",
        "state": newest.state if newest else None,
        "reason": newest.reason if newest else "",
        "reason_code": newest.reason_code if newest else "",
        "reason_params": newest.reason_params if newest else {},
        "later_runs": [run_summary(run) for run in slot.later],
        "note": slot.note,
    }
